"""One import name: the six package folders install as ``airwarn.<package>`` (pyproject
``package-dir``), every package folder is listed, and no module imports the old bare names."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIX = ("configs", "features", "models", "alerts", "products", "flows")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_installed_under_airwarn():
    st = _setuptools()
    assert st["package-dir"] == {"airwarn": "airwarn", **{f"airwarn.{p}": p for p in SIX}}
    found = {".".join(d.parent.relative_to(ROOT).parts) for d in (ROOT / "airwarn").rglob("__init__.py")}
    for top in SIX:
        found |= {"airwarn." + ".".join(d.parent.relative_to(ROOT).parts)
                  for d in (ROOT / top).rglob("__init__.py")}
    assert set(st["packages"]) == found


def test_no_module_imports_a_bare_package_name():
    bad = []
    for top in (*SIX, "airwarn", "tests", "bench", "scripts"):
        for path in sorted((ROOT / top).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and not node.level
                         and node.module else [])
                bad += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                        if n.split(".")[0] in SIX]
    assert not bad, "import airwarn.<package>, not the bare name: " + "; ".join(bad[:10])


def test_the_console_script_is_in_the_package():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["scripts"]["airwarn"] == "airwarn.flows.cli:main"
