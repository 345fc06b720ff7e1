"""The IOOS compliance-checker (dev extra) as a test helper: CF checks of written files."""

from __future__ import annotations

from pathlib import Path

__all__ = ["cf_check"]


def cf_check(path: str | Path, *, version: str = "1.8") -> dict[str, list[str]]:
    """Check a file with the IOOS ``compliance-checker`` (dev extra), CF ``version``.

    Returns
    -------
    dict
        ``{"high": [...], "medium": [...], "low": [...], "exceptions": [...]}``: the messages of
        the failed checks by priority (``high`` = the checker's errors, ``medium`` its
        warnings), and the checks that raised inside the checker. All empty = clean.

    Raises
    ------
    ImportError
        ``compliance-checker`` is not installed (``pip install -e '.[dev]'``).
    """
    from compliance_checker.runner import CheckSuite

    suite = CheckSuite()
    suite.load_all_available_checkers()
    ds = suite.load_dataset(str(path))
    try:
        groups, errors = suite.run_all(ds, [f"cf:{version}"], skip_checks=[])[f"cf:{version}"]
    finally:
        ds.close()
    out: dict[str, list[str]] = {"high": [], "medium": [], "low": [], "exceptions": []}
    level = {3: "high", 2: "medium", 1: "low"}
    for r in groups:
        v = r.value
        failed = (v[0] < v[1]) if isinstance(v, tuple) else (v is False)
        if failed:
            out[level.get(int(r.weight), "low")] += [f"{r.name}: {m}" for m in r.msgs] or [r.name]
    out["exceptions"] = [f"{name}: {exc[0]}" for name, exc in errors.items()]
    return out
