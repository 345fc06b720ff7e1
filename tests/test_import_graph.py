"""The import graph, read from the source (AST, nothing imported), keeps its directions.

Rules (issue 17): nothing imports ``flows``; the ground floor ``airwarn.core`` imports none of the
six packages; ``features`` imports neither ``models`` nor ``alerts``; ``alerts`` does not import
``models``; no import cycle between files. Every import counts — module level, inside functions
(lazy) and under ``TYPE_CHECKING`` — because a lazy import is still a dependency.

Known violations that a later phase removes are listed in :data:`ALLOWED` with the reason; the
list may only shrink (a test fails when an entry is no longer needed, so it is removed at once).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("airwarn", "configs", "features", "models", "alerts", "products", "flows")
SIX = ("configs", "features", "models", "alerts", "products", "flows")

#: (importer module, imported module) pairs tolerated for now — each with why; must shrink.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(p)] = p
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` is or lies in (``a.b.c`` → ``a.b`` if a module)."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in modules:
            return cand
        parts.pop()
    return None


def _imports(path: Path, modname: str, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pkg = modname if path.name == "__init__.py" else modname.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")
                up = up[:len(up) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            # "from products import geo" imports the module products.geo
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for n in names:
            # the six packages install as airwarn.<package> (pyproject package-dir)
            head, _, rest = n.partition(".")
            if head == "airwarn" and rest.split(".")[0] in SIX:
                n = rest
            r = _resolve(n, modules)
            if r is not None and r != modname:
                found.add(r)
    # "from a.b import c" adds both a.b.c (if a module) and a.b; keep the most specific
    return {m for m in found if not any(o.startswith(m + ".") and o in found and
                                        m in modules and modules[m].name == "__init__.py"
                                        for o in found)}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(p, m, modules) for m, p in modules.items()}


GRAPH = _graph()


def _top(m: str) -> str:
    return "airwarn.core" if m.startswith("airwarn.core") else m.split(".")[0]


def _violations(rule) -> list[tuple[str, str]]:
    return sorted((a, b) for a, deps in GRAPH.items() for b in deps if rule(a, b))


def _check(rule, what: str) -> None:
    bad = [v for v in _violations(rule) if v not in ALLOWED]
    assert not bad, f"{what}: " + ", ".join(f"{a} → {b}" for a, b in bad)


def test_graph_was_read() -> None:
    # module names are the folders' (features.build); airwarn.<package> imports map onto them
    assert "features.build" in GRAPH and "airwarn.core.daily" in GRAPH["features.build"]
    assert "alerts.aqi" in GRAPH["alerts.daily"]


def test_nothing_imports_flows() -> None:
    _check(lambda a, b: _top(b) == "flows" and _top(a) != "flows", "imports of flows")


def test_ground_floor_imports_no_package() -> None:
    _check(lambda a, b: _top(a) == "airwarn.core" and _top(b) in SIX,
           "airwarn.core imports a package")


def test_features_imports_neither_models_nor_alerts() -> None:
    _check(lambda a, b: _top(a) == "features" and _top(b) in ("models", "alerts"),
           "features imports models/alerts")


def test_alerts_does_not_import_models() -> None:
    _check(lambda a, b: _top(a) == "alerts" and _top(b) == "models", "alerts imports models")


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_file_import_cycles() -> None:
    cycles = [c for c in _cycles()
              if not all((a, b) in ALLOWED for a in c for b in GRAPH[a] if b in c)]
    assert not cycles, "import cycles between files: " + "; ".join(" ⇄ ".join(c) for c in cycles)


@pytest.mark.parametrize("pair", sorted(ALLOWED))
def test_allowed_entries_are_still_needed(pair: tuple[str, str]) -> None:
    a, b = pair
    assert b in GRAPH.get(a, set()), (f"{a} no longer imports {b}: remove the entry from ALLOWED "
                                      f"(the list only shrinks)")
