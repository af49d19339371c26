"""What every attack shares: argument checks, the L-inf projection, PGD's step size, random starts, and the
batched runner (model device, evaluation mode, batches, progress bar)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.core.inference import batches, check_xy, eval_mode, model_device
from advlab.core.progress import progress_bar


def check_eps(eps: float, name: str = "eps") -> float:
    """``eps`` as a float, or a ValueError naming ``name`` unless it is finite and >= 0."""
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (pixels are in [0, 1]), got {eps}")
    return eps


def check_count(name: str, value, least: int) -> int:
    """``value`` as an int, or a ValueError unless it is a whole number >= ``least``."""
    if int(value) != value or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value}")
    return int(value)


def require_gradients() -> None:
    """Raise a clear error under ``torch.inference_mode()``, where no input gradient can exist."""
    if torch.is_inference_mode_enabled():
        raise AdvlabError(
            "an attack needs gradients, which torch.inference_mode() forbids: call it outside "
            "`with torch.inference_mode():` (torch.no_grad() is fine)"
        )


def project(z: torch.Tensor, x0: torch.Tensor, eps: float) -> torch.Tensor:
    """``z`` projected onto the L-inf ball of radius ``eps`` around ``x0``, then onto the pixel range [0, 1]."""
    return torch.min(torch.max(z, x0 - eps), x0 + eps).clamp_(0, 1)


def step_size(eps: float, steps: int, factor: float = 2.5) -> float:
    """PGD's step size ``factor * eps / steps``: with 2.5, ``steps`` steps can cross the ball 2.5 times
    (Madry et al. 2018)."""
    return factor * eps / max(steps, 1)


def uniform_starts(
    x: torch.Tensor, eps: float, count: int, device: torch.device, generator: torch.Generator | None
) -> list[torch.Tensor]:
    """``count`` draws of ``U(-eps, eps)`` shaped like all of ``x``, on ``device``: one per restart, drawn for
    all images at once so that no start depends on the batch size, and restart r is the same whatever ``count``."""
    return [
        torch.empty(x.shape, device=device, dtype=x.dtype).uniform_(-eps, eps, generator=generator)
        for _ in range(count)
    ]


def check_inputs(x: torch.Tensor, y: torch.Tensor) -> None:
    """Images ``[N, C, H, W]``, labels ``[N]``, and gradients possible."""
    check_xy(x, y)
    require_gradients()


BatchAttack = Callable[[slice, torch.Tensor, torch.Tensor], "torch.Tensor | tuple[torch.Tensor, ...]"]


def run_batches(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: BatchAttack,
    *,
    batch_size: int | None = None,
    progress: str | None = None,
    out: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
):
    """Run ``attack(s, xb, yb)`` on each batch ``s`` (a slice) of ``(x, y)``, the batch moved to the model's
    device and the model in evaluation mode (the caller's mode is restored); write each result into
    ``out[s]`` (moved to ``out``'s device) and return ``out``.

    ``out`` defaults to a tensor like ``x``; a tuple of tensors takes an attack that returns a tuple.
    ``batch_size`` defaults to :func:`advlab.core.inference.default_batch` of the model's device;
    ``progress`` (a label) shows a progress bar over the batches.
    """
    check_inputs(x, y)
    device = model_device(model)
    out = torch.empty_like(x) if out is None else out
    outs = out if isinstance(out, tuple) else (out,)
    with eval_mode(model):
        for s in progress_bar(list(batches(len(x), batch_size, device)), progress, "batch"):
            results = attack(s, x[s].to(device), y[s].to(device))
            for o, r in zip(outs, results if isinstance(out, tuple) else (results,)):
                o[s] = r.to(o.device)
    return out
