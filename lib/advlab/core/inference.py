"""Predictions and accuracy, batched, in eval mode and without autograd."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from advlab.core.allocator import keep_freed_memory


def model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (BatchNorm running stats, no dropout); restore the caller's mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def check_xy(x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    if not torch.is_tensor(x) or x.dim() != 4:
        raise ValueError(f"x must be an image batch [N, C, H, W], got {getattr(x, 'shape', type(x))}")
    if y is not None and (not torch.is_tensor(y) or y.shape != (x.shape[0],)):
        raise ValueError(f"y must be a label tensor of shape [{x.shape[0]}], got {getattr(y, 'shape', type(y))}")


# Images per batch of an attack or a prediction when the caller gives none. On a CPU, 1,000 is faster per
# image than 256 with advlab.core.allocator's malloc setting, and slower with glibc's defaults, which map
# every block above 32 MiB afresh (a batch of 1,000 needs 86 MB blocks): ``python bench/run.py --only batch``,
# numbers in docs/performance.md. An accelerator wants large ones.
CPU_BATCH = 1000 if keep_freed_memory() else 256
ACCELERATOR_BATCH = 1000


def default_batch(device: torch.device | str) -> int:
    """The batch size attacks and predictions use on ``device`` when none is given."""
    return CPU_BATCH if torch.device(device).type == "cpu" else ACCELERATOR_BATCH


def batches(n: int, batch_size: int | None, device: torch.device | str = "cpu") -> Iterator[slice]:
    """Slices of ``n`` items, ``batch_size`` at a time (None: :func:`default_batch` of ``device``)."""
    if batch_size is None:
        batch_size = default_batch(device)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def predict(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Predicted class of every image, as an int64 tensor on x's device (an ordinary tensor, usable
    as labels for an attack). ``batch_size`` defaults to :func:`default_batch` of the model's device."""
    check_xy(x)
    device = model_device(model)
    with torch.inference_mode(), eval_mode(model):
        out = [model(x[s].to(device)).argmax(1).to(x.device) for s in batches(len(x), batch_size, device)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=x.device)


def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Logits ``[N, classes]`` of every image, on x's device (batched, eval mode, no autograd; ``x`` not empty)."""
    check_xy(x)
    if len(x) == 0:
        raise ValueError("predict_logits() got no images")
    device = model_device(model)
    with torch.inference_mode(), eval_mode(model):
        return torch.cat([model(x[s].to(device)).to(x.device) for s in batches(len(x), batch_size, device)])


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int | None = None) -> float:
    """Accuracy of ``model`` on ``(x, y)``, a float in [0, 1]."""
    check_xy(x, y)
    if len(x) == 0:
        raise ValueError("evaluate() got an empty dataset")
    return (predict(model, x, batch_size) == y).float().mean().item()


def correct_under(model: nn.Module, y: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Per image: does ``model`` still classify ``x_adv`` as ``y``?"""
    return predict(model, x_adv) == y.to(x_adv.device)
