"""Run in a venv built from requirements/runtime.lock alone (``make check-runtime``).

Imports every module of the product packages, then renders one warning bulletin with its CAP
message into a temporary directory and checks the files: a library the product imports but
that is declared only in the dev extra (``lxml`` once was) fails here, not in production.
Exit status 0 when everything passed; otherwise one line per failure and status 1.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("airwarn.core", "airwarn.configs", "airwarn.features", "airwarn.models",
            "airwarn.alerts", "airwarn.products", "airwarn.flows")
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def import_everything() -> tuple[int, list[str]]:
    """Import each module of :data:`PACKAGES`; return (count, failures)."""
    failures: list[str] = []
    count = 0
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        count += 1
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
            try:
                importlib.import_module(info.name)
                count += 1
            except Exception as exc:  # noqa: BLE001 - report every failing module
                failures.append(f"import {info.name}: {type(exc).__name__}: {exc}")
    return count, failures


def render_one_bulletin(out: Path) -> list[str]:
    """Render a bulletin (HTML, PDF, Markdown, JSON, CAP) of a designed orange warning."""
    from airwarn.products.bulletin import render_bulletins
    from lxml import etree

    from airwarn import configs

    sys.path.insert(0, str(ROOT / "tests" / "products"))
    from products_fixtures import make_decision  # runtime libraries only (numpy/pandas/xarray)

    paths = render_bulletins(make_decision(), configs.load_config(), out, source="synthetic demo")
    failures = [f"{key}: {p} missing or empty" for key, p in paths.items()
                if not p.is_file() or p.stat().st_size == 0]
    expected = {"zh.html", "zh.pdf", "zh.md", "en.html", "en.pdf", "en.md", "json", "cap.xml"}
    if set(paths) != expected:
        failures.append(f"products {sorted(paths)}, expected {sorted(expected)}")
    if paths.get("zh.pdf") and paths["zh.pdf"].read_bytes()[:5] != b"%PDF-":
        failures.append(f"{paths['zh.pdf']}: not a PDF")
    cap = etree.parse(str(paths["cap.xml"])).getroot()
    if cap.tag != f"{{{CAP_NS}}}alert":
        failures.append(f"{paths['cap.xml']}: root {cap.tag}, expected a CAP 1.2 alert")
    if not cap.findall(f"{{{CAP_NS}}}info"):
        failures.append(f"{paths['cap.xml']}: no <info> block")
    return failures


def main() -> int:
    count, failures = import_everything()
    print(f"imported {count} modules of {', '.join(PACKAGES)}")
    with tempfile.TemporaryDirectory(prefix="airwarn-check-runtime-") as tmp:
        try:
            failures += render_one_bulletin(Path(tmp))
        except Exception:  # noqa: BLE001 - print the whole failure, then fail
            failures.append("render bulletin:\n" + traceback.format_exc())
        else:
            print("rendered one bulletin (zh/en HTML, PDF, Markdown, JSON) and its CAP message")
    for line in failures:
        print("FAIL", line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
