"""Model checkpoints: atomic writes, safe loading (weights_only), clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.core.io import atomic_path, quarantine
from advlab.core.models import BaselineCNN

FORMAT = "advlab-checkpoint-1"


def save_model(model: nn.Module, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Save ``model``'s weights with its architecture and ``meta`` (plain JSON-like values)."""
    path = Path(path)
    blob = {
        "format": FORMAT,
        "arch": {"class": type(model).__name__, "width": getattr(model, "width", 1)},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta or {},
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise AdvlabError(f"checkpoint {path} does not exist: train the model first (or run its notebook).")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise AdvlabError(
            f"checkpoint {path} is corrupt or not an advlab checkpoint ({type(exc).__name__}: {exc}); "
            f"delete it and rerun to rebuild it."
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise AdvlabError(f"{path} is not an {FORMAT} file: delete it and rerun to rebuild it.")
    return blob


def load_model(path: str | os.PathLike, model: nn.Module | None = None, device=None) -> nn.Module:
    """Load a checkpoint into ``model`` (or a new model of the saved architecture), in eval mode."""
    blob = load_checkpoint(path)
    if model is None:
        arch = blob["arch"]
        if arch.get("class") != "BaselineCNN":
            raise AdvlabError(f"{path} holds a {arch.get('class')}, which advlab cannot build: pass model=...")
        model = BaselineCNN(width=int(arch.get("width", 1)))
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise AdvlabError(
            f"checkpoint {path} does not match the model ({' '.join(first)}): it was saved for another "
            f"architecture; delete it and rerun to rebuild it."
        ) from None
    if device is not None:
        model.to(device)
    return model.eval()


def checkpoint_meta(path: str | os.PathLike) -> dict:
    return load_checkpoint(path)["meta"]


def load_cached_model(path: str | os.PathLike, model: nn.Module, device=None) -> nn.Module | None:
    """``load_model`` for a cache entry: a checkpoint that cannot be read into ``model`` (truncated,
    garbage, another architecture) is moved aside (``<path>.corrupt``) with a warning; returns None then,
    and the caller rebuilds it."""
    try:
        return load_model(path, model, device)
    except AdvlabError as exc:
        text = str(exc)
        why = (
            "saved for another architecture"
            if "does not match" in text
            else f"not an {FORMAT} file"
            if "is not an" in text
            else "truncated or not a checkpoint" + (f", {text.split('(', 1)[1].split(':')[0]}" if "(" in text else "")
        )
        quarantine(Path(path), why)
        return None
