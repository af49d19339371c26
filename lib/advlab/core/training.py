"""Training from in-memory tensors: seeded, deterministic on CPU, with a progress bar."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from advlab.core.errors import AdvlabError
from advlab.core.inference import check_xy, model_device
from advlab.core.io import atomic_path
from advlab.core.progress import progress_enabled

CHECKPOINT_FORMAT = "advlab-fit-checkpoint-1"


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 1,
    *,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    adversary: Callable | None = None,
    on_epoch_end: Callable | None = None,
    progress: bool | None = None,
    desc: str = "train",
    checkpoint: str | os.PathLike | None = None,
    state: dict | None = None,
) -> list[float]:
    """Train ``model`` with Adam and cross-entropy; return the mean training loss of each epoch.

    Batches come from a seeded shuffle of the in-memory tensors. With the same seed, initialisation and
    data, a CPU run is reproducible bit for bit (dropout too; the caller's global RNG state is restored).
    ``adversary(model, xb, yb) -> xb_adv``, if given, replaces each batch before the step (on-the-fly
    adversarial training); it is called with the model in train mode and must leave it so.
    ``on_epoch_end(epoch, loss, seconds)`` may return True to stop training early.

    ``checkpoint``: a file (or a folder, holding ``<desc>.ckpt``) where the whole training state is saved
    after every epoch but the last, and from which a later call resumes (see :func:`_save`); ``state``: a
    dict of lists/dicts that the callbacks update, saved and restored with it. Removed when training ends.
    """
    check_xy(x, y)
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    device = model_device(model)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    show = progress_enabled(progress)
    ckpt = _checkpoint_path(checkpoint, desc)
    settings = {"n": len(x), "batch_size": batch_size, "lr": lr, "seed": seed}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        first = 0 if ckpt is None else _resume(ckpt, settings, model, opt, gen, adversary, state, losses, device)
        if first and show:
            tqdm.write(f"{desc}: resuming after epoch {first}/{epochs} from {ckpt}")
        model.train()
        for epoch in range(first, epochs):
            start = time.perf_counter()
            label = f"{desc} {epoch + 1}/{epochs}" if show else None
            losses.append(_train_epoch(model, opt, x, y, gen, batch_size, adversary, label))
            seconds = time.perf_counter() - start
            if show:
                tqdm.write(f"{desc} epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f} ({seconds:.1f} s)")
            if on_epoch_end is not None and on_epoch_end(epoch, losses[-1], seconds):
                break
            if ckpt is not None and epoch + 1 < epochs:
                _save(ckpt, settings, epoch + 1, model, opt, gen, adversary, state, losses, device)
    if ckpt is not None:
        ckpt.unlink(missing_ok=True)
    model.eval()
    return losses


def _train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    gen: torch.Generator,
    batch_size: int,
    adversary: Callable | None,
    bar: str | None,
) -> float:
    """One epoch of Adam steps over a shuffle of ``(x, y)`` drawn from ``gen``; returns the mean training loss.
    ``bar``: the progress bar's title, or None for no bar."""
    n = len(x)
    perm = torch.randperm(n, generator=gen).to(x.device)
    n_batches = n // batch_size + (1 if n % batch_size > 1 else 0)  # BatchNorm needs >1 sample
    total = torch.zeros((), device=x.device)
    seen = 0
    batches = tqdm(range(n_batches), desc=bar, disable=bar is None, leave=False, unit="batch", mininterval=0.5)
    for b in batches:
        idx = perm[b * batch_size : (b + 1) * batch_size]
        xb, yb = x[idx], y[idx]
        if adversary is not None:
            xb = adversary(model, xb, yb)
            model.train()
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
        seen += len(idx)
        if bar is not None and b % 50 == 0:
            batches.set_postfix(loss=f"{total.item() / seen:.4f}", refresh=False)
    batches.close()
    return total.item() / max(seen, 1)


# --- checkpoints of an unfinished training ---------------------------------------------------------


def _checkpoint_path(checkpoint, desc: str) -> Path | None:
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    return path / f"{desc}.ckpt" if path.is_dir() else path


def object_state(obj) -> dict:
    """What a checkpoint keeps of an adversary: its ``state_dict()`` if it has one, else its attributes
    that are numbers, strings, tensors or random generators (their states). Functions have none."""
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    out = {}
    for name, value in getattr(obj, "__dict__", {}).items():
        if isinstance(value, torch.Generator):
            out[name] = {"generator_state": value.get_state()}
        elif value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
            out[name] = value
    return out


def load_object_state(obj, saved: dict, device=None) -> None:
    """Undo :func:`object_state`; tensors go to ``device`` (the training's)."""
    if hasattr(obj, "load_state_dict"):
        obj.load_state_dict(saved)
        return
    for name, value in saved.items():
        current = getattr(obj, name, None)
        if isinstance(current, torch.Generator):
            current.set_state(value["generator_state"])
        elif isinstance(value, torch.Tensor):
            setattr(obj, name, value.to(device) if device is not None else value)
        else:
            setattr(obj, name, value)


def _save(path: Path, settings: dict, epochs_done: int, model, opt, gen, adversary, state, losses, device):
    """Save the whole training state atomically: weights, optimizer, the data-order generator, the global
    RNG (dropout), the adversary's state (its ``state_dict()``, else its plain attributes), the losses so
    far and ``state``. Resuming from it ends, on the CPU, with exactly the weights of an uninterrupted run."""
    blob = {
        "format": CHECKPOINT_FORMAT,
        "settings": settings,
        "epochs_done": epochs_done,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "generator": gen.get_state(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "adversary": object_state(adversary) if adversary is not None else None,
        "state": state,
        "losses": list(losses),
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def _resume(path: Path, settings: dict, model, opt, gen, adversary, state, losses, device) -> int:
    """Load the checkpoint at ``path`` (if any) into the training objects; return the epochs it had done."""
    if not path.exists():
        return 0
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not an {CHECKPOINT_FORMAT} file")
    except Exception as exc:
        print(f"advlab: training checkpoint {path} is unreadable ({type(exc).__name__}); starting afresh")
        return 0
    if blob["settings"] != settings:
        raise AdvlabError(
            f"training checkpoint {path} belongs to another training (saved with {blob['settings']}, "
            f"this one has {settings}): delete it to start afresh, or pass another checkpoint path."
        )
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["optimizer"])
    gen.set_state(blob["generator"])
    torch.set_rng_state(blob["rng"])
    if blob["cuda_rng"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(blob["cuda_rng"], device)
    if adversary is not None and blob["adversary"] is not None:
        load_object_state(adversary, blob["adversary"], device)
    if state is not None and blob["state"] is not None:
        for name, value in blob["state"].items():  # in place: the callbacks hold these objects
            target = state[name]
            if isinstance(target, dict):
                target.clear()
                target.update(value)
            elif isinstance(target, list):
                target[:] = value
            else:
                raise AdvlabError(f"fit(state=...): {name!r} must be a dict or a list to be restored in place")
    losses[:] = blob["losses"]
    return int(blob["epochs_done"])
