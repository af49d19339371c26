"""Projected gradient descent (Madry et al. 2018) in the L-inf ball, with restarts and an optional early stop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from advlab.core.attacks.base import check_count, check_eps, check_inputs, project, run_batches, uniform_starts
from advlab.core.attacks.losses import Loss, input_gradient, per_sample_loss
from advlab.core.inference import model_device


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool = True,
    restarts: int = 1,
    *,
    loss: str = "ce",
    batch_size: int | None = None,
    seed: int | None = None,
    early_stop: bool = True,
    progress: str | None = None,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al.) in the L-inf ball of radius ``eps``.

    Each run starts at a uniform random point of the ball (``random_start``), then takes ``steps``
    steps ``x <- clamp(proj_eps(x + alpha * sign(grad)), 0, 1)``. Per sample it returns, over all
    ``restarts``, an example that fools the model if any run found one, otherwise the highest-loss one;
    so more restarts never make it weaker. ``x``: images ``[N, C, H, W]`` in [0, 1]; ``y``: labels ``[N]``.

    ``early_stop=True`` (for evaluation): every iterate is scored with the forward pass the next step
    needs anyway, and a sample stops being attacked as soon as it is misclassified; the first fooling
    iterate is returned. Never weaker than the final iterate, and much faster on weak models.
    ``early_stop=False`` (standard PGD, for building training sets): every sample takes all steps and
    the final iterates are compared.
    ``seed`` makes the random starts reproducible (None: the global RNG); ``progress`` (a label) shows a
    progress bar. :func:`advlab.core.attacks.step_size` gives the usual ``alpha`` for ``steps``.
    """
    check_inputs(x, y)
    eps, alpha = check_eps(eps), check_eps(alpha, "alpha")
    steps, restarts = check_count("steps", steps, 0), check_count("restarts", restarts, 1)
    device = model_device(model)
    starts = None
    if random_start and eps > 0:
        generator = None if seed is None else torch.Generator(device=device).manual_seed(seed)
        starts = uniform_starts(x, eps, restarts, device, generator)
    run = _PgdRun(model, eps, alpha, steps, loss, early_stop, final_iterate=restarts == 1 and not early_stop)

    def attack(s, xb, yb):
        best = _Best.at(xb)
        for r in range(restarts):
            run(best, xb if starts is None else (xb + starts[r][s]).clamp_(0, 1), xb, yb)
        return best.x

    return run_batches(model, x, y, attack, batch_size=batch_size, progress=progress)


@dataclass
class _Best:
    """Per sample of a batch, over all runs: a fooling example if any run found one, else the highest-loss one."""

    x: torch.Tensor  # [B, C, H, W]
    loss: torch.Tensor  # [B], the loss of ``x`` (-inf before any is scored)
    fooled: torch.Tensor  # [B] bool

    @classmethod
    def at(cls, x: torch.Tensor) -> _Best:
        return cls(
            x.clone(),
            torch.full((len(x),), -math.inf, device=x.device),
            torch.zeros(len(x), dtype=torch.bool, device=x.device),
        )

    def consider(self, idx, x_adv, y, logits, loss) -> torch.Tensor:
        """Offer the examples ``x_adv`` of the samples ``idx`` (their labels, logits and losses); return
        which of them fool the model."""
        wrong = logits.argmax(1) != y
        take = (wrong | (loss > self.loss[idx])) & ~self.fooled[idx]
        self.x[idx[take]] = x_adv[take]
        self.loss[idx[take]] = loss[take]
        self.fooled[idx[wrong]] = True
        return wrong


@dataclass
class _PgdRun:
    """One PGD run on a batch from given start points; ``final_iterate``: a single run without early stop,
    whose final iterates are the result, unscored."""

    model: nn.Module
    eps: float
    alpha: float
    steps: int
    loss: Loss
    early_stop: bool
    final_iterate: bool

    def __call__(self, best: _Best, x_start: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
        """Attack from ``x_start`` the samples of ``x`` not yet fooled (all of them without early stop),
        offering the iterates to ``best``."""
        idx = (~best.fooled).nonzero().squeeze(1) if self.early_stop else torch.arange(len(x), device=x.device)
        x_adv, x0, y0 = x_start[idx], x[idx], y[idx]
        for _ in range(self.steps):
            if len(idx) == 0:
                break
            grad, logits, loss = input_gradient(self.model, x_adv, y0, self.loss)
            if self.early_stop:  # score the iterate this step starts from; fooled samples stop here
                alive = ~best.consider(idx, x_adv, y0, logits, loss)
                idx, x_adv, x0, y0, grad = idx[alive], x_adv[alive], x0[alive], y0[alive], grad[alive]
            x_adv = project(x_adv + self.alpha * grad.sign_(), x0, self.eps)
        if len(idx) and self.final_iterate:
            best.x[idx] = x_adv
        elif len(idx):
            with torch.inference_mode():
                logits = self.model(x_adv)
                loss = per_sample_loss(logits, y0, self.loss)
            best.consider(idx, x_adv, y0, logits, loss)
