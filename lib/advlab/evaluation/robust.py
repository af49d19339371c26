"""A trustworthy robust accuracy: the per-image worst case over a suite of attacks (FGSM, PGD with
restarts, the CW margin, APGD-CE and APGD-T, as AutoAttack runs them), with 95% Wilson intervals."""

from __future__ import annotations

import time

import torch
from torch import nn

from advlab.core.attacks import apgd, check_eps, fgsm, pgd, step_size
from advlab.core.inference import check_xy, correct_under
from advlab.evaluation.stats import wilson


def attack_suite(
    eps: float,
    steps: int = 40,
    alpha: float | None = None,
    restarts: int = 10,
    cw_restarts: int = 0,
    apgd_steps: int = 100,
    apgd_restarts: int = 1,
    apgd_targets: int = 9,
) -> dict:
    """The attacks of :func:`robust_eval`, by name, in the order they run: FGSM; PGD on the cross-entropy,
    ``steps`` steps of ``alpha`` (default :func:`~advlab.core.attacks.step_size`) with ``restarts`` random
    restarts; PGD on the Carlini-Wagner margin when ``cw_restarts`` > 0; then :func:`apgd_sequence`.
    0 steps or restarts leaves an attack out."""
    alpha = step_size(eps, steps) if alpha is None else alpha
    suite = {"fgsm": {"attack": "fgsm"}}
    if steps and restarts:
        suite[f"pgd{steps}x{restarts}_ce"] = {
            "attack": "pgd",
            "steps": steps,
            "alpha": alpha,
            "restarts": restarts,
            "loss": "ce",
        }
    if steps and cw_restarts:
        suite[f"pgd{steps}x{cw_restarts}_cw"] = {
            "attack": "pgd",
            "steps": steps,
            "alpha": alpha,
            "restarts": cw_restarts,
            "loss": "cw",
        }
    if apgd_steps and apgd_restarts:
        suite.update(apgd_sequence(apgd_steps, apgd_restarts, apgd_targets))
    return suite


def apgd_sequence(steps: int = 100, restarts: int = 1, targets: int = 9) -> dict:
    """APGD-CE, then APGD-T (targeted DLR, ``targets`` target classes; left out at 0) on the images
    APGD-CE did not fool (``"after"``), as AutoAttack runs them: attacks of :func:`robust_eval`."""
    seq = {"apgd_ce": {"attack": "apgd", "steps": steps, "restarts": restarts, "loss": "ce"}}
    if targets:
        seq["apgd_t"] = {
            "attack": "apgd",
            "steps": steps,
            "restarts": restarts,
            "loss": "dlr",
            "targeted": True,
            "n_target_classes": targets,
            "after": "apgd_ce",
        }
    return seq


def apgd_robust(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 100,
    targets: int = 9,
    restarts: int = 1,
    *,
    seed: int = 0,
) -> torch.Tensor:
    """Per image (bool, on the CPU): correct clean and under :func:`apgd_sequence` (:func:`robust_eval` runs it)."""
    r = robust_eval(model, x, y, eps, apgd_sequence(steps, restarts, targets), seed=seed)
    return torch.tensor(r["per_image_robust"], dtype=torch.bool)


def describe(attacks: dict) -> str:
    """A short name of the evaluation, e.g. "FGSM, PGD-40 x 10 (CE), APGD-CE, APGD-T (9 targets)"."""
    names = []
    for a in attacks.values():
        if a["attack"] == "fgsm":
            names.append("FGSM")
        elif a["attack"] == "pgd":
            names.append(f"PGD-{a['steps']} x {a.get('restarts', 1)} ({a.get('loss', 'ce').upper()})")
        elif a.get("targeted"):
            names.append(
                f"APGD-T-{a['steps']} ({a['n_target_classes']} targets"
                + (f", {a['restarts']} restarts" if a.get("restarts", 1) > 1 else "")
                + ")"
            )
        else:
            names.append(
                f"APGD-{a.get('loss', 'ce').upper()}-{a['steps']}"
                + (f" x {a['restarts']}" if a.get("restarts", 1) > 1 else "")
            )
    return ", ".join(names)


def run_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    a: dict,
    *,
    seed: int = 0,
    progress: str | None = None,
) -> torch.Tensor:
    """The adversarial examples of one attack of :func:`attack_suite` (its settings ``a``)."""
    if a["attack"] == "fgsm":
        return fgsm(model, x, y, eps, loss=a.get("loss", "ce"))
    if a["attack"] == "pgd":
        return pgd(
            model,
            x,
            y,
            eps,
            a["alpha"],
            a["steps"],
            True,
            a.get("restarts", 1),
            loss=a.get("loss", "ce"),
            seed=seed,
            progress=progress,
        )
    if a["attack"] == "apgd":
        return apgd(
            model,
            x,
            y,
            eps,
            a["steps"],
            a.get("loss", "ce"),
            a.get("targeted", False),
            a.get("n_target_classes", 9),
            a.get("restarts", 1),
            seed=seed,
            progress=progress,
        )
    raise ValueError(f"unknown attack {a['attack']!r}: use fgsm, pgd or apgd")


def _survivors(
    model: nn.Module, x, y, eps: float, a: dict, correct: torch.Tensor, *, seed: int, progress: str | None
) -> torch.Tensor:
    """Per image: still correct after attack ``a`` (of :func:`attack_suite`) on the images ``correct`` marks."""
    correct = correct.clone()
    idx = correct.nonzero().squeeze(1)
    if len(idx):
        x_adv = run_attack(model, x[idx], y[idx], eps, a, seed=seed, progress=progress)
        correct[idx] = correct_under(model, y[idx], x_adv)
    return correct


def robust_eval(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    attacks: dict | None = None,
    *,
    seed: int = 0,
    progress: str | None = None,
) -> dict:
    """Accuracy under each attack of ``attacks`` (default :func:`attack_suite`) and the per-image
    worst case over all of them: an image counts as robust only if it is classified correctly clean
    and under every attack. An attack with ``"after": name`` attacks only the images that survived
    ``name``, and its numbers are those of the sequence (APGD-CE, then APGD-T on its survivors).

    Returns ``{"eps", "n_images", "clean_acc", "robust_acc", "evaluation" (its name), "attacks":
    {name: acc}, "per_attack": {name: {"acc", "ci95", "per_image_robust", "seconds", "settings"}},
    "per_image_robust" (the worst case), "ci95": {"clean", "robust"}, "settings"}``; ``per_image_robust``
    lists one boolean per image, in the order of ``x``; ``ci95`` are 95% Wilson intervals."""
    check_xy(x, y)
    eps = check_eps(eps)
    attacks = attack_suite(eps) if attacks is None else attacks
    clean = correct_under(model, y, x)
    robust = clean.clone()
    n = len(x)
    out = {
        "eps": eps,
        "n_images": n,
        "clean_acc": int(clean.sum()) / n,
        "evaluation": describe(attacks),
        "attacks": {},
        "per_attack": {},
        "settings": attacks,
    }
    masks = {}
    for i, (name, a) in enumerate(attacks.items()):
        start = time.perf_counter()
        if a.get("after") and a["after"] not in masks:
            raise ValueError(f"attack {name!r} runs after {a['after']!r}, which must come before it")
        before = masks[a["after"]] if a.get("after") else clean
        label = f"{progress}: {name}" if progress else None
        correct = masks[name] = _survivors(model, x, y, eps, a, before, seed=seed + 7919 * i, progress=label)
        k = int(correct.sum())
        out["attacks"][name] = k / n
        out["per_attack"][name] = {
            "acc": k / n,
            "ci95": list(wilson(k, n)),
            "per_image_robust": correct.tolist(),
            "seconds": round(time.perf_counter() - start, 2),
            "settings": a,
        }
        robust &= correct
    out["robust_acc"] = int(robust.sum()) / n  # exact k / n, like each attack's accuracy
    out["per_image_robust"] = robust.tolist()
    out["ci95"] = {"clean": list(wilson(int(clean.sum()), n)), "robust": list(wilson(int(robust.sum()), n))}
    return out
