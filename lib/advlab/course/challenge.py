"""The course challenge, in the format of the MadryLab MNIST challenge: a student submits adversarial
versions of the 10,000 MNIST test images, and we report the accuracy of the course's most robust model
on them (lower is a stronger attack) and append it to a local leaderboard.

    python -m advlab.course.challenge attack.npy [--name NAME] [--profile quick] [--model fast_adv]

A submission is one ``.npy`` file (``np.save``) holding a float array of shape (10000, 28, 28),
(10000, 1, 28, 28) or (10000, 784) (MadryLab's), the test images in their standard order (the order of
``t10k-images-idx3-ubyte``), pixels in [0, 1], each within ``EPS`` = 0.3 of its original in the
L-inf norm. It is read with ``allow_pickle=False`` after its header is checked, so no file can run
code; every problem is a one-line error naming it and the fix (exit code 2).

The leaderboard is ``report/<profile>/leaderboard.json`` (written atomically); the report shows it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from advlab.core.data import load_mnist
from advlab.core.errors import AdvlabError
from advlab.core.inference import evaluate
from advlab.core.io import write_json
from advlab.course import artifacts, pipeline, robustness
from advlab.course.profiles import config

EPS = 0.3
N_TEST = 10000
TOLERANCE = 1e-4  # as the MadryLab checker: rounding never makes a submission invalid
SHAPES = [(N_TEST, 28, 28), (N_TEST, 1, 28, 28), (N_TEST, 784)]
NPY_MAGIC = b"\x93NUMPY"
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
SAVE_HINT = "save it with np.save('attack.npy', x_adv.astype(np.float32))"


# --- reading and checking a submission ----------------------------------------------------------


def load_submission(path: str | Path) -> np.ndarray:
    """The submitted array as float32 [N_TEST, 1, 28, 28], after checking its header (format, dtype,
    shape) and contents (finite). Pickled objects are never loaded."""
    path = Path(path)
    if not path.is_file():
        raise AdvlabError(f"{path}: no such file; pass the path of the .npy file you saved with np.save")
    with open(path, "rb") as f:
        if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise AdvlabError(
                f"{path} is not a .npy file (no NumPy header; .npz, pickle and text files are "
                f"not accepted): {SAVE_HINT}"
            )
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            if version not in HEADER_READERS:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = HEADER_READERS[version](f)
        except (ValueError, SyntaxError, TypeError) as exc:
            raise AdvlabError(f"{path} has a corrupt .npy header ({exc}): {SAVE_HINT}") from None
        if dtype.hasobject:
            raise AdvlabError(
                f"{path} holds Python objects (dtype {dtype}), which are never unpickled here: {SAVE_HINT}"
            )
        if dtype.kind != "f":
            hint = " (pixels 0-255? divide by 255 first)" if dtype.kind in "iu" else ""
            raise AdvlabError(f"{path} has dtype {dtype}, expected floats in [0, 1]{hint}: {SAVE_HINT}")
        if tuple(shape) not in SHAPES:
            raise AdvlabError(
                f"{path} has shape {tuple(shape)}, expected one of "
                f"{', '.join(str(s) for s in SHAPES)} (all {N_TEST} test images, standard order)"
            )
        f.seek(0)
        try:
            x = np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise AdvlabError(f"{path} is truncated or unreadable ({exc}): {SAVE_HINT}") from None
    x = np.asarray(x, dtype=np.float32).reshape(N_TEST, 1, 28, 28)
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise AdvlabError(f"{path} contains {bad} NaN or infinite values: every pixel must be a number in [0, 1]")
    return x


def check_submission(x_adv: np.ndarray, x: np.ndarray, eps: float = EPS, name: str = "the submission") -> None:
    """Pixels in [0, 1] and ||x_adv - x||_inf <= eps per image (within ``TOLERANCE``), else AdvlabError."""
    lo, hi = float(x_adv.min()), float(x_adv.max())
    if lo < -TOLERANCE or hi > 1 + TOLERANCE:
        raise AdvlabError(
            f"{name} has pixels outside [0, 1] (min {lo:.4g}, max {hi:.4g}): clip them, x_adv = np.clip(x_adv, 0, 1)"
        )
    dist = np.abs(x_adv - x).reshape(len(x), -1).max(1)
    worst = int(dist.argmax())
    if dist[worst] > eps + TOLERANCE:
        n_out = int(np.count_nonzero(dist > eps + TOLERANCE))
        raise AdvlabError(
            f"{name} leaves the eps-ball: {n_out} image(s) differ from the original by more than "
            f"eps={eps} in some pixel (image {worst}: {dist[worst]:.4g}); are the images in the "
            f"standard test order? Project them: x_adv = np.clip(x_adv, x - {eps}, x + {eps})"
        )


# --- scoring ------------------------------------------------------------------------------------


def test_images() -> tuple[np.ndarray, torch.Tensor]:
    """The MNIST test images in their standard order (float32 [N, 1, 28, 28] in [0, 1]) and labels."""

    x, y = load_mnist(pipeline.DATA_ROOT, train=False)
    return x.numpy(), y


def default_model(cfg) -> str:
    """The most robust on-the-fly model (``pipeline.ON_THE_FLY``) already trained for ``cfg``'s profile:
    the highest worst-case accuracy among those with a cached robust evaluation, else the last one
    listed that is trained."""

    trained = [n for n in pipeline.ON_THE_FLY if artifacts.path(f"models/{pipeline.model_key(cfg, n)}", ".pt").exists()]
    if not trained:
        raise AdvlabError(
            f"no on-the-fly model ({', '.join(pipeline.ON_THE_FLY)}) is trained for profile "
            f"{cfg.profile!r}: run notebook 05 (python run_all.py --profile {cfg.profile} --only 05), "
            f"or pass --model NAME"
        )
    robust = {}
    for n in trained:
        value = robustness.cached_robust_eval(cfg, n)
        if value is not None:
            robust[n] = value["robust_acc"]
    return max(robust, key=robust.get) if robust else trained[-1]


def score(x_adv: np.ndarray, model: torch.nn.Module, y: torch.Tensor) -> float:
    """Accuracy of ``model`` on the submitted images (clipped exactly into the box first)."""

    return evaluate(model, torch.from_numpy(np.clip(x_adv, 0, 1)), y)


def leaderboard_path(profile: str, root: str | Path = ".") -> Path:
    return Path(root) / "report" / profile / "leaderboard.json"


def load_leaderboard(profile: str, root: str | Path = ".") -> list[dict]:
    """The leaderboard's entries, best attack (lowest accuracy) first; [] when there is none yet."""
    p = leaderboard_path(profile, root)
    try:
        entries = json.loads(p.read_text())["entries"]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdvlabError(f"{p} is unreadable ({exc}): delete it to start a new leaderboard") from None
    return sorted(entries, key=lambda e: (e["accuracy"], e["date"]))


def append_entry(entry: dict, profile: str, root: str | Path = ".") -> Path:
    entries = load_leaderboard(profile, root) + [entry]
    p = leaderboard_path(profile, root)
    write_json(p, {"profile": profile, "eps": EPS, "entries": entries})
    return p


def submit(
    path: str | Path,
    *,
    name: str | None = None,
    profile: str = "quick",
    model_name: str | None = None,
    device: str = "cpu",
    model: torch.nn.Module | None = None,
    images=None,
    root: str | Path = ".",
    record: bool = True,
) -> dict:
    """Check and score one submission; append it to the leaderboard unless ``record`` is False.

    ``model`` (with ``model_name`` as its label) and ``images = (x, y)`` replace the course's model and
    the MNIST test set (for tests)."""

    x_adv = load_submission(path)
    x, y = images if images is not None else test_images()
    check_submission(x_adv, x, name=str(path))
    if model is None:
        cfg = config(profile, device=device)
        model_name = model_name or default_model(cfg)
        model = pipeline.get_model(cfg, model_name)
    accuracy = score(x_adv, model, y)
    entry = {
        "name": name or Path(path).stem,
        "accuracy": accuracy,
        "model": model_name or "custom",
        "profile": profile,
        "eps": EPS,
        "n_images": len(x_adv),
        "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    if record:
        entry["leaderboard"] = str(append_entry(entry, profile, root))
    return entry


def main(argv=None, model: torch.nn.Module | None = None, images=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advlab.course.challenge", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", help="the .npy file of adversarial test images")
    parser.add_argument("--name", help="the name on the leaderboard (default: the file's name)")
    parser.add_argument(
        "--profile", default="quick", help="whose models to attack: smoke, quick or paper (default quick)"
    )
    parser.add_argument(
        "--model", dest="model_name", help="the model to attack (default: the most robust trained on-the-fly model)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto (default cpu)")
    parser.add_argument("--no-record", action="store_true", help="score without adding to the leaderboard")
    args = parser.parse_args(argv)
    try:
        entry = submit(
            args.submission,
            name=args.name,
            profile=args.profile,
            model_name=args.model_name,
            device=args.device,
            model=model,
            images=images,
            record=not args.no_record,
        )
    except AdvlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{entry['name']}: accuracy of {entry['model']} ({entry['profile']}) on your {entry['n_images']} "
        f"adversarial images: {entry['accuracy']:.2%} (lower is a stronger attack)"
    )
    if "leaderboard" in entry:
        board = load_leaderboard(args.profile)
        rank = next(i for i, e in enumerate(board, 1) if e["sha256"] == entry["sha256"] and e["date"] == entry["date"])
        print(f"rank {rank} of {len(board)} on {entry['leaderboard']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
