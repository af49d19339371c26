"""Shipped weights: ``pretrained/<profile>/<name>.pt`` with ``manifest.json`` (sha256, architecture,
width, the cache key of the parameters the model was trained with, clean accuracy), so that a laptop
can explore a profile's models without training them.

    python -m advlab.course.pretrained_cli export --profile smoke   # the cache's trained models -> pretrained/smoke/
    python -m advlab.course.pretrained_cli verify --profile smoke   # check every shipped file against the manifest

``load(profile, name)`` returns a verified model in eval mode. ``run_all.py --pretrained`` (the Config
field ``pretrained``) makes :func:`advlab.course.pipeline.get_model` load them instead of training.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from torch import nn

from advlab.core.checkpoint import load_checkpoint, load_model
from advlab.core.errors import AdvlabError
from advlab.core.models import ARCH

ROOT = Path(os.environ.get("ADVLAB_PRETRAINED", "pretrained"))
FORMAT = "advlab-pretrained-1"


def folder(profile: str, root: str | os.PathLike | None = None) -> Path:
    return Path(root or ROOT) / profile


def _how_to_get(profile: str) -> str:
    return (
        f"train them (`python run_all.py --profile {profile}`) and export them "
        f"(`python -m advlab.course.pretrained_cli export --profile {profile}`), or run without --pretrained"
    )


def manifest(profile: str, root=None) -> dict:
    path = folder(profile, root) / "manifest.json"
    if not path.is_file():
        raise AdvlabError(f"no pretrained weights for profile {profile!r} ({path} is missing): {_how_to_get(profile)}")
    try:
        blob = json.loads(path.read_text())
    except ValueError as exc:
        raise AdvlabError(
            f"{path} is not valid JSON ({exc}): restore it with `git checkout -- {path}` or export again"
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or not isinstance(blob.get("models"), dict):
        raise AdvlabError(
            f"{path} is not an {FORMAT} manifest: restore it with `git checkout -- {path}` or export again"
        )
    return blob


def entry(profile: str, name: str, key: str | None = None, root=None) -> dict:
    """The manifest's record of model ``name``; with ``key``, it must have been trained with those parameters."""
    models = manifest(profile, root)["models"]
    if name not in models:
        raise AdvlabError(
            f"no pretrained {name!r} for profile {profile!r} (shipped: {', '.join(models) or 'none'}): "
            f"{_how_to_get(profile)}"
        )
    e = models[name]
    if key is not None and e["key"] != key:
        raise AdvlabError(
            f"the shipped {profile}/{name} was trained with other parameters (key {e['key']}, this "
            f"run needs {key}): drop the --set overrides, or run without --pretrained to train it"
        )
    if e["arch"] != ARCH:
        raise AdvlabError(
            f"the shipped {profile}/{name} is for model version {e['arch']}, this code has {ARCH}: "
            f"{_how_to_get(profile)}"
        )
    return e


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_path(profile: str, name: str, key: str | None = None, root=None) -> Path:
    """The path of the shipped weights of ``name``, after checking them against the manifest's sha256."""
    e = entry(profile, name, key, root)
    path = folder(profile, root) / e["file"]
    if not path.is_file():
        raise AdvlabError(
            f"pretrained weights {path} are missing (listed in its manifest.json): restore them with "
            f"`git checkout -- {path}`, or {_how_to_get(profile)}"
        )
    digest = sha256(path)
    if digest != e["sha256"]:
        raise AdvlabError(
            f"{path} does not match its sha256 in manifest.json (expected {e['sha256'][:12]}..., "
            f"got {digest[:12]}...): the file is corrupt or was changed; restore it with "
            f"`git checkout -- {path}` or export it again"
        )
    return path


def load(profile: str, name: str, *, key: str | None = None, device=None, root=None) -> nn.Module:
    """The shipped model ``name`` of ``profile``, verified (sha256) and loaded with ``weights_only``, in eval mode."""
    return load_model(verified_path(profile, name, key, root), device=device)


def info(profile: str, name: str, *, key: str | None = None, root=None) -> dict:
    """The metadata saved with the shipped model (losses, training history, training seconds, device)."""
    return load_checkpoint(verified_path(profile, name, key, root))["meta"]
