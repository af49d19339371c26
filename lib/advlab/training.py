"""Training from in-memory tensors: seeded, deterministic on CPU, with a progress bar."""
from __future__ import annotations

import os
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .evaluation import check_xy, model_device


def progress_enabled(progress: bool | None = None) -> bool:
    """Progress bars are on unless ``progress=False`` or ADVLAB_PROGRESS=0 (set by run_all.py, where
    papermill already reports progress and per-batch bars would bloat the executed notebooks)."""
    if progress is not None:
        return progress
    return os.environ.get("ADVLAB_PROGRESS", "1") not in ("0", "false", "no", "off")


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 1, *, batch_size: int = 128,
        lr: float = 1e-3, seed: int = 0, adversary: Callable | None = None,
        on_epoch_end: Callable | None = None, progress: bool | None = None, desc: str = "train") -> list[float]:
    """Train ``model`` with Adam and cross-entropy; return the mean training loss of each epoch.

    Batches come from a seeded shuffle of the in-memory tensors (no per-sample transforms). With the
    same seed, model initialisation and data, a CPU run is reproducible bit for bit (dropout is drawn
    from the same seeded generator; the caller's global RNG state is restored afterwards).

    ``adversary(model, xb, yb) -> xb_adv``, if given, replaces each batch before the step (on-the-fly
    adversarial training); it is called with the model in train mode and must leave it so.
    ``on_epoch_end(epoch, loss, seconds)`` may return True to stop training early.
    """
    check_xy(x, y)
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    from tqdm.auto import tqdm

    device = model_device(model)
    x, y = x.to(device), y.to(device)
    n = len(x)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    show = progress_enabled(progress)
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model.train()
        for epoch in range(epochs):
            start = time.perf_counter()
            perm = torch.randperm(n, generator=gen).to(device)
            n_batches = n // batch_size + (1 if n % batch_size > 1 else 0)  # BatchNorm needs >1 sample
            total = torch.zeros((), device=device)
            seen = 0
            bar = tqdm(range(n_batches), desc=f"{desc} {epoch + 1}/{epochs}", disable=not show,
                       leave=False, unit="batch", mininterval=0.5)
            for b in bar:
                idx = perm[b * batch_size:(b + 1) * batch_size]
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
                if show and b % 50 == 0:
                    bar.set_postfix(loss=f"{total.item() / seen:.4f}", refresh=False)
            bar.close()
            losses.append(total.item() / max(seen, 1))
            seconds = time.perf_counter() - start
            if show:
                tqdm.write(f"{desc} epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f} ({seconds:.1f} s)")
            if on_epoch_end is not None and on_epoch_end(epoch, losses[-1], seconds):
                break
    model.eval()
    return losses
