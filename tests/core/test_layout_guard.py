"""Only the run store builds the data layout (issue 17).

Reads the source (AST, nothing imported) of the packages, ``bench/`` and ``scripts/`` and fails
when a module joins a data-directory folder or file by hand — ``data_dir / "forecasts"``,
``ddir / "models" / ...``, ``f"met/cycles/{t:%Y%m%d%H}.nc"``, ``os.path.join(d, "warnings")``,
``d / "register.sqlite"`` — instead of asking :class:`airwarn.core.runstore.RunStore`.
Like ``tests/test_import_graph.py``: modules still pending conversion are listed in
:data:`PENDING` with the reason; the list only shrinks (a test fails once an entry is clean).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("airwarn", "configs", "features", "models", "alerts", "products", "flows", "bench",
           "scripts")

#: top-level folders of a data directory (RunStore's layout)
LAYOUT_DIRS = frozenset({"obs", "met", "demo", "models", "forecasts", "warnings", "products",
                         "reports", "backtests", "locks", "inbox", "acquire", "prefect",
                         "response"})
#: file names that only the layout gives meaning to
LAYOUT_FILES = frozenset({"register.sqlite", "manifest.json", "world.json", "unit_truth.parquet",
                          "defects.csv", "demo_trained.json"})
LAYOUT = LAYOUT_DIRS | LAYOUT_FILES
#: a literal layout file path ("models/*/*/card.json") or an f-string's head ("met/cycles/")
_DIRS = "|".join(sorted(LAYOUT_DIRS))
_FILE = re.compile(rf"^({_DIRS})/\S*\.\w+$")
_HEAD = re.compile(rf"^({_DIRS})/\S*$")

#: the one module that owns the layout
OWNER = "airwarn/core/runstore.py"
#: modules not converted yet — each with why; must shrink.
PENDING: dict[str, str] = {}


def _leading_text(node: ast.expr) -> str | None:
    """The literal text a string expression starts with (a constant or an f-string's head)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value
    return None


def _is_layout_part(node: ast.expr) -> bool:
    text = _leading_text(node)
    if text is None:
        return False
    return text.split("/")[0] in LAYOUT and (text in LAYOUT or "/" in text
                                              or isinstance(node, ast.Constant))


def _not_data_dir(node: ast.expr) -> bool:
    """``ROOT / "tests" / "products"`` (the repository's tests) and ``config_dir() / "response"``
    (the configuration folder) share folder names with the layout but are no data directory."""
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        if _leading_text(node.right) == "tests":
            return True
        node = node.left
    if isinstance(node, ast.Call):
        node = node.func
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name.lower() == "config_dir"


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(n, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def hand_built_paths(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """``(line, code)`` of every hand-built data-layout path in ``source``."""
    tree = ast.parse(source, filename=filename)
    docs = _docstrings(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        hit = False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            hit = _is_layout_part(node.right) and not _not_data_dir(node.left)
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name == "join" and isinstance(f, ast.Attribute) \
                    and ast.unparse(f.value) in ("os.path", "posixpath"):
                hit = any(_is_layout_part(a) for a in node.args[1:])
            elif name in ("joinpath", "Path", "PurePath", "glob", "rglob"):
                hit = any(_is_layout_part(a) for a in node.args) and not (
                    isinstance(f, ast.Attribute) and _not_data_dir(f.value))
        elif isinstance(node, ast.Constant) and id(node) not in docs:
            hit = isinstance(node.value, str) and bool(_FILE.match(node.value))
        elif isinstance(node, ast.JoinedStr):
            text = _leading_text(node)
            hit = text is not None and bool(_HEAD.match(text))
        if hit:
            found.append((node.lineno, ast.unparse(node)))
    # an f-string's head is also a Constant node: keep one hit per line and code
    return sorted(set(found))


def _files() -> list[Path]:
    return [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py"))]


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


SCAN = {_rel(p): hand_built_paths(p.read_text(encoding="utf-8"), str(p)) for p in _files()}


def test_scan_saw_the_packages() -> None:
    assert "models/forecast.py" in SCAN and "features/store.py" in SCAN and OWNER in SCAN
    assert SCAN[OWNER], "the run store itself builds the layout: the guard should see it"


def test_only_the_run_store_builds_the_layout() -> None:
    bad = [f"{f}:{line}: {code}" for f, hits in SCAN.items() if f != OWNER and f not in PENDING
           for line, code in hits]
    assert not bad, ("data-directory paths built by hand — ask airwarn.core.runstore.RunStore "
                     "(add a method there if it lacks one):\n" + "\n".join(bad))


@pytest.mark.parametrize("module", sorted(PENDING))
def test_pending_entries_are_still_needed(module: str) -> None:
    assert SCAN.get(module), f"{module} no longer builds layout paths: remove it from PENDING"


@pytest.mark.parametrize("code", [
    'p = data_dir / "forecasts" / f"{stamp}.nc"',
    'p = Path(d) / "met" / "cycles"',
    'p = cfg.data_dir / "register.sqlite"',
    'rel = f"met/analysis/{m}.nc"',
    'p = os.path.join(ddir, "warnings")',
    'p = ddir.joinpath("products", stamp)',
    'p = out_dir / "manifest.json"',
    'cards = Path(d).glob("models/*/*/card.json")',
    'files.append("demo/defects.csv")',
])
def test_guard_catches_hand_built_paths(code: str) -> None:
    assert hand_built_paths(code), code


@pytest.mark.parametrize("code", [
    'p = RunStore(d).forecast(t)',
    'p = ROOT / "tests" / "products"',
    'p = config_dir() / "models.yaml"',
    'def f():\n    """Writes ``met/cycles/YYYYMMDDHH.nc``."""',
    'x = {"met": "none", "products": []}',
    'msg = f"no forecast for {unit}/forecasts"',
    'p = config_dir() / "response" / "emergency_list.yaml"',
    'names = ["response/emergency_list", "models"]',
    'note = "models/verify/hindcast.py module docstring"',
])
def test_guard_leaves_other_code_alone(code: str) -> None:
    assert not hand_built_paths(code), code
