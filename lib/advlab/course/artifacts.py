"""A small cache of computed artifacts (models, adversarial sets, curves), keyed by the parameters
that produced them: nothing is recomputed while its key is unchanged, and every write is atomic.
The cache heals itself: an entry that cannot be read is moved aside (``<name>.corrupt``) with a
one-line warning, and rebuilt."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from advlab.core.errors import AdvlabError
from advlab.core.io import atomic_path, quarantine, write_json

ROOT = Path(os.environ.get("ADVLAB_ARTIFACTS", "artifacts"))


def key(kind: str, params: dict) -> str:
    """``kind-<12 hex>``: a stable name for the artifact made from ``params`` (JSON-serialisable)."""
    blob = json.dumps(params, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def path(name: str, suffix: str, root: Path | None = None) -> Path:
    return Path(root or ROOT) / f"{name}{suffix}"


def cached_tensors(
    name: str,
    params: dict,
    build: Callable[[], dict],
    force: bool = False,
    root: Path | None = None,
    check: Callable[[object], bool] | None = None,
) -> dict:
    """Load the dict of tensors saved under ``name``, or build, save (atomically) and return it.
    A file that does not load (or fails ``check``) is moved aside and rebuilt."""
    p = path(name, ".pt", root)
    if p.exists() and not force:
        try:
            value = torch.load(p, map_location="cpu", weights_only=True)
            if check is None or check(value):
                return value
            quarantine(p, "unexpected content")
        except Exception as exc:
            quarantine(p, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")
    value = build()
    with atomic_path(p) as tmp:
        torch.save(value, tmp)
    write_json(path(name, ".json", root), params)
    return value


def cached_json(name: str, params: dict, build: Callable[[], object], force: bool = False, root: Path | None = None):
    """Like ``cached_tensors`` for small JSON results (curves, numbers). An entry saved for other
    parameters is rebuilt; one that cannot be read is moved aside first."""
    p = path(name, ".json", root)
    if p.exists() and not force:
        try:
            blob = json.loads(p.read_text())
            if not isinstance(blob, dict) or "params" not in blob or "value" not in blob:
                raise ValueError("not a cached result")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            quarantine(p, f"{type(exc).__name__}: {str(exc)[:120]}")
        else:
            if blob["params"] == json.loads(json.dumps(params, default=str)):
                return blob["value"]
    value = build()
    write_json(p, {"params": params, "value": value})
    return value


def load_json(name: str, params: dict, root: Path | None = None):
    """The value ``cached_json`` saved under ``name`` for these ``params``, or None (computes nothing)."""
    p = path(name, ".json", root)
    if not p.exists():
        return None
    try:
        blob = json.loads(p.read_text())
        if isinstance(blob, dict) and blob.get("params") == json.loads(json.dumps(params, default=str)):
            return blob.get("value")
    except (OSError, ValueError):  # unreadable: cached_json moves it aside when it rebuilds
        pass
    return None


def require(p: Path, what: str) -> Path:
    if not p.exists():
        raise AdvlabError(f"{what} ({p}) is missing: run the notebook that builds it, or `python run_all.py`.")
    return p
