"""L-inf adversarial attacks: FGSM, an FGSM epsilon sweep that reuses one gradient, PGD, and APGD
(Croce & Hein 2020, the core of AutoAttack).

Every attack
- runs the model in eval mode (BatchNorm statistics frozen, no dropout) and restores the caller's mode;
- takes the gradient with respect to the input only, leaving no gradient on the model's parameters;
- keeps pixels in [0, 1] and the perturbation within ``eps`` in the L-inf norm;
- works in batches (by default 1000 images; 256 on a CPU where advlab.core.allocator's setting is not in
  effect: `evaluation.default_batch`), on the model's device (CPU, CUDA or MPS), returning results on
  x's device;
- works whatever the caller's grad mode (it enables gradients for its own computation, also inside
  ``torch.no_grad()``); under ``torch.inference_mode()``, where no gradient can exist, it raises.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from advlab.core.errors import AdvlabError
from advlab.core.inference import batches, check_xy, eval_mode, model_device

LOSSES = ("ce", "cw", "dlr")


def _check_eps(eps: float, name: str = "eps") -> float:
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (pixels are in [0, 1]), got {eps}")
    return eps


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "ce") -> torch.Tensor:
    """The loss each attack maximises, one value per sample, computed on logits.

    ``ce``: cross-entropy. ``cw``: the Carlini-Wagner margin, max_{j != y} z_j - z_y (positive when
    the sample is misclassified), which does not saturate the way softmax cross-entropy can.
    ``dlr``: the difference of logits ratio of Croce & Hein (2020), the CW margin divided by
    z_(1) - z_(3) (largest minus third-largest logit): unchanged when the logits are scaled or shifted.
    """
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    if loss == "cw":
        return _other(logits, y) - logits.gather(1, y[:, None]).squeeze(1)
    if loss == "dlr":
        z = logits.sort(1).values
        return (_other(logits, y) - logits.gather(1, y[:, None]).squeeze(1)) / (z[:, -1] - z[:, -3] + 1e-12)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def _other(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{j != y} z_j: the largest logit of a wrong class."""
    return logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)


def targeted_dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The targeted DLR loss of APGD-T: (z_t - z_y) / (z_(1) - (z_(3) + z_(4)) / 2), per sample."""
    z = logits.sort(1).values
    gap = logits.gather(1, target[:, None]).squeeze(1) - logits.gather(1, y[:, None]).squeeze(1)
    return gap / (z[:, -1] - 0.5 * (z[:, -3] + z[:, -4]) + 1e-12)


def _grad_mode_ok() -> None:
    if torch.is_inference_mode_enabled():
        raise AdvlabError("an attack needs gradients, which torch.inference_mode() forbids: call it outside "
                          "`with torch.inference_mode():` (torch.no_grad() is fine)")


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "ce"):
    """Gradient of the summed per-sample loss with respect to ``x``; also returns the logits.

    The model must already be in the mode the caller wants (attacks use eval mode). ``loss`` is a name
    of :func:`per_sample_loss` or a function ``(logits, y) -> per-sample loss``. Gradients are enabled
    here whatever the caller's mode (``torch.no_grad()`` included); ``torch.inference_mode()`` is an error.
    """
    _grad_mode_ok()
    with torch.enable_grad():
        x = (x.clone() if x.is_inference() else x.detach()).requires_grad_(True)
        y = y.clone() if y.is_inference() else y
        logits = model(x)
        per = loss(logits, y) if callable(loss) else per_sample_loss(logits, y, loss)
        (grad,) = torch.autograd.grad(per.sum(), x)
    return grad, logits.detach(), per.detach()


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
         loss: str = "ce", batch_size: int | None = None) -> torch.Tensor:
    """Fast Gradient Sign Method: ``clamp(x + eps * sign(grad_x loss(model(x), y)), 0, 1)``."""
    check_xy(x, y)
    eps = _check_eps(eps)
    device = model_device(model)
    out = torch.empty_like(x)
    with eval_mode(model):
        for s in batches(len(x), batch_size, device):
            xb, yb = x[s].to(device), y[s].to(device)
            grad, _, _ = input_gradient(model, xb, yb, loss)
            out[s] = (xb + eps * grad.sign()).clamp_(0, 1).to(x.device)
    return out


def fgsm_signs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss: str = "ce",
               batch_size: int | None = None) -> torch.Tensor:
    """``sign(grad_x loss)`` for every image: FGSM at any eps is then ``clamp(x + eps * sign, 0, 1)``."""
    check_xy(x, y)
    device = model_device(model)
    out = torch.empty_like(x)
    with eval_mode(model):
        for s in batches(len(x), batch_size, device):
            grad, _, _ = input_gradient(model, x[s].to(device), y[s].to(device), loss)
            out[s] = grad.sign_().to(x.device)
    return out


def fgsm_sweep_predictions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float], *,
                           loss: str = "ce", batch_size: int | None = None) -> torch.Tensor:
    """Predictions ``[len(epsilons), N]`` under FGSM at each eps, from one gradient per batch."""
    check_xy(x, y)
    epsilons = [_check_eps(e, "every epsilon") for e in epsilons]
    device = model_device(model)
    preds = torch.empty(len(epsilons), len(x), dtype=torch.long)
    with eval_mode(model):
        for s in batches(len(x), batch_size, device):
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
               loss: str = "ce", batch_size: int | None = None) -> list[float]:
    """Accuracy under FGSM for each eps, over all images (an image wrong before the attack counts
    as wrong). One backward pass per batch serves every eps: the gradient's sign does not depend on eps."""
    preds = fgsm_sweep_predictions(model, x, y, epsilons, loss=loss, batch_size=batch_size)
    return (preds == y.cpu()[None]).float().mean(1).tolist()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int,
        random_start: bool = True, restarts: int = 1, *, loss: str = "ce", batch_size: int | None = None,
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
    # The random starts of all images, one draw per restart: the same whatever the batch size, and
    # restart r is the same run whatever the number of restarts.
    starts = None
    if random_start and eps > 0:
        starts = [torch.empty(x.shape, device=device, dtype=x.dtype).uniform_(-eps, eps, generator=gen)
                  for _ in range(int(restarts))]
    chunks = list(batches(len(x), batch_size, device))
    if progress is not None:
        from tqdm.auto import tqdm
        from advlab.core.training import progress_enabled
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

            for r in range(int(restarts)):
                xa = xb if starts is None else (xb + starts[r][s]).clamp_(0, 1)
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
                if len(idx) and restarts == 1 and not early_stop:
                    best[idx] = xa    # one run, every sample took all steps: its final iterate, unscored
                elif len(idx):
                    with torch.inference_mode():
                        logits = model(xa)
                        per = per_sample_loss(logits, y0, loss)
                    consider(idx, xa, logits, per)
            out[s] = best.to(x.device)
    return out


# --- APGD (Croce & Hein 2020) -------------------------------------------------------------------

APGD_RHO = 0.75        # halve the step when the loss rose in at most this share of a checkpoint interval
APGD_MOMENTUM = 0.75   # weight of the new step; 1 - this is the weight of the previous one


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


def apgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 100, loss: str = "ce",
         targeted: bool = False, n_target_classes: int = 9, restarts: int = 1, seed: int = 0, *,
         rho: float = APGD_RHO, batch_size: int | None = None, progress: str | None = None) -> torch.Tensor:
    """Auto-PGD (Croce & Hein 2020) in the L-inf ball of radius ``eps``: PGD with momentum whose step
    size needs no tuning. APGD-CE is ``loss="ce"``; APGD-T is ``loss="dlr", targeted=True``.

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
    check_xy(x, y)
    eps = _check_eps(eps)
    if int(steps) != steps or steps < 1 or int(restarts) != restarts or restarts < 1:
        raise ValueError(f"steps and restarts must be integers >= 1, got {steps}, {restarts}")
    if loss not in ("ce", "dlr") or (targeted and loss != "dlr"):
        raise ValueError(f"APGD's loss is 'ce' or 'dlr' (targeted: 'dlr' only), got loss={loss!r}, targeted={targeted}")
    _grad_mode_ok()
    if len(x) == 0:
        return x.clone()
    device = model_device(model)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    with eval_mode(model):
        with torch.inference_mode():
            logits = torch.cat([model(x[s].to(device)).to(x.device) for s in batches(len(x), batch_size, device)])
        alive = logits.argmax(1) == y.to(x.device)           # only correctly classified ones are attacked
        best, best_loss = x.clone(), torch.full((len(x),), -math.inf, device=x.device, dtype=x.dtype)
        if targeted:
            ranked = logits.argsort(1, descending=True)       # [true class, then the wrong ones by logit]
            targets = [ranked[:, j] for j in range(1, min(n_target_classes, logits.shape[1] - 1) + 1)]
        else:
            targets = [None]
        runs = [target for target in targets for _ in range(int(restarts))]
        if progress is not None:
            from tqdm.auto import tqdm
            from advlab.core.training import progress_enabled
            runs = tqdm(runs, desc=progress, unit="run", leave=False, disable=not progress_enabled())
        for target in runs:
            # the random starts of all images, one draw per run: the same whatever the batch size
            noise = torch.rand(x.shape, generator=gen, device=device, dtype=x.dtype) * 2 - 1
            todo = alive.nonzero().squeeze(1)
            for s in batches(len(todo), batch_size, device):
                idx = todo[s]
                run = _apgd_run(model, x[idx].to(device), y[idx].to(device), eps, int(steps), loss,
                                None if target is None else target[idx].to(device), rho, noise[idx.to(device)])
                x_adv, fooled, run_loss = (t.to(x.device) for t in run)
                better = fooled | (run_loss > best_loss[idx])
                best[idx[better]], best_loss[idx[better]] = x_adv[better], run_loss[better]
                alive[idx[fooled]] = False
    return best


def _apgd_run(model, x, y, eps, steps, loss, target, rho, noise):
    """One APGD run on a batch: ``(x_adv, fooled, loss)`` per sample, where ``x_adv`` is the first
    fooling iterate if ``fooled``, else the highest-loss iterate (whose loss is ``loss``); ``target``:
    the target class of each sample (targeted DLR loss), or None; ``noise``: uniform in [-1, 1], shaped
    like ``x``, the direction of each sample's random start.

    Fooled samples leave the batch at once; ``s`` holds the state of those still attacked, ``i`` their
    positions in the batch."""
    n = len(x)
    result, result_loss = x.clone(), torch.empty(n, device=x.device, dtype=x.dtype)
    fooled = torch.zeros(n, dtype=torch.bool, device=x.device)

    def project(z, x0):
        return torch.min(torch.max(z, x0 - eps), x0 + eps).clamp_(0, 1)

    # the reference's random start: uniform noise in [-1, 1], scaled so that its largest pixel is at eps
    x_k = (x + eps * noise / noise.flatten(1).abs().amax(1).clamp_min(1e-12)[:, None, None, None]).clamp_(0, 1)

    def gradient(s, x_at):
        if target is None:
            return input_gradient(model, x_at, s["y"], loss)
        return input_gradient(model, x_at, s["y"], lambda z, yy: targeted_dlr(z, yy, s["target"]))

    s = {"x0": x, "y": y, "target": y if target is None else target}
    grad, logits, f_k = gradient(s, x_k)
    i = torch.arange(n, device=x.device)
    s.update({"x": x_k, "x_prev": x_k, "grad": grad, "f": f_k, "best": x_k, "best_f": f_k, "best_grad": grad,
              "eta": torch.full((n, 1, 1, 1), 2 * eps, device=x.device, dtype=x.dtype),
              "rises": torch.zeros(n, device=x.device), "best_f_at_check": f_k,
              "halved_at_check": torch.ones(n, dtype=torch.bool, device=x.device)})

    def leave(s, i, done):
        """Samples ``done`` leave the batch with their current iterate (and best loss) as the result."""
        result[i[done]], result_loss[i[done]] = s["x"][done], s["best_f"][done]
        return {k: v[~done] for k, v in s.items()}, i[~done]

    def drop_fooled(logits, s, i):
        wrong = logits.argmax(1) != s["y"]
        fooled[i[wrong]] = True
        return leave(s, i, wrong)

    s, i = drop_fooled(logits, s, i)
    # A sample whose gradient is exactly zero at the start never moves: every step and momentum term is
    # zero and a restart from the best point returns to the start. Its result is the start, as it would be
    # after all the steps (gradient masking, e.g. rounded inputs, makes this common; nothing else changes).
    s, i = leave(s, i, s["grad"].flatten(1).abs().amax(1) == 0)
    checkpoints, last_check = set(apgd_checkpoints(steps)), 0
    for k in range(1, steps + 1):
        if len(i) == 0:
            break
        a = 1.0 if k == 1 else APGD_MOMENTUM
        z = project(s["x"] + s["eta"] * s["grad"].sign(), s["x0"])
        x_new = project(s["x"] + a * (z - s["x"]) + (1 - a) * (s["x"] - s["x_prev"]), s["x0"])
        grad, logits, f = gradient(s, x_new)
        s.update(x_prev=s["x"], x=x_new, grad=grad, rises=s["rises"] + (f > s["f"]).float(), f=f)
        up = f > s["best_f"]
        s["best"] = torch.where(up[:, None, None, None], x_new, s["best"])
        s["best_grad"] = torch.where(up[:, None, None, None], grad, s["best_grad"])
        s["best_f"] = torch.where(up, f, s["best_f"])
        s, i = drop_fooled(logits, s, i)
        if k in checkpoints:
            stalled = s["rises"] <= rho * (k - last_check)
            no_gain = ~s["halved_at_check"] & (s["best_f"] <= s["best_f_at_check"])
            halve = stalled | no_gain
            h = halve[:, None, None, None]
            s["eta"] = torch.where(h, s["eta"] / 2, s["eta"])
            s["x"] = torch.where(h, s["best"], s["x"])          # restart from the best point
            s["grad"] = torch.where(h, s["best_grad"], s["grad"])
            s.update(halved_at_check=halve, best_f_at_check=s["best_f"], rises=torch.zeros_like(s["rises"]))
            last_check = k
    result[i], result_loss[i] = s["best"], s["best_f"]
    result_loss[fooled] = math.inf
    return result, fooled, result_loss
