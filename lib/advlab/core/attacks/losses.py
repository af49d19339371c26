"""The losses attacks maximise, per sample, and their gradient with respect to the input."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from advlab.core.attacks.base import require_gradients

LOSSES = ("ce", "cw", "dlr")
Loss = str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """The loss each attack maximises, one value per sample, computed on logits ``[N, classes]``.

    ``ce``: cross-entropy. ``cw``: the Carlini-Wagner margin, max_{j != y} z_j - z_y (positive when
    the sample is misclassified), which does not saturate the way softmax cross-entropy can.
    ``dlr``: the difference of logits ratio of Croce & Hein (2020), the CW margin divided by
    z_(1) - z_(3) (largest minus third-largest logit): unchanged when the logits are scaled or shifted.
    """
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    if loss == "cw":
        return _largest_other(logits, y) - logits.gather(1, y[:, None]).squeeze(1)
    if loss == "dlr":
        z = logits.sort(1).values
        return (_largest_other(logits, y) - logits.gather(1, y[:, None]).squeeze(1)) / (z[:, -1] - z[:, -3] + 1e-12)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def _largest_other(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{j != y} z_j: the largest logit of a wrong class."""
    return logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)


def targeted_dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The targeted DLR loss of APGD-T: (z_t - z_y) / (z_(1) - (z_(3) + z_(4)) / 2), per sample."""
    z = logits.sort(1).values
    gap = logits.gather(1, target[:, None]).squeeze(1) - logits.gather(1, y[:, None]).squeeze(1)
    return gap / (z[:, -1] - 0.5 * (z[:, -3] + z[:, -4]) + 1e-12)


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss = "ce"):
    """Gradient of the summed per-sample loss with respect to ``x``; also returns the logits and the losses.

    The model must already be in the mode the caller wants (attacks use eval mode). ``loss`` is a name
    of :func:`per_sample_loss` or a function ``(logits, y) -> per-sample loss``. Gradients are enabled
    here whatever the caller's mode (``torch.no_grad()`` included); ``torch.inference_mode()`` is an error.
    Returns ``(grad [N, C, H, W], logits [N, classes], loss [N])``, all detached.
    """
    require_gradients()
    with torch.enable_grad():
        x = (x.clone() if x.is_inference() else x.detach()).requires_grad_(True)
        y = y.clone() if y.is_inference() else y
        logits = model(x)
        per = loss(logits, y) if callable(loss) else per_sample_loss(logits, y, loss)
        (grad,) = torch.autograd.grad(per.sum(), x)
    return grad, logits.detach(), per.detach()
