"""The Fast Gradient Sign Method (Goodfellow et al. 2015), and an eps sweep that reuses one gradient."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advlab.core.attacks.base import check_eps, run_batches
from advlab.core.attacks.losses import input_gradient


def fgsm(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, loss: str = "ce", batch_size: int | None = None
) -> torch.Tensor:
    """Fast Gradient Sign Method: ``clamp(x + eps * sign(grad_x loss(model(x), y)), 0, 1)``."""
    eps = check_eps(eps)

    def attack(s, xb, yb):
        grad, _, _ = input_gradient(model, xb, yb, loss)
        return (xb + eps * grad.sign()).clamp_(0, 1)

    return run_batches(model, x, y, attack, batch_size=batch_size)


def fgsm_signs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss: str = "ce", batch_size: int | None = None
) -> torch.Tensor:
    """``sign(grad_x loss)`` for every image: FGSM at any eps is then ``clamp(x + eps * sign, 0, 1)``."""

    def signs(s, xb, yb):
        grad, _, _ = input_gradient(model, xb, yb, loss)
        return grad.sign_()

    return run_batches(model, x, y, signs, batch_size=batch_size)


def fgsm_sweep_predictions(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilons: Sequence[float],
    *,
    loss: str = "ce",
    batch_size: int | None = None,
) -> torch.Tensor:
    """Predictions ``[len(epsilons), N]`` (int64, on the CPU) under FGSM at each eps, from one gradient per batch."""
    epsilons = [check_eps(e, "every epsilon") for e in epsilons]

    def sweep(s, xb, yb):
        grad, logits, _ = input_gradient(model, xb, yb, loss)
        sign = grad.sign_()
        preds = torch.empty(len(epsilons), len(xb), dtype=torch.long, device=xb.device)
        with torch.inference_mode():
            for i, eps in enumerate(epsilons):  # at eps 0 the clean forward pass already gave them
                preds[i] = logits.argmax(1) if eps == 0 else model((xb + eps * sign).clamp_(0, 1)).argmax(1)
        return preds.T

    preds = torch.empty(len(epsilons), len(x), dtype=torch.long)
    run_batches(model, x, y, sweep, batch_size=batch_size, out=preds.T)
    return preds


def fgsm_sweep(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilons: Sequence[float],
    *,
    loss: str = "ce",
    batch_size: int | None = None,
) -> list[float]:
    """Accuracy under FGSM for each eps, over all images (an image wrong before the attack counts
    as wrong). One backward pass per batch serves every eps: the gradient's sign does not depend on eps."""
    preds = fgsm_sweep_predictions(model, x, y, epsilons, loss=loss, batch_size=batch_size)
    return (preds == y.cpu()[None]).float().mean(1).tolist()
