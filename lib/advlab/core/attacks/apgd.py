"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", the core of AutoAttack): PGD with momentum whose step size needs no tuning."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import nn

from advlab.core.attacks.base import check_count, check_eps, check_inputs, project, run_batches
from advlab.core.attacks.losses import input_gradient, targeted_dlr
from advlab.core.inference import model_device, predict_logits
from advlab.core.progress import progress_bar

APGD_RHO = 0.75  # halve the step when the loss rose in at most this share of a checkpoint interval
APGD_MOMENTUM = 0.75  # weight of the new step; 1 - this is the weight of the previous one


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations after which APGD may halve its step size: p_0 = 0, p_1 = 0.22,
    p_(j+1) = p_j + max(p_j - p_(j-1) - 0.03, 0.06), times ``steps``, in whole iterations as in the
    reference implementation (22, 41, 57, 70, 80, 87, 93, 99 for 100 steps)."""
    first, least, shrink = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    points, length, at = [], first, first
    while at <= steps:
        points.append(at)
        length = max(length - shrink, least)
        at += length
    return points


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 100,
    loss: str = "ce",
    targeted: bool = False,
    n_target_classes: int = 9,
    restarts: int = 1,
    seed: int = 0,
    *,
    rho: float = APGD_RHO,
    batch_size: int | None = None,
    progress: str | None = None,
) -> torch.Tensor:
    """Auto-PGD (Croce & Hein 2020) in the L-inf ball of radius ``eps``: PGD with momentum whose step
    size needs no tuning. APGD-CE is ``loss="ce"``; APGD-T is ``loss="dlr", targeted=True``.
    ``x``: images ``[N, C, H, W]`` in [0, 1]; ``y``: labels ``[N]``; returns the examples, shaped like ``x``.

    From a random start, each step is ``z = P(x_k + eta * sign(grad))`` and
    ``x_(k+1) = P(x_k + 0.75 (z - x_k) + 0.25 (x_k - x_(k-1)))`` (no momentum on the first step), with
    ``P`` the projection onto the eps-ball and [0, 1]. Each sample has its own step size ``eta``,
    2 eps at first; at each of :func:`apgd_checkpoints` it is halved, and the sample goes back to its
    highest-loss iterate, when the loss rose in at most ``rho`` of the interval's steps, or when the step
    was not halved at the previous checkpoint and the best loss has not improved since.

    Targeted (APGD-T): one run per target class, the ``n_target_classes`` most likely wrong classes of
    the clean image, each maximising the targeted DLR loss. ``restarts`` runs per loss (or target),
    each from a new random start (``seed`` makes them reproducible; the starts are drawn for all images
    at once, so how they are split into batches changes no example).

    Like AutoAttack, a sample misclassified clean is returned unchanged, and a sample stops being
    attacked once it is misclassified: the first fooling iterate is returned (samples are independent,
    so this changes no other sample's path). A sample never fooled gets its highest-loss iterate.
    """
    check_inputs(x, y)
    eps = check_eps(eps)
    steps, restarts = check_count("steps", steps, 1), check_count("restarts", restarts, 1)
    if loss not in ("ce", "dlr") or (targeted and loss != "dlr"):
        raise ValueError(f"APGD's loss is 'ce' or 'dlr' (targeted: 'dlr' only), got loss={loss!r}, targeted={targeted}")
    if len(x) == 0:
        return x.clone()
    device = model_device(model)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    clean = predict_logits(model, x, batch_size)
    alive = clean.argmax(1) == y.to(x.device)  # only correctly classified ones are attacked
    best, best_loss = x.clone(), torch.full((len(x),), -math.inf, device=x.device, dtype=x.dtype)
    targets = _likeliest_wrong_classes(clean, n_target_classes) if targeted else [None]
    for target in progress_bar([t for t in targets for _ in range(restarts)], progress, "run"):
        # the random starts of all images, one draw per run: the same whatever the batch size
        noise = torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype) * 2 - 1
        todo = alive.nonzero().squeeze(1)
        x_adv, fooled, run_loss = _run_on(model, x, y, todo, target, noise, eps, steps, loss, rho, batch_size)
        better = fooled | (run_loss > best_loss[todo])
        best[todo[better]], best_loss[todo[better]] = x_adv[better], run_loss[better]
        alive[todo[fooled]] = False
    return best


def _likeliest_wrong_classes(logits: torch.Tensor, count: int) -> list[torch.Tensor]:
    """APGD-T's targets: per image ``[N]``, the wrong class with the largest logit, then the next, ``count`` times
    (at most the number of wrong classes)."""
    ranked = logits.argsort(1, descending=True)  # [true class, then the wrong ones by logit]
    return [ranked[:, j] for j in range(1, min(count, logits.shape[1] - 1) + 1)]


def _run_on(model, x, y, todo, target, noise, eps, steps, loss, rho, batch_size):
    """One APGD run on the samples ``todo`` of ``x``, batch by batch: :func:`_apgd_batch`'s results, on x's device;
    ``target``: the target class of every sample of ``x``, or None; ``noise``: every sample's start direction."""
    x_todo, y_todo = x[todo], y[todo]

    def attack(s, xb, yb):
        idx = todo[s]
        return _apgd_batch(
            model,
            xb,
            yb,
            eps,
            steps,
            loss,
            None if target is None else target[idx].to(xb.device),
            rho,
            noise[idx.to(noise.device)],
        )

    out = (
        torch.empty_like(x_todo),
        torch.empty(len(todo), dtype=torch.bool, device=x.device),
        torch.empty(len(todo), dtype=x.dtype, device=x.device),
    )
    return run_batches(model, x_todo, y_todo, attack, batch_size=batch_size, out=out)


@dataclass
class _Attacked:
    """The samples of a batch still attacked, one row each."""

    index: torch.Tensor  # position in the batch
    x0: torch.Tensor  # clean image
    y: torch.Tensor  # label
    target: torch.Tensor  # target class (targeted DLR loss), else the label
    x: torch.Tensor  # the iterate x_k
    x_prev: torch.Tensor  # x_(k-1)
    grad: torch.Tensor  # the gradient at x_k
    loss: torch.Tensor  # the loss at x_k
    best: torch.Tensor  # the highest-loss iterate so far
    best_loss: torch.Tensor
    best_grad: torch.Tensor  # the gradient at ``best``
    eta: torch.Tensor  # the step size, [n, 1, 1, 1]
    rises: torch.Tensor  # steps since the last checkpoint that raised the loss
    best_loss_at_check: torch.Tensor  # ``best_loss`` at the last checkpoint
    halved_at_check: torch.Tensor  # was ``eta`` halved at the last checkpoint?

    def rows(self, keep: torch.Tensor) -> _Attacked:
        return _Attacked(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    def step(self, k: int, eps: float, gradient: Callable) -> torch.Tensor:
        """Iteration ``k`` (from 1): the momentum step, then the best iterate kept; returns the new logits.
        ``gradient(x, y, target) -> (grad, logits, loss)``."""
        a = 1.0 if k == 1 else APGD_MOMENTUM
        z = project(self.x + self.eta * self.grad.sign(), self.x0, eps)
        x_new = project(self.x + a * (z - self.x) + (1 - a) * (self.x - self.x_prev), self.x0, eps)
        grad, logits, loss = gradient(x_new, self.y, self.target)
        self.rises = self.rises + (loss > self.loss).float()
        self.x_prev, self.x, self.grad, self.loss = self.x, x_new, grad, loss
        up = loss > self.best_loss
        self.best = torch.where(up[:, None, None, None], x_new, self.best)
        self.best_grad = torch.where(up[:, None, None, None], grad, self.best_grad)
        self.best_loss = torch.where(up, loss, self.best_loss)
        return logits

    def checkpoint(self, most_rises: float) -> None:
        """Halve the step and go back to the best iterate where the loss rose in at most ``most_rises`` steps
        since the last checkpoint, or where the step was kept then and the best loss has not improved since."""
        stalled = self.rises <= most_rises
        no_gain = ~self.halved_at_check & (self.best_loss <= self.best_loss_at_check)
        halve = stalled | no_gain
        h = halve[:, None, None, None]
        self.eta = torch.where(h, self.eta / 2, self.eta)
        self.x = torch.where(h, self.best, self.x)
        self.grad = torch.where(h, self.best_grad, self.grad)
        self.halved_at_check, self.best_loss_at_check, self.rises = halve, self.best_loss, torch.zeros_like(self.rises)


@dataclass
class _Result:
    """Per sample of a batch: the returned example, its loss, and whether it fools the model."""

    x: torch.Tensor
    loss: torch.Tensor
    fooled: torch.Tensor

    def leave(self, s: _Attacked, done: torch.Tensor) -> _Attacked:
        """Samples ``done`` stop being attacked, with their current iterate (and best loss) as the result."""
        self.x[s.index[done]], self.loss[s.index[done]] = s.x[done], s.best_loss[done]
        return s.rows(~done)

    def drop_fooled(self, s: _Attacked, logits: torch.Tensor) -> _Attacked:
        wrong = logits.argmax(1) != s.y
        self.fooled[s.index[wrong]] = True
        return self.leave(s, wrong)


def _apgd_batch(model, x, y, eps, steps, loss, target, rho, noise):
    """One APGD run on a batch ``x [B, C, H, W]``: ``(x_adv, fooled, loss)`` per sample, where ``x_adv`` is the
    first fooling iterate if ``fooled`` (its loss is then inf), else the highest-loss iterate (whose loss is
    ``loss``); ``target``: the target class of each sample (targeted DLR loss), or None; ``noise``: uniform in
    [-1, 1], shaped like ``x``, the direction of each sample's random start. Fooled samples leave at once."""

    def gradient(x_at, labels, targets):
        if target is None:
            return input_gradient(model, x_at, labels, loss)
        return input_gradient(model, x_at, labels, lambda z, yy: targeted_dlr(z, yy, targets))

    n = len(x)
    result = _Result(
        x.clone(), torch.empty(n, device=x.device, dtype=x.dtype), torch.zeros(n, dtype=torch.bool, device=x.device)
    )
    # the reference's random start: uniform noise in [-1, 1], scaled so that its largest pixel is at eps
    x_k = (x + eps * noise / noise.flatten(1).abs().amax(1).clamp_min(1e-12)[:, None, None, None]).clamp_(0, 1)
    targets = y if target is None else target
    grad, logits, loss_k = gradient(x_k, y, targets)
    s = _Attacked(
        index=torch.arange(n, device=x.device),
        x0=x,
        y=y,
        target=targets,
        x=x_k,
        x_prev=x_k,
        grad=grad,
        loss=loss_k,
        best=x_k,
        best_loss=loss_k,
        best_grad=grad,
        eta=torch.full((n, 1, 1, 1), 2 * eps, device=x.device, dtype=x.dtype),
        rises=torch.zeros(n, device=x.device),
        best_loss_at_check=loss_k,
        halved_at_check=torch.ones(n, dtype=torch.bool, device=x.device),
    )
    s = result.drop_fooled(s, logits)
    # A sample whose gradient is exactly zero at the start never moves: every step and momentum term is
    # zero and a restart from the best point returns to the start. Its result is the start, as it would be
    # after all the steps (gradient masking, e.g. rounded inputs, makes this common; nothing else changes).
    s = result.leave(s, s.grad.flatten(1).abs().amax(1) == 0)
    checkpoints, last_check = set(apgd_checkpoints(steps)), 0
    for k in range(1, steps + 1):
        if len(s.index) == 0:
            break
        s = result.drop_fooled(s, s.step(k, eps, gradient))
        if k in checkpoints:
            s.checkpoint(rho * (k - last_check))
            last_check = k
    result.x[s.index], result.loss[s.index] = s.best, s.best_loss
    result.loss[result.fooled] = math.inf
    return result.x, result.fooled, result.loss
