"""Adversarial training on the fly, and an evaluation strong enough to trust its numbers.

On the fly (Madry et al. 2018) means every training batch is attacked against the *current* weights,
unlike the seed's static sets crafted once on the baseline. Three methods:

- ``pgd``: Madry et al.'s PGD training: ``steps`` PGD steps of size ``alpha`` from a random start.
- ``fgsm_rs``: the fast variant of Wong, Rice & Kolter (2020): one FGSM step of size ``alpha``
  (about 1.25 eps) from a uniform random start in the eps-ball, projected back onto the ball.
- ``n_fgsm``: N-FGSM (de Jorge et al. 2022): one FGSM step of ``alpha`` (1.0 eps) from a start drawn
  from a *larger* box, ``U(-k eps, k eps)`` with k = 2, and *no* projection back onto the eps-ball
  (pixels are still clipped to [0, 1]): the noise itself is what keeps single-step training stable.
Single-step methods are prone to *catastrophic overfitting* (robustness to PGD collapses within an
epoch while FGSM accuracy soars), so :func:`train_on_the_fly` checks PGD accuracy on held-out training
images after every epoch and rolls back to the best epoch when it collapses.

The examples are crafted with the model in evaluation mode (BatchNorm running statistics, no dropout):
the model that is later attacked, and a sharper gradient than one through random dropout masks.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from advlab.core.attacks import apgd, check_eps, input_gradient, pgd, step_size
from advlab.core.inference import check_xy, correct_under, eval_mode
from advlab.core.progress import progress_enabled
from advlab.core.training import fit

METHODS = ("fgsm_rs", "n_fgsm", "pgd")
STEP_FACTOR = {"fgsm_rs": 1.25, "n_fgsm": 1.0}  # default single-step size alpha / eps of each method


class OnTheFly:
    """The ``adversary`` of :func:`advlab.fit`: attacks each batch against the current model.

    eps rises linearly from 0 to ``eps`` over the first ``ramp_epochs`` epochs (``n_batches`` per
    epoch), then stays; ``alpha``, N-FGSM's noise and PGD's step size scale with it.
    ``alpha_factor``: the single-step size over eps (None: 1.25 for fgsm_rs, 1.0 for n_fgsm);
    ``noise_factor``: N-FGSM's k, the start is drawn from U(-k eps, k eps).
    """

    def __init__(
        self,
        method: str,
        eps: float,
        *,
        n_batches: int,
        alpha_factor: float | None = None,
        steps: int = 40,
        pgd_alpha: float = 0.01,
        ramp_epochs: float = 0.0,
        noise_factor: float = 2.0,
        seed: int = 0,
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method, self.eps = method, check_eps(eps)
        alpha_factor = STEP_FACTOR.get(method, 1.25) if alpha_factor is None else alpha_factor
        self.alpha_factor, self.steps, self.pgd_alpha = float(alpha_factor), int(steps), float(pgd_alpha)
        self.noise_factor = check_eps(noise_factor, "noise_factor")
        self.ramp_batches = max(0.0, float(ramp_epochs)) * n_batches
        self.batch = 0
        self.seed = seed

    def current_eps(self) -> float:
        if self.ramp_batches <= 0:
            return self.eps
        return self.eps * min(1.0, (self.batch + 1) / self.ramp_batches)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        eps = self.current_eps()
        self.batch += 1
        if eps == 0:
            return x
        with eval_mode(model):
            if self.method == "fgsm_rs":
                return fgsm_rs(model, x, y, eps, self.alpha_factor * eps)
            if self.method == "n_fgsm":
                return n_fgsm(model, x, y, self.noise_factor * eps, self.alpha_factor * eps)
            alpha = self.pgd_alpha * eps / self.eps  # 0.01 at eps 0.3, scaled during the ramp
            return pgd(
                model, x, y, eps, alpha, self.steps, True, 1, early_stop=False, seed=self.seed * 1_000_003 + self.batch
            )


def fgsm_rs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float) -> torch.Tensor:
    """FGSM from a random start (Wong et al. 2020): ``delta ~ U(-eps, eps)``, one signed step of
    ``alpha``, projection onto the eps-ball and the pixel range. Uses the model in its current mode."""
    eps, alpha = check_eps(eps), check_eps(alpha, "alpha")
    start = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp_(0, 1)
    grad, _, _ = input_gradient(model, start, y)
    delta = (start - x + alpha * grad.sign_()).clamp_(-eps, eps)
    return (x + delta).clamp_(0, 1)


def n_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noise: float, alpha: float) -> torch.Tensor:
    """N-FGSM (de Jorge et al. 2022): ``delta ~ U(-noise, noise)``, one signed step of ``alpha``, and
    no projection onto an eps-ball (the example may lie up to ``noise + alpha`` from ``x``); only the
    pixel range is enforced. Uses the model in its current mode."""
    noise, alpha = check_eps(noise, "noise"), check_eps(alpha, "alpha")
    start = (x + torch.empty_like(x).uniform_(-noise, noise)).clamp_(0, 1)
    grad, _, _ = input_gradient(model, start, y)
    return (start + alpha * grad.sign_()).clamp_(0, 1)


def guard_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 10, apgd_steps: int = 0, seed: int = 0
) -> float:
    """The guard's number: accuracy under PGD (as :func:`pgd_accuracy`), or, with ``apgd_steps``, the
    share of images that survive both PGD and APGD-CE (``apgd_steps`` steps)."""
    if not apgd_steps:
        return pgd_accuracy(model, x, y, eps, steps, seed=seed)
    ok = pgd_correct(model, x, y, eps, steps, seed=seed)
    idx = ok.nonzero().squeeze(1)
    if len(idx):
        ok[idx] = correct_under(model, y[idx], apgd(model, x[idx], y[idx], eps, apgd_steps, "ce", seed=seed))
    return ok.float().mean().item()


def pgd_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 10,
    restarts: int = 1,
    seed: int = 0,
    loss: str = "ce",
) -> float:
    """Accuracy under PGD (``steps`` steps of :func:`~advlab.core.attacks.step_size`, random start, early stop)."""
    return pgd_correct(model, x, y, eps, steps, restarts, seed, loss).float().mean().item()


def pgd_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 10,
    restarts: int = 1,
    seed: int = 0,
    loss: str = "ce",
) -> torch.Tensor:
    """Per image: still classified correctly under :func:`pgd_accuracy`'s PGD?"""
    x_adv = pgd(model, x, y, eps, step_size(eps, steps), steps, True, restarts, loss=loss, seed=seed)
    return correct_under(model, y, x_adv)


def train_on_the_fly(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    method: str,
    eps: float,
    epochs: int,
    *,
    alpha_factor: float | None = None,
    steps: int = 40,
    pgd_alpha: float = 0.01,
    ramp_epochs: float = 0.0,
    noise_factor: float = 2.0,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    guard: tuple | None = None,
    guard_steps: int = 10,
    guard_drop: float = 0.2,
    guard_apgd_steps: int = 0,
    progress: bool | None = None,
    desc: str | None = None,
    checkpoint=None,
) -> dict:
    """Adversarial training on the fly with ``method`` (one of :data:`METHODS`); returns the history.
    ``alpha_factor``, ``noise_factor``, ``steps``, ``pgd_alpha`` and ``ramp_epochs`` go to :class:`OnTheFly`.

    ``guard = (x_val, y_val)``: held-out training images that :class:`_Guard` attacks after each epoch
    (``guard_steps``, ``guard_apgd_steps``, ``guard_drop``), rolling back to the best epoch when their
    accuracy collapses. The history: per epoch ``loss``, ``seconds``, ``eps``, ``guard_acc``; and
    ``stopped`` (None, or the reason), ``best_epoch``, ``final_epoch``. ``checkpoint``: as in
    :func:`advlab.fit` (the adversary's state, the history and the guard's best weights are saved with it).
    """
    check_xy(x, y)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    n_batches = math.ceil(len(x) / batch_size)
    attack = dict(alpha_factor=alpha_factor, steps=steps, pgd_alpha=pgd_alpha, ramp_epochs=ramp_epochs)
    adversary = OnTheFly(method, eps, n_batches=n_batches, noise_factor=noise_factor, seed=seed, **attack)
    history = {"method": method, "eps": eps, "epochs": [], "stopped": None, "best_epoch": None}
    best = {"acc": -1.0, "state": None}
    watch = dict(eps=eps, steps=guard_steps, apgd_steps=guard_apgd_steps, drop=guard_drop, seed=seed)
    check = None if guard is None else _Guard(*guard, **watch, desc=desc or method, progress=progress)

    def on_epoch_end(epoch, loss, seconds):
        row = {"epoch": epoch + 1, "loss": loss, "seconds": seconds, "eps": adversary.current_eps()}
        stop = check is not None and check(model, epoch, row, history, best)
        history["epochs"].append(row)
        return stop

    run = dict(batch_size=batch_size, lr=lr, seed=seed, progress=progress, desc=desc or method, checkpoint=checkpoint)
    state = {"history": history, "best": best}
    fit(model, x, y, epochs, adversary=adversary, on_epoch_end=on_epoch_end, state=state, **run)
    history["final_epoch"] = history["best_epoch"] if history["stopped"] else len(history["epochs"])
    return history


@dataclass
class _Guard:
    """:func:`train_on_the_fly`'s check after each epoch. The held-out images' accuracy under PGD (``steps``
    steps at the full ``eps``) is measured; if it falls more than ``drop`` below the best epoch's
    (catastrophic overfitting), the best epoch's weights are restored and training stops. With
    ``apgd_steps > 0`` an image counts only if it also survives APGD-CE with that many steps: PGD alone
    can be fooled by the bent loss surface of a single-step model."""

    x: torch.Tensor
    y: torch.Tensor
    eps: float
    steps: int
    apgd_steps: int
    drop: float
    seed: int
    desc: str
    progress: bool | None

    def __call__(self, model: nn.Module, epoch: int, row: dict, history: dict, best: dict) -> bool:
        """Measure epoch ``epoch``'s accuracy into ``row``, keep or restore the best weights; True: stop."""
        start = time.perf_counter()
        acc = guard_accuracy(model, self.x, self.y, self.eps, self.steps, self.apgd_steps, seed=self.seed)
        row.update(guard_acc=acc, guard_seconds=time.perf_counter() - start)
        stop = False
        if acc > best["acc"]:
            best.update(acc=acc, state=copy.deepcopy(model.state_dict()))
            history["best_epoch"] = epoch + 1
        elif acc < best["acc"] - self.drop:
            history["stopped"] = (
                f"catastrophic overfitting at epoch {epoch + 1}: held-out PGD accuracy "
                f"{100 * acc:.1f}% vs {100 * best['acc']:.1f}% at epoch {history['best_epoch']}; "
                f"rolled back to epoch {history['best_epoch']}"
            )
            model.load_state_dict(best["state"])
            stop = True
        if progress_enabled(self.progress):
            from tqdm.auto import tqdm

            judge = f"PGD-{self.steps}" + (f" and APGD-CE-{self.apgd_steps}" if self.apgd_steps else "")
            tqdm.write(f"{self.desc} epoch {epoch + 1}: held-out accuracy under {judge} {100 * acc:.1f}%")
        return stop
