"""Stage plumbing shared by the flows: lazy look-up of package functions, stage records, manifests.

The flows only orchestrate: every stage calls a function of a package (``features``, ``models``,
``alerts``, ``products``) by the name fixed in ``docs/INTERFACES.md``. Those names are looked up
lazily with :func:`lookup`, so a stage whose package function does not exist (yet) is reported as
``"not available"`` in the run manifest instead of failing the whole run or faking a result.

A run's manifest (``products/<stamp>/manifest.json``) lists every stage with its status, outputs
(relative to the data directory, with SHA-256), the hash of its inputs and what was degraded. A
rerun of the same issue time reuses a stage whose input hash is unchanged and whose outputs are all
still there with the recorded SHA-256 (:func:`reusable`), so reruns are idempotent and a crashed
run is completed by the next one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airwarn.features.atomic import write_text_atomic

from airwarn.core.atomic import sha256_file

__all__ = [
    "NOT_AVAILABLE",
    "StageUnavailable",
    "StageRecord",
    "lookup",
    "available",
    "sha256_file",
    "hash_inputs",
    "reusable",
    "read_manifest",
    "write_manifest",
    "timed",
    "run_stage",
]

#: Status of a stage whose package function is not importable.
NOT_AVAILABLE = "not available"


class StageUnavailable(RuntimeError):
    """A package function a stage needs cannot be imported (message names it and why)."""


def lookup(dotted: str) -> Callable[..., Any] | type:
    """Import ``"package.module:attr"`` and return the attribute.

    Parameters
    ----------
    dotted : str
        ``module:attribute`` (e.g. ``"airwarn.models.forecast:run_forecast"``).

    Raises
    ------
    StageUnavailable
        The module or the attribute does not exist; the message names both. An error raised
        *inside* an existing module while importing it is not masked (it propagates).
    """
    module_name, _, attr = dotted.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise StageUnavailable(f"{dotted}: module {module_name} does not exist yet") from None
        raise
    try:
        return getattr(module, attr)
    except AttributeError:
        raise StageUnavailable(f"{dotted}: {module_name} has no {attr!r} yet") from None


def available(dotted: str) -> bool:
    """True when :func:`lookup` would find ``dotted``."""
    try:
        lookup(dotted)
    except StageUnavailable:
        return False
    return True


@dataclass
class StageRecord:
    """What one stage of a run did.

    Attributes
    ----------
    name : str
        Stage name (``ingest``, ``qc``, ``forecast``, ``warnings``, ``maps`` …).
    status : str
        ``ok``, ``reused`` (outputs of an earlier run with the same inputs), ``degraded``
        (done with reduced inputs), ``not available`` (package function missing), ``skipped``
        (not asked for), ``failed``.
    detail : str
        One line for the operator (what was done, what was missing).
    outputs : list of str
        Files written, relative to the data directory.
    sha256 : dict
        SHA-256 of each output (path → hex digest).
    input_hash : str or None
        Hash of the stage's inputs (reuse key).
    seconds : float
        Wall time, s.
    """

    name: str
    status: str = "ok"
    detail: str = ""
    outputs: list[str] = field(default_factory=list)
    sha256: dict[str, str] = field(default_factory=dict)
    input_hash: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    def set_outputs(self, data_dir: Path, paths: Iterable[Path | str]) -> None:
        """Record output files (absolute or data-dir relative) with their SHA-256."""
        data_dir = Path(data_dir).resolve()
        for p in paths:
            p = Path(p)
            full = p if p.is_absolute() else data_dir / p
            try:
                rel = str(full.resolve().relative_to(data_dir))
            except ValueError:
                rel = str(full.resolve())
            if rel not in self.outputs:
                self.outputs.append(rel)
            if full.is_file():
                self.sha256[rel] = sha256_file(full)


def hash_inputs(*parts: Any) -> str:
    """Stable SHA-256 (first 16 hex digits) of JSON-able parts (``default=str`` for the rest)."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def reusable(previous: dict[str, Any] | None, input_hash: str, data_dir: Path) -> bool:
    """True when an earlier record of a stage can stand for this run.

    Parameters
    ----------
    previous : dict or None
        The stage's record in the previous manifest of this issue time.
    input_hash : str
        This run's input hash for the stage.
    data_dir : Path
        The data directory the outputs are relative to.
    """
    if not previous or previous.get("status") not in ("ok", "reused", "degraded"):
        return False
    if previous.get("input_hash") != input_hash:
        return False
    digests = previous.get("sha256") or {}
    for rel in previous.get("outputs") or []:
        full = Path(rel) if Path(rel).is_absolute() else Path(data_dir) / rel
        if not full.exists():
            return False
        want = digests.get(rel)
        if want is not None and full.is_file() and sha256_file(full) != want:
            return False
    return True


def read_manifest(path: Path) -> dict[str, Any] | None:
    """Read a run manifest (None when absent or unreadable — a crashed run never wrote one)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    """Write a run manifest atomically (UTF-8 JSON, keys sorted, Chinese kept readable)."""
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    return write_text_atomic(path, text + "\n")


@contextmanager
def timed(record: StageRecord) -> Iterator[StageRecord]:
    """Time a stage: sets ``record.seconds`` (s) on exit, even on an exception."""
    t0 = time.perf_counter()
    try:
        yield record
    finally:
        record.seconds = round(time.perf_counter() - t0, 3)


def run_stage(record: StageRecord, previous: dict[str, Any] | None, data_dir: Path,
              compute: Callable[[StageRecord], Any], *,
              inputs: Callable[[], str] | None = None,
              reuse: Callable[[StageRecord, dict[str, Any]], bool | None] | None = None,
              then: Callable[[StageRecord], Any] | None = None) -> StageRecord:
    """The skeleton every stage shares: hash inputs → reusable? → timed call → record.

    Parameters
    ----------
    record : StageRecord
        The stage's fresh record (filled in place and returned).
    previous : dict or None
        The stage's record in the previous manifest of this issue time.
    data_dir : Path
        The data directory the outputs are relative to.
    compute : callable
        ``compute(record)`` does the stage's work and records its outputs, detail and status.
    inputs : callable, optional
        ``inputs() -> str``: the hash of the stage's inputs (:func:`hash_inputs`); without it
        the stage is never reused.
    reuse : callable, optional
        ``reuse(record, previous)`` restores what later stages need from the earlier outputs; it
        returns False when they cannot stand for this run after all (the stage is then computed).
        The record then takes the earlier outputs and SHA-256 and the status ``reused``.
    then : callable, optional
        ``then(record)``: what follows either path (naming degraded inputs, the detail line).

    Returns
    -------
    StageRecord
        Timed (``seconds``, s), also when a call raises (the exception propagates).
    """
    with timed(record):
        if inputs is not None:
            record.input_hash = inputs()
        if record.input_hash is not None and previous is not None \
                and reusable(previous, record.input_hash, data_dir) \
                and (reuse is None or reuse(record, previous) is not False):
            record.status = "reused"
            for rel in previous.get("outputs") or []:
                if rel not in record.outputs:
                    record.outputs.append(rel)
            record.sha256.update(previous.get("sha256") or {})
        else:
            compute(record)
        if then is not None:
            then(record)
    return record
