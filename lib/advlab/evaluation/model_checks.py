"""Sanity checks that attack a model directly (:func:`check_model`), and the rules they share with the
checks of recorded curves in :mod:`advlab.evaluation.sanity`: counts of images, compared either as not
weaker beyond the 95% noise on n images (:func:`advlab.evaluation.stats.not_weaker`) or as an effect
size in percentage points of n (:func:`advlab.evaluation.stats.gap_points`)."""

from __future__ import annotations

from advlab.core.adversarial_training import pgd_correct
from advlab.core.attacks import fgsm
from advlab.core.inference import correct_under, predict
from advlab.evaluation.results import share
from advlab.evaluation.robust import apgd_robust as apgd_sequence_robust
from advlab.evaluation.stats import gap_points, noise_margin, not_weaker

PGD_ZERO_POINTS = 2  # PGD at most this far above 0% where it should reach zero
CONVERGED_POINTS = 3  # fixed-step PGD at most this far above APGD (same images, same eps)
NOISE_GAP_POINTS = 5  # uniform noise at least this far above PGD
CE_CW_POINTS = 5  # PGD on the cross-entropy at most this far above PGD on the CW margin

NOISE = "beyond the 95% noise on n images (above the upper end of the weaker count's Wilson interval)"


def judge_strength(n: int, steps, restarts, independent: bool) -> tuple[list[str], list[str]]:
    """(parts, problems) of the detail: ``steps`` and ``restarts`` are ((label, count), (label, count)),
    the weaker setting first; the stronger one fails when it leaves more images correct beyond noise."""
    parts, problems = [], []
    if steps:
        (k_name, k), (k2_name, k2) = steps
        parts.append(f"{k_name} steps {share(k, n)} -> {k2_name} steps {share(k2, n)}")
        if not not_weaker(k2, k, n):
            problems.append(f"more steps left {k2 - k} more images correct, noise margin {noise_margin(n, k)}")
    if restarts and not independent:
        parts.append(
            "restarts not judged (they share the single run's seed, so they cannot be weaker; "
            "record them with sanity.pgd_strength)"
        )
    elif restarts:
        (r1_name, r1), (r3_name, r3) = restarts
        parts.append(f"{r1_name} restart(s) {share(r1, n)} -> {r3_name} independent restarts {share(r3, n)}")
        if not not_weaker(r3, r1, n):
            problems.append(f"more restarts left {r3 - r1} more images correct, noise margin {noise_margin(n, r1)}")
    return parts, problems


MODEL_CHECKS = {
    "pgd_not_weaker_than_fgsm": f"PGD leaves no more images correct than FGSM {NOISE} (same images, same eps).",
    "more_steps_restarts_not_weaker": "PGD with 2k steps, and 3 independent restarts (other seeds), leave no more "
    f"images correct than k steps and 1 restart {NOISE}.",
    "evaluation_converged": "The attack behind the white-box curves (fixed-step PGD, or APGD-CE where the curves use "
    "it) is at most 3 points above APGD-CE then APGD-T (AutoAttack's optimiser) on the same images: a stronger "
    "optimiser does not find much more.",
    "accuracy_falls_with_eps": f"PGD accuracy does not rise from eps/2 to eps to 1.0 {NOISE}, and an unbounded "
    "attack (eps 1.0, any image reachable) leaves at most 2%; an undefended model is at most 2% already at eps.",
    "noise_hurts_less": "Uniform noise of the same eps leaves accuracy at least 5 points above PGD's.",
    "label_leaking": "FGSM with the true labels leaves no more images correct than FGSM with the model's own "
    f"predictions, nor than clean inputs, {NOISE}.",
    "loss_on_logits": "PGD on the cross-entropy is at most 5 points above PGD on the Carlini-Wagner margin of the "
    "logits (a larger gap means a saturated softmax hides the gradient).",
}


def _model_counts(
    model, x, y, eps: float, steps: int, seed: int, apgd_robust, apgd_steps: int, apgd_targets: int
) -> dict:
    """Images of ``x`` still classified correctly: clean and under each attack :func:`check_model` judges."""
    import torch

    def k(x_adv):
        return int(correct_under(model, y, x_adv).sum())

    def k_pgd(e, n_steps=steps, restarts=1, loss="ce", s=seed):
        return int(pgd_correct(model, x, y, e, n_steps, restarts, s, loss).sum())

    if apgd_robust is None:
        apgd_robust = apgd_sequence_robust(model, x, y, eps, apgd_steps, apgd_targets, seed=seed)
    noise = (torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1).to(x.device) * eps
    return {
        "clean": k(x),
        "fgsm": k(fgsm(model, x, y, eps)),
        "fgsm_pred": k(fgsm(model, x, predict(model, x), eps)),
        "noise": k((x + noise).clamp(0, 1)),
        "pgd": k_pgd(eps),
        "pgd_2k": k_pgd(eps, 2 * steps),
        "pgd_3r": k_pgd(eps, restarts=3, s=seed + 1),  # independent of the single run's start
        "apgd": int(torch.as_tensor(apgd_robust).sum()),
        "pgd_half": k_pgd(eps / 2),
        "pgd_big": k_pgd(1.0),
        "pgd_cw": k_pgd(eps, loss="cw"),
    }


def _judge_model(k: dict, n: int, eps: float, steps: int, undefended: bool, curve_name: str | None = None) -> dict:
    """The verdicts of :func:`check_model` from the counts of :func:`_model_counts` on ``n`` images (``k["curve"]``:
    images robust under the curves' attack ``curve_name``, when it is not PGD-``steps``)."""
    s = {name: share(v, n) for name, v in k.items()}
    out = {
        "pgd_not_weaker_than_fgsm": {
            "passed": not_weaker(k["pgd"], k["fgsm"], n),
            "detail": f"eps {eps:g}: PGD-{steps} {s['pgd']} vs FGSM {s['fgsm']} "
            f"(noise margin {noise_margin(n, k['fgsm'])} images)",
        }
    }
    parts, problems = judge_strength(
        n, ((str(steps), k["pgd"]), (str(2 * steps), k["pgd_2k"])), (("1", k["pgd"]), ("3", k["pgd_3r"])), True
    )
    out["more_steps_restarts_not_weaker"] = {
        "passed": not problems,
        "detail": f"eps {eps:g}: " + "; ".join(parts) + (f" ({'; '.join(problems)})" if problems else ""),
    }
    curve, curve_name = ("curve", curve_name) if "curve" in k else ("pgd", f"PGD-{steps}")
    gap = gap_points(k[curve], k["apgd"], n)
    out["evaluation_converged"] = {
        "passed": gap <= CONVERGED_POINTS,
        "detail": f"eps {eps:g}: {curve_name} {s[curve]} vs APGD-CE then APGD-T {s['apgd']} "
        f"({float(gap):+.1f} points; limit +{CONVERGED_POINTS:g})",
    }
    rises = not not_weaker(k["pgd"], k["pgd_half"], n) or not not_weaker(k["pgd_big"], k["pgd"], n)
    limit_bad = gap_points(k["pgd_big"], 0, n) > PGD_ZERO_POINTS or (
        undefended and gap_points(k["pgd"], 0, n) > PGD_ZERO_POINTS
    )
    out["accuracy_falls_with_eps"] = {
        "passed": not rises and not limit_bad,
        "detail": f"PGD-{steps}: eps {eps / 2:g} {s['pgd_half']}, eps {eps:g} {s['pgd']}, eps 1.0 {s['pgd_big']}"
        + (" (rises with eps beyond noise)" if rises else "")
        + (f" (above {PGD_ZERO_POINTS:g}% where it should reach ~0)" if limit_bad else ""),
    }
    gap = gap_points(k["noise"], k["pgd"], n)
    out["noise_hurts_less"] = {
        "passed": gap >= NOISE_GAP_POINTS,
        "detail": f"eps {eps:g}: uniform noise {s['noise']} vs PGD {s['pgd']} ({float(gap):+.1f} points; "
        f"needs >= +{NOISE_GAP_POINTS:g})",
    }
    leak = not not_weaker(k["fgsm"], k["fgsm_pred"], n) or not not_weaker(k["fgsm"], k["clean"], n)
    out["label_leaking"] = {
        "passed": not leak,
        "detail": f"eps {eps:g}: FGSM with true labels {s['fgsm']}, with predicted labels {s['fgsm_pred']}, "
        f"clean {s['clean']}" + (" (true labels weaker beyond noise)" if leak else ""),
    }
    gap = gap_points(k["pgd"], k["pgd_cw"], n)
    out["loss_on_logits"] = {
        "passed": gap <= CE_CW_POINTS,
        "detail": f"eps {eps:g}: PGD-{steps} cross-entropy {s['pgd']} vs CW margin {s['pgd_cw']} "
        f"({float(gap):+.1f} points; limit +{CE_CW_POINTS:g})",
    }
    return out


def check_model(
    model,
    x,
    y,
    eps: float = 0.3,
    *,
    steps: int = 10,
    undefended: bool = False,
    seed: int = 0,
    apgd_robust=None,
    apgd_steps: int = 100,
    apgd_targets: int = 9,
    curve_robust=None,
    curve_name: str = "APGD-CE",
) -> dict:
    """Attack ``model`` on ``(x, y)`` in the ways Carlini et al. (2019, https://arxiv.org/abs/1902.06705)
    recommend and judge the numbers: ``{check_name: {"passed": bool, "detail": str}}`` (names and rules
    in ``MODEL_CHECKS``), in counts of images as the module says.

    ``apgd_robust``: per image, robust under APGD-CE then APGD-T at ``eps`` (e.g. from
    :func:`advlab.evaluation.robust.robust_eval` on the same images); computed here by
    :func:`advlab.evaluation.robust.apgd_robust` (``apgd_steps``, ``apgd_targets``) when None.
    ``curve_robust``: per image, robust under the attack behind the model's white-box curves (``curve_name``)
    when that is not PGD-``steps``: ``evaluation_converged`` judges it instead of PGD.

    A model whose gradients are masked (zero, or vanishing through a saturated softmax) fails several
    of them: FGSM and PGD then do little more than the random start, which noise matches, and an
    unbounded attack does not reach zero.
    """
    k = _model_counts(model, x, y, eps, steps, seed, apgd_robust, apgd_steps, apgd_targets)
    if curve_robust is not None:
        k["curve"] = sum(bool(v) for v in curve_robust)
    return _judge_model(k, len(x), eps, steps, undefended, curve_name)
