"""The loss around each test image along a few directions: a cheap look at whether a model's gradient
points where the loss is high (Athalye et al. 2018 and Carlini et al. 2019 ask for such evidence before
a robustness number is blamed on, or cleared of, *gradient masking*).

For each image ``x`` and ``t`` from 0 to ``eps``, the cross-entropy at ``clamp(x + t * d, 0, 1)`` for
``d`` the sign of the gradient at ``x`` (the direction FGSM takes) and for ``d`` random signs. A model
whose gradient is masked (zero, noisy, or pointing away from where the loss rises) gains no more loss
along its gradient than along a random direction; an unmasked one gains more on nearly every image.
"""

from __future__ import annotations

import torch
from torch import nn

from advlab.core.attacks import check_eps, input_gradient, per_sample_loss
from advlab.core.inference import check_xy, eval_mode, model_device
from advlab.evaluation.stats import wilson


def loss_along_directions(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, points: int = 7, n_random: int = 2, seed: int = 0
) -> dict:
    """Mean cross-entropy along the gradient's sign and along ``n_random`` random sign directions, at
    ``points`` values of ``t`` from 0 to ``eps``; per direction, the images misclassified at ``t = eps``.

    Returns ``{"eps", "t", "n_images", "gradient": [mean loss per t], "random": [mean over the random
    directions], "wrong_at_eps": {"gradient": k, "random": k (the mean count, rounded)}, "gradient_above_random":
    k}``, where the last counts the images whose loss at ``eps`` along the gradient's sign exceeds the mean of
    their losses along the random directions."""
    check_xy(x, y)
    eps = check_eps(eps)
    if points < 2 or n_random < 1:
        raise ValueError(f"need points >= 2 and n_random >= 1, got points={points}, n_random={n_random}")
    ts = torch.linspace(0, eps, points)
    x, y = x.to(model_device(model)), y.to(model_device(model))
    with eval_mode(model):
        grad, _, _ = input_gradient(model, x, y)
    generator = torch.Generator().manual_seed(int(seed))
    randoms = [(torch.randint(0, 2, x.shape, generator=generator).to(x) * 2 - 1) for _ in range(n_random)]
    along = {"gradient": _profile(model, x, y, grad.sign(), ts)}
    profiles = [_profile(model, x, y, d, ts) for d in randoms]
    along["random"] = (torch.stack([p[0] for p in profiles]).mean(0), torch.stack([p[1] for p in profiles]).mean(0))
    return {
        "eps": eps,
        "t": [round(float(t), 6) for t in ts],
        "n_images": len(x),
        "gradient": along["gradient"][0].mean(1).tolist(),
        "random": along["random"][0].mean(1).tolist(),
        "wrong_at_eps": {k: int(round(float(v[1][-1].sum()))) for k, v in along.items()},
        "gradient_above_random": int((along["gradient"][0][-1] > along["random"][0][-1]).sum()),
    }


def _profile(model: nn.Module, x, y, direction, ts) -> tuple[torch.Tensor, torch.Tensor]:
    """Per ``t`` and image: the cross-entropy at ``x + t * direction`` (clamped) and whether it is misclassified."""
    losses, wrong = [], []
    with torch.no_grad(), eval_mode(model):
        for t in ts:
            logits = model((x + float(t) * direction).clamp(0, 1))
            losses.append(per_sample_loss(logits, y, "ce"))
            wrong.append((logits.argmax(1) != y).float())
    return torch.stack(losses), torch.stack(wrong)


def gradient_informative(record: dict) -> bool:
    """Does the loss rise more along the gradient's sign than along random signs on more than half the images,
    beyond the 95% noise (the lower end of the Wilson interval of ``gradient_above_random`` is above 1/2)?"""
    return wilson(record["gradient_above_random"], record["n_images"])[0] > 0.5
