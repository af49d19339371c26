"""A small cache of computed artifacts (models, adversarial sets, curves), keyed by the parameters
that produced them: nothing is recomputed while its key is unchanged, and every write is atomic."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import torch

from .errors import AdvlabError
from .io import atomic_path, write_json

ROOT = Path(os.environ.get("ADVLAB_ARTIFACTS", "artifacts"))


def key(kind: str, params: dict) -> str:
    """``kind-<12 hex>``: a stable name for the artifact made from ``params`` (JSON-serialisable)."""
    blob = json.dumps(params, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def path(name: str, suffix: str, root: Path | None = None) -> Path:
    return Path(root or ROOT) / f"{name}{suffix}"


def cached_tensors(name: str, params: dict, build: Callable[[], dict], force: bool = False,
                   root: Path | None = None) -> dict:
    """Load the dict of tensors saved under ``name``, or build, save (atomically) and return it."""
    p = path(name, ".pt", root)
    if p.exists() and not force:
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            print(f"advlab: cached {p} is unreadable ({type(exc).__name__}); rebuilding it")
    value = build()
    with atomic_path(p) as tmp:
        torch.save(value, tmp)
    write_json(path(name, ".json", root), params)
    return value


def cached_json(name: str, params: dict, build: Callable[[], object], force: bool = False,
                root: Path | None = None):
    """Like ``cached_tensors`` for small JSON results (curves, numbers)."""
    p = path(name, ".json", root)
    if not force:
        value = load_json(name, params, root)
        if value is not None:
            return value
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
        if blob.get("params") == json.loads(json.dumps(params, default=str)):
            return blob["value"]
    except (json.JSONDecodeError, AttributeError, KeyError):
        print(f"advlab: cached {p} is unreadable; rebuilding it")
    return None


def require(p: Path, what: str) -> Path:
    if not p.exists():
        raise AdvlabError(f"{what} ({p}) is missing: run the notebook that builds it, or `python run_all.py`.")
    return p
