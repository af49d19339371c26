"""Shipped weights: ``pretrained/<profile>/<name>.pt`` with ``manifest.json`` (sha256, architecture,
width, the cache key of the parameters the model was trained with, clean accuracy), so that a laptop
can explore a profile's models without training them.

    python -m advlab.course.pretrained export --profile smoke   # the cache's trained models -> pretrained/smoke/
    python -m advlab.course.pretrained verify --profile smoke   # check every shipped file against the manifest

``load(profile, name)`` returns a verified model in eval mode. ``run_all.py --pretrained`` (the Config
field ``pretrained``) makes :func:`advlab.course.pipeline.get_model` load them instead of training.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from torch import nn

from advlab.core.checkpoint import load_checkpoint, load_model
from advlab.core.errors import AdvlabError
from advlab.core.io import write_bytes, write_json
from advlab.core.models import ARCH
from advlab.course.profiles import PROFILES, Config, config

ROOT = Path(os.environ.get("ADVLAB_PRETRAINED", "pretrained"))
FORMAT = "advlab-pretrained-1"


def folder(profile: str, root: str | os.PathLike | None = None) -> Path:
    return Path(root or ROOT) / profile


def _fix(profile: str) -> str:
    return (f"train them (`python run_all.py --profile {profile}`) and export them (`python -m advlab.course.pretrained "
            f"export --profile {profile}`), or run without --pretrained")


def manifest(profile: str, root=None) -> dict:
    path = folder(profile, root) / "manifest.json"
    if not path.is_file():
        raise AdvlabError(f"no pretrained weights for profile {profile!r} ({path} is missing): {_fix(profile)}")
    try:
        blob = json.loads(path.read_text())
    except ValueError as exc:
        raise AdvlabError(f"{path} is not valid JSON ({exc}): restore it with `git checkout -- {path}` "
                          f"or export again") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or not isinstance(blob.get("models"), dict):
        raise AdvlabError(f"{path} is not an {FORMAT} manifest: restore it with `git checkout -- {path}` "
                          f"or export again")
    return blob


def entry(profile: str, name: str, key: str | None = None, root=None) -> dict:
    """The manifest's record of model ``name``; with ``key``, it must have been trained with those parameters."""
    models = manifest(profile, root)["models"]
    if name not in models:
        raise AdvlabError(f"no pretrained {name!r} for profile {profile!r} (shipped: {', '.join(models) or 'none'}): "
                          f"{_fix(profile)}")
    e = models[name]
    if key is not None and e["key"] != key:
        raise AdvlabError(f"the shipped {profile}/{name} was trained with other parameters (key {e['key']}, this "
                          f"run needs {key}): drop the --set overrides, or run without --pretrained to train it")
    if e["arch"] != ARCH:
        raise AdvlabError(f"the shipped {profile}/{name} is for model version {e['arch']}, this code has {ARCH}: "
                          f"{_fix(profile)}")
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
        raise AdvlabError(f"pretrained weights {path} are missing (listed in its manifest.json): restore them with "
                          f"`git checkout -- {path}`, or {_fix(profile)}")
    digest = sha256(path)
    if digest != e["sha256"]:
        raise AdvlabError(f"{path} does not match its sha256 in manifest.json (expected {e['sha256'][:12]}..., "
                          f"got {digest[:12]}...): the file is corrupt or was changed; restore it with "
                          f"`git checkout -- {path}` or export it again")
    return path


def load(profile: str, name: str, *, key: str | None = None, device=None, root=None) -> nn.Module:
    """The shipped model ``name`` of ``profile``, verified (sha256) and loaded with ``weights_only``, in eval mode."""
    return load_model(verified_path(profile, name, key, root), device=device)


def info(profile: str, name: str, *, key: str | None = None, root=None) -> dict:
    """The metadata saved with the shipped model (losses, training history, training seconds, device)."""
    return load_checkpoint(verified_path(profile, name, key, root))["meta"]


def profile_models(cfg: Config) -> list[str]:
    """Every model a run of ``cfg`` trains: the four static ones and the baseline (notebooks 01-04), the
    on-the-fly ones (05) and, at each capacity width, the last of those."""
    from advlab.course.pipeline import MODELS, otf_models, otf_name
    otf = otf_models(cfg)
    return list(dict.fromkeys(MODELS + otf + [otf_name(otf[-1], w) for w in cfg.capacity_widths]))


def check(cfg: Config, root=None) -> list[str]:
    """Verify the shipped weights of every model of ``cfg`` (keys and sha256); returns their names."""
    from advlab.course.pipeline import trained_key
    names = profile_models(cfg)
    for name in names:
        verified_path(cfg.profile, name, trained_key(cfg, name), root)
    return names


def export(profile: str, names: list[str] | None = None, *, overrides: dict | None = None, root=None) -> Path:
    """Copy the trained models of ``profile`` from the cache into ``pretrained/<profile>/`` and write its
    manifest (the clean accuracy is measured on all 10,000 test images). Returns the manifest's path."""
    from advlab.core.inference import evaluate
    from advlab.course.pipeline import model_key, test_data
    from advlab.course import artifacts
    cfg = config(profile, **(overrides or {})).replace(pretrained=False, device="cpu")
    names = list(names or profile_models(cfg))
    sources = {name: artifacts.path(f"models/{model_key(cfg, name)}", ".pt") for name in names}
    missing = [name for name, p in sources.items() if not p.is_file()]
    if missing:
        raise AdvlabError(f"not trained yet for profile {profile!r}: {', '.join(missing)} (looked in "
                          f"{artifacts.ROOT}/models/): run `python run_all.py --profile {profile}` first")
    x, y = test_data(cfg)
    out = folder(profile, root)
    models = {}
    for name, src in sources.items():
        blob = load_checkpoint(src)
        dest = out / f"{name}.pt"
        write_bytes(dest, src.read_bytes())
        models[name] = {
            "file": dest.name, "sha256": sha256(dest), "bytes": dest.stat().st_size, "arch": ARCH,
            "class": blob["arch"]["class"], "width": blob["arch"]["width"], "key": model_key(cfg, name),
            "clean_acc": evaluate(load_model(dest), x, y), "n_test": len(x),
            "trained_on": blob["meta"].get("device"), "train_seconds": blob["meta"].get("train_seconds"),
        }
        print(f"{dest}: {models[name]['bytes'] / 1e3:.0f} kB, clean accuracy {100 * models[name]['clean_acc']:.2f}%")
    for stale in set(out.glob("*.pt")) - {out / m["file"] for m in models.values()}:
        stale.unlink()
    path = out / "manifest.json"
    write_json(path, {"format": FORMAT, "profile": profile, "torch": torch.__version__,
                      "config": cfg.replace(device="auto").as_dict(), "models": models})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advlab.course.pretrained", description="Export or verify the "
                                     "shipped weights of a profile (pretrained/<profile>/).")
    parser.add_argument("command", choices=["export", "verify"])
    parser.add_argument("--profile", default="smoke", help=f"one of {', '.join(PROFILES)} (default: smoke)")
    args = parser.parse_args(argv)
    from advlab.course.pipeline import chdir_root
    chdir_root()
    try:
        if args.command == "export":
            print(f"wrote {export(args.profile)}")
        else:
            names = check(config(args.profile))
            print(f"{folder(args.profile)}: {len(names)} models verified ({', '.join(names)})")
    except AdvlabError as exc:
        print(f"advlab.course.pretrained: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
