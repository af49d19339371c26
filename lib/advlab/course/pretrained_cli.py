"""Export or verify the shipped weights of a profile (``pretrained/<profile>/``):

python -m advlab.course.pretrained_cli export --profile smoke   # the cache's trained models -> pretrained/smoke/
python -m advlab.course.pretrained_cli verify --profile smoke   # check every shipped file against the manifest
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from advlab.core.checkpoint import load_checkpoint, load_model
from advlab.core.errors import AdvlabError
from advlab.core.inference import evaluate
from advlab.core.io import write_bytes, write_json
from advlab.core.models import ARCH
from advlab.course import artifacts
from advlab.course.pipeline import chdir_root, test_data
from advlab.course.pretrained import FORMAT, folder, sha256, verified_path
from advlab.course.profiles import PROFILES, Config, config
from advlab.course.registry import MODELS, model_key, on_the_fly_models, on_the_fly_name, trained_key


def profile_models(cfg: Config) -> list[str]:
    """Every model a run of ``cfg`` trains: the four static ones and the baseline (notebooks 01-04), the
    on-the-fly ones (05) and, at each capacity width, the last of those."""
    on_the_fly = on_the_fly_models(cfg)
    return list(dict.fromkeys(MODELS + on_the_fly + [on_the_fly_name(on_the_fly[-1], w) for w in cfg.capacity_widths]))


def check(cfg: Config, root=None) -> list[str]:
    """Verify the shipped weights of every model of ``cfg`` (keys and sha256); returns their names."""
    names = profile_models(cfg)
    for name in names:
        verified_path(cfg.profile, name, trained_key(cfg, name), root)
    return names


def export(profile: str, names: list[str] | None = None, *, overrides: dict | None = None, root=None) -> Path:
    """Copy the trained models of ``profile`` from the cache into ``pretrained/<profile>/`` and write its
    manifest (the clean accuracy is measured on all 10,000 test images). Returns the manifest's path."""
    cfg = config(profile, **(overrides or {})).replace(pretrained=False, device="cpu")
    names = list(names or profile_models(cfg))
    sources = {name: artifacts.path(f"models/{model_key(cfg, name)}", ".pt") for name in names}
    missing = [name for name, p in sources.items() if not p.is_file()]
    if missing:
        raise AdvlabError(
            f"not trained yet for profile {profile!r}: {', '.join(missing)} (looked in "
            f"{artifacts.ROOT}/models/): run `python run_all.py --profile {profile}` first"
        )
    x, y = test_data(cfg)
    out = folder(profile, root)
    models = {}
    for name, src in sources.items():
        blob = load_checkpoint(src)
        dest = out / f"{name}.pt"
        write_bytes(dest, src.read_bytes())
        models[name] = {
            "file": dest.name,
            "sha256": sha256(dest),
            "bytes": dest.stat().st_size,
            "arch": ARCH,
            "class": blob["arch"]["class"],
            "width": blob["arch"]["width"],
            "key": model_key(cfg, name),
            "clean_acc": evaluate(load_model(dest), x, y),
            "n_test": len(x),
            "trained_on": blob["meta"].get("device"),
            "train_seconds": blob["meta"].get("train_seconds"),
        }
        print(f"{dest}: {models[name]['bytes'] / 1e3:.0f} kB, clean accuracy {100 * models[name]['clean_acc']:.2f}%")
    for stale in set(out.glob("*.pt")) - {out / m["file"] for m in models.values()}:
        stale.unlink()
    path = out / "manifest.json"
    write_json(
        path,
        {
            "format": FORMAT,
            "profile": profile,
            "torch": torch.__version__,
            "config": cfg.replace(device="auto").as_dict(),
            "models": models,
        },
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m advlab.course.pretrained_cli",
        description="Export or verify the shipped weights of a profile (pretrained/<profile>/).",
    )
    parser.add_argument("command", choices=["export", "verify"])
    parser.add_argument("--profile", default="smoke", help=f"one of {', '.join(PROFILES)} (default: smoke)")
    args = parser.parse_args(argv)
    chdir_root()
    try:
        if args.command == "export":
            print(f"wrote {export(args.profile)}")
        else:
            names = check(config(args.profile))
            print(f"{folder(args.profile)}: {len(names)} models verified ({', '.join(names)})")
    except AdvlabError as exc:
        print(f"advlab.course.pretrained_cli: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
