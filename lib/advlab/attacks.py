"""L-inf adversarial attacks: FGSM, an FGSM epsilon sweep that reuses one gradient, and PGD.

Every attack
- runs the model in eval mode (BatchNorm statistics frozen, no dropout) and restores the caller's mode;
- takes the gradient with respect to the input only, leaving no gradient on the model's parameters;
- keeps pixels in [0, 1] and the perturbation within ``eps`` in the L-inf norm;
- works in batches, on the model's device (CPU, CUDA or MPS), returning results on x's device.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .evaluation import batches, check_xy, eval_mode, model_device

LOSSES = ("ce", "cw")


def _check_eps(eps: float, name: str = "eps") -> float:
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (pixels are in [0, 1]), got {eps}")
    return eps


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """The loss each attack maximises, one value per sample, computed on logits.

    ``ce``: cross-entropy. ``cw``: the Carlini-Wagner margin, max_{j != y} z_j - z_y (positive when
    the sample is misclassified), which does not saturate the way softmax cross-entropy can.
    """
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    if loss == "cw":
        true = logits.gather(1, y[:, None]).squeeze(1)
        other = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
        return other - true
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce"):
    """Gradient of the summed per-sample loss with respect to ``x``; also returns the logits.

    The model must already be in the mode the caller wants (attacks use eval mode).
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    per = per_sample_loss(logits, y, loss)
    (grad,) = torch.autograd.grad(per.sum(), x)
    return grad, logits.detach(), per.detach()


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
         loss: str = "ce", batch_size: int = 1000) -> torch.Tensor:
    """Fast Gradient Sign Method: ``clamp(x + eps * sign(grad_x loss(model(x), y)), 0, 1)``."""
    check_xy(x, y)
    eps = _check_eps(eps)
    device = model_device(model)
    out = torch.empty_like(x)
    with eval_mode(model):
        for s in batches(len(x), batch_size):
            xb, yb = x[s].to(device), y[s].to(device)
            grad, _, _ = input_gradient(model, xb, yb, loss)
            out[s] = (xb + eps * grad.sign()).clamp_(0, 1).to(x.device)
    return out


def fgsm_signs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss: str = "ce",
               batch_size: int = 1000) -> torch.Tensor:
    """``sign(grad_x loss)`` for every image: FGSM at any eps is then ``clamp(x + eps * sign, 0, 1)``."""
    check_xy(x, y)
    device = model_device(model)
    out = torch.empty_like(x)
    with eval_mode(model):
        for s in batches(len(x), batch_size):
            grad, _, _ = input_gradient(model, x[s].to(device), y[s].to(device), loss)
            out[s] = grad.sign_().to(x.device)
    return out


def fgsm_sweep_predictions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float], *,
                           loss: str = "ce", batch_size: int = 1000) -> torch.Tensor:
    """Predictions ``[len(epsilons), N]`` under FGSM at each eps, from one gradient per batch."""
    check_xy(x, y)
    epsilons = [_check_eps(e, "every epsilon") for e in epsilons]
    device = model_device(model)
    preds = torch.empty(len(epsilons), len(x), dtype=torch.long)
    with eval_mode(model):
        for s in batches(len(x), batch_size):
            xb, yb = x[s].to(device), y[s].to(device)
            grad, logits, _ = input_gradient(model, xb, yb, loss)
            sign = grad.sign_()
            with torch.inference_mode():
                for i, eps in enumerate(epsilons):
                    if eps == 0:
                        p = logits.argmax(1)   # the clean forward pass already gave these
                    else:
                        p = model((xb + eps * sign).clamp_(0, 1)).argmax(1)
                    preds[i, s] = p.cpu()
    return preds


def fgsm_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float], *,
               loss: str = "ce", batch_size: int = 1000) -> list[float]:
    """Accuracy under FGSM for each eps, over all images (an image wrong before the attack counts
    as wrong). One backward pass per batch serves every eps: the gradient's sign does not depend on eps."""
    preds = fgsm_sweep_predictions(model, x, y, epsilons, loss=loss, batch_size=batch_size)
    return (preds == y.cpu()[None]).float().mean(1).tolist()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
        random_start: bool = True, restarts: int = 1, *, loss: str = "ce", batch_size: int = 1000,
        seed: int | None = None, early_stop: bool = True, progress: str | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al.) in the L-inf ball of radius ``eps``.

    Each run starts at a uniform random point of the ball (``random_start``), then takes ``steps``
    steps ``x <- clamp(proj_eps(x + alpha * sign(grad)), 0, 1)``. Per sample it returns, over all
    ``restarts``, an example that fools the model if any run found one, otherwise the highest-loss one;
    so more restarts never make it weaker.

    ``early_stop=True`` (for evaluation): every iterate is scored with the forward pass the next step
    needs anyway, and a sample stops being attacked as soon as it is misclassified; the first fooling
    iterate is returned. Never weaker than the final iterate, and much faster on weak models.
    ``early_stop=False`` (standard PGD, for building training sets): every sample takes all steps and
    the final iterates are compared.
    ``seed`` makes the random starts reproducible; ``progress`` (a label) shows a progress bar.
    """
    check_xy(x, y)
    eps, alpha = _check_eps(eps), _check_eps(alpha, "alpha")
    if int(steps) != steps or steps < 0 or int(restarts) != restarts or restarts < 1:
        raise ValueError(f"steps must be an integer >= 0 and restarts an integer >= 1, got {steps}, {restarts}")
    device = model_device(model)
    gen = None
    if seed is not None:
        gen = torch.Generator(device=device).manual_seed(seed)
    out = torch.empty_like(x)
    chunks = list(batches(len(x), batch_size))
    if progress is not None:
        from tqdm.auto import tqdm
        from .training import progress_enabled
        chunks = tqdm(chunks, desc=progress, unit="batch", leave=False, disable=not progress_enabled())
    with eval_mode(model):
        for s in chunks:
            xb, yb = x[s].to(device), y[s].to(device)
            best = xb.clone()
            best_loss = torch.full((len(xb),), -math.inf, device=device)
            fooled = torch.zeros(len(xb), dtype=torch.bool, device=device)

            def consider(idx, xa, logits, per):
                """Keep, per sample, a fooling example, else the highest-loss one; return the fooled mask."""
                wrong = logits.argmax(1) != yb[idx]
                take = (wrong | (per > best_loss[idx])) & ~fooled[idx]
                best[idx[take]] = xa[take]
                best_loss[idx[take]] = per[take]
                fooled[idx[wrong]] = True
                return wrong

            for _ in range(int(restarts)):
                xa = xb
                if random_start and eps > 0:  # drawn for the whole batch, so restart r is the same run
                    xa = (xb + torch.empty_like(xb).uniform_(-eps, eps, generator=gen)).clamp_(0, 1)
                idx = (~fooled).nonzero().squeeze(1) if early_stop else torch.arange(len(xb), device=device)
                xa, x0, y0 = xa[idx], xb[idx], yb[idx]
                for _ in range(int(steps)):
                    if len(idx) == 0:
                        break
                    grad, logits, per = input_gradient(model, xa, y0, loss)
                    if early_stop:
                        alive = ~consider(idx, xa, logits, per)
                        idx, xa, x0, y0, grad = idx[alive], xa[alive], x0[alive], y0[alive], grad[alive]
                    xa = xa + alpha * grad.sign_()
                    xa = torch.min(torch.max(xa, x0 - eps), x0 + eps).clamp_(0, 1)
                if len(idx):
                    with torch.inference_mode():
                        logits = model(xa)
                        per = per_sample_loss(logits, y0, loss)
                    consider(idx, xa, logits, per)
            out[s] = best.to(x.device)
    return out
