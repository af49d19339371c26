"""Sanity checks every robustness number should pass (Carlini et al. 2019, "On Evaluating
Adversarial Robustness"), as plain functions over the merged results of a run (``results.json``).

Each check returns ``{model: {"passed": bool, "detail": str}}`` for the models it can judge; a model
(or a whole check) without the data it needs, the number of images included, is left out, and the
report shows it as "not measured".

Every check compares counts of images still classified correctly (``round(acc * n)``), never floats
at the edge of a tolerance. Two kinds of rule:

- *not weaker beyond noise*: the attack expected to be stronger may leave more images correct than the
  weaker one only within the 95% binomial noise on n images: up to the upper end of the Wilson interval
  of the weaker count (:func:`advlab.evaluation.stats.not_weaker`, :func:`~advlab.evaluation.stats.noise_margin`);
- *effect sizes*: a gap of at least or at most a set number of percentage points of n, compared exactly
  in images (:func:`advlab.evaluation.stats.gap_points`).

Checks of the curves:

- ``pgd_not_weaker_than_fgsm``: white-box PGD not weaker than FGSM beyond noise at every eps > 0.
- ``accuracy_falls_with_eps``: the white-box worst case over FGSM and PGD does not rise with eps beyond
  noise (FGSM alone may rise at large eps; the detail reports it).
- ``pgd_reaches_zero_undefended``: white-box PGD on the baseline at the largest eps <= 2 points.
- ``noise_hurts_less``: at the smallest eps where FGSM leaves the baseline under 50%, uniform random
  sign noise of the same size leaves it at least 30 points more accurate.
- ``label_leaking``: an FGSM-trained model more accurate on white-box FGSM inputs (some eps > 0) than
  on clean inputs beyond noise fails (Kurakin et al. 2017).
- ``more_steps_restarts_not_weaker``: PGD with 2k steps not weaker than k steps, and 3 independent
  restarts not weaker than 1, beyond noise (``pgd_strength``, from :func:`pgd_strength`: {model: {"eps",
  "n_images", "steps": {"k"|count: acc, "2k"|count: acc}, "restarts": {"1": acc, "3": acc},
  "independent_restarts": true}}); restarts recorded without ``independent_restarts`` share the single
  run's seed and are not judged.
- ``evaluation_converged``: the model's white-box robustness curve (its APGD-CE curve where recorded, else
  its PGD curve) at the robust evaluation's eps is at most 3 points above APGD-CE then APGD-T on the same
  images.
"""

from __future__ import annotations

from collections.abc import Callable

from advlab.core.attacks import pgd, step_size
from advlab.core.inference import correct_under
from advlab.evaluation.model_checks import CONVERGED_POINTS, NOISE, PGD_ZERO_POINTS, judge_strength
from advlab.evaluation.model_checks import MODEL_CHECKS as MODEL_CHECKS
from advlab.evaluation.model_checks import check_model as check_model
from advlab.evaluation.results import (
    acc_at,
    fgsm_on_pgd_images,
    find_curve,
    models_in,
    n_images,
    share,
    weaker_stronger,
)
from advlab.evaluation.stats import count, gap_points, noise_margin, not_weaker

NOISE_POINTS = 30  # random sign noise at least this far above FGSM where FGSM first falls below 50%
FGSM_TRAINED = ("fgsm_retrained", "fgsm_untrained")
UNDEFENDED = "baseline"
DESCRIPTIONS = {
    "pgd_not_weaker_than_fgsm": f"White-box PGD leaves no more images correct than FGSM {NOISE}, at every eps > 0.",
    "accuracy_falls_with_eps": f"The white-box worst case over FGSM and PGD does not rise with eps {NOISE}; FGSM "
    "alone may rise at large eps, which the detail reports.",
    "pgd_reaches_zero_undefended": "White-box PGD leaves at most 2% of the undefended baseline's images correct at "
    "the largest eps.",
    "noise_hurts_less": "Where FGSM first leaves the baseline under 50%, random sign noise of the same size leaves "
    "it at least 30 points higher.",
    "label_leaking": f"An FGSM-trained model is not more accurate on white-box FGSM inputs than on clean ones {NOISE}.",
    "more_steps_restarts_not_weaker": "PGD with twice the steps, and 3 independent restarts (other seeds), leave no "
    f"more images correct than k steps and 1 restart {NOISE}.",
    "evaluation_converged": "The model's white-box robustness curve (APGD-CE where recorded, else PGD) at the robust "
    "evaluation's eps is at most 3 points above APGD-CE then APGD-T on the same images.",
}


def pgd_not_weaker_than_fgsm(results: dict) -> dict:
    """White-box PGD leaves no more images correct than FGSM beyond noise, at every eps > 0."""
    out = {}
    for model in models_in(results):
        fgsm, pgd = fgsm_on_pgd_images(results, model), find_curve(results, model, "pgd")
        n = n_images(pgd)
        if not fgsm or not n:
            continue
        # eps 0 is left out: no attack runs there, and a gap only measures the two curves' test subsets.
        pairs = [
            (e, count(f, n), count(a, n))
            for e, a in zip(pgd["eps"], pgd["acc"])
            if e > 0 and (f := acc_at(fgsm, e)) is not None
        ]
        if not pairs:
            continue
        note = f" (FGSM on {n_images(fgsm)} images, counted on PGD's {n})" if n_images(fgsm) not in (None, n) else ""
        bad = [(e, kf, kp) for e, kf, kp in pairs if not not_weaker(kp, kf, n)]
        if bad:
            e, kf, kp = max(bad, key=lambda t: t[2] - t[1] - noise_margin(n, t[1]))
            detail = (
                f"PGD weaker than FGSM beyond noise at {len(bad)} of {len(pairs)} eps; worst at eps {e:g}: "
                f"PGD {share(kp, n)} vs FGSM {share(kf, n)} (noise margin {noise_margin(n, kf)} images)"
            )
        else:
            gap = max(kp - kf for _, kf, kp in pairs)
            detail = (
                f"PGD within FGSM's noise margin at all {len(pairs)} eps on {n} images "
                f"(largest PGD - FGSM: {gap:+d} images)"
            )
        out[model] = {"passed": not bad, "detail": detail + note}
    return out


def accuracy_falls_with_eps(results: dict) -> dict:
    """The white-box robust accuracy, the per-eps worst case over the model's FGSM and PGD curves (FGSM
    on PGD's images where recorded), must not rise with eps beyond noise. FGSM alone may: one step of
    size eps overshoots at large eps, so its accuracy there is not a robustness number; the detail says so."""
    out = {}
    for model in models_in(results):
        found = {"fgsm": fgsm_on_pgd_images(results, model), "pgd": find_curve(results, model, "pgd")}
        found = {a: c for a, c in found.items() if c and len(c.get("acc", [])) >= 2 and n_images(c)}
        if not found:
            continue
        n = min(n_images(c) for c in found.values())  # curves on different numbers of images: counted on the smaller
        curves = {
            a: {round(float(e), 6): count(acc, n) for e, acc in zip(c["eps"], c["acc"])} for a, c in found.items()
        }
        eps = sorted(set.intersection(*(set(v) for v in curves.values())))
        worst = [(e, min(v[e] for v in curves.values())) for e in eps]

        def rises_of(pts):
            return [
                f"{share(k0, n)} at eps {e0:g} -> {share(k1, n)} at eps {e1:g}"
                for (e0, k0), (e1, k1) in zip(pts, pts[1:])
                if not not_weaker(k1, k0, n)
            ]

        rises = rises_of(worst)
        what = " and ".join(a.upper() for a in curves)
        if rises:
            detail = (
                f"worst case over {what} rises beyond noise: "
                + "; ".join(rises[:3])
                + (" ..." if len(rises) > 3 else "")
            )
        else:
            detail = f"worst case over {what} does not rise beyond noise ({len(eps)} eps, {n} images)"
        if len(curves) > 1:
            alone = rises_of(sorted(curves["fgsm"].items()))
            if alone:
                detail += f"; FGSM alone rises ({alone[0]}): one step overshoots, PGD does not"
        out[model] = {"passed": not rises, "detail": detail}
    return out


def pgd_reaches_zero_undefended(results: dict, max_points: float = PGD_ZERO_POINTS, model: str = UNDEFENDED) -> dict:
    """White-box PGD at the largest eps leaves at most ``max_points`` percent of the undefended model's images."""
    c = find_curve(results, model, "pgd")
    n = n_images(c)
    if not n or not c.get("acc"):
        return {}
    e, a = max(zip(c["eps"], c["acc"]))
    k = count(a, n)
    return {
        model: {
            "passed": gap_points(k, 0, n) <= max_points,
            "detail": f"PGD accuracy {share(k, n)} at eps {e:g} (limit {max_points:g}%)",
        }
    }


def noise_hurts_less(results: dict, points: float = NOISE_POINTS, model: str = UNDEFENDED) -> dict:
    """At the smallest eps where FGSM leaves the model under 50%, random sign noise of the same size (on
    the FGSM curve's images) must leave at least ``points`` points more: the attack, not the size, does it."""
    noise, fgsm = results.get("noise"), find_curve(results, model, "fgsm")
    n = n_images(noise) or n_images(fgsm)
    if not noise or not fgsm or not n:
        return {}
    below = [
        e for e, a in zip(fgsm["eps"], fgsm["acc"]) if e > 0 and 2 * count(a, n) < n and acc_at(noise, e) is not None
    ]
    if not below:
        return {}
    eps = min(below)
    k_noise, k_fgsm = count(acc_at(noise, eps), n), count(acc_at(fgsm, eps), n)
    gap = gap_points(k_noise, k_fgsm, n)
    return {
        model: {
            "passed": gap >= points,
            "detail": f"at eps {eps:g} (FGSM's first eps below 50%): random noise {share(k_noise, n)} vs "
            f"FGSM {share(k_fgsm, n)} ({float(gap):+.1f} points; needs >= +{points:g})",
        }
    }


def label_leaking(results: dict, models=FGSM_TRAINED) -> dict:
    """An FGSM-trained model must not be more accurate on white-box FGSM inputs than on clean ones beyond noise."""
    out = {}
    for model in models:
        c = find_curve(results, model, "fgsm")
        n = n_images(c)
        if not n:
            continue
        clean, source = acc_at(c, 0.0), "eps 0 of the same curve"
        if clean is None:
            clean, source = results.get("models", {}).get(model, {}).get("clean_acc"), "clean test accuracy"
        if clean is None:
            continue
        k_clean = count(clean, n)
        above = [
            (e, count(a, n)) for e, a in zip(c["eps"], c["acc"]) if e > 0 and not not_weaker(count(a, n), k_clean, n)
        ]
        if above:
            e, k = max(above, key=lambda t: t[1])
            detail = (
                f"label leaking: FGSM accuracy {share(k, n)} at eps {e:g} > clean {share(k_clean, n)} "
                f"({source}) beyond noise ({noise_margin(n, k_clean)} images)"
            )
        else:
            detail = f"FGSM accuracy never above clean {share(k_clean, n)} ({source}) beyond noise"
        out[model] = {"passed": not above, "detail": detail}
    return out


def pgd_strength(model, x, y, eps: float, steps: int, alpha_factor: float = 2.5, seed: int = 0) -> dict:
    """The record :func:`more_steps_restarts_not_weaker` judges: PGD accuracy with ``steps`` and
    ``2 * steps`` steps, and with 3 restarts from seeds other than the single run's (independent, so
    the comparison can fail), on the ``len(x)`` images it records as ``n_images``."""

    def acc(k, restarts, s):
        x_adv = pgd(model, x, y, eps, step_size(eps, k, alpha_factor), k, True, restarts, seed=s)
        return int(correct_under(model, y, x_adv).sum()) / len(x)

    base = acc(steps, 1, seed)
    return {
        "eps": eps,
        "steps": {str(steps): base, str(2 * steps): acc(2 * steps, 1, seed)},
        "restarts": {"1": base, "3": acc(steps, 3, seed + 1)},
        "independent_restarts": True,
        "n_images": len(x),
    }


def more_steps_restarts_not_weaker(results: dict) -> dict:
    """2k steps not weaker than k, 3 independent restarts not weaker than 1, beyond noise (``pgd_strength``)."""
    out = {}
    for model, s in (results.get("pgd_strength") or {}).items():
        n = n_images(s)
        if not n:
            continue
        steps = weaker_stronger(s.get("steps") or {}, "k", "2k")
        restarts = weaker_stronger(s.get("restarts") or {}, "1", "3")
        steps, restarts = ([(name, count(a, n)) for name, a in pair] if pair else None for pair in (steps, restarts))
        parts, problems = judge_strength(n, steps, restarts, bool(s.get("independent_restarts")))
        if not parts:
            continue
        eps = s.get("eps")
        detail = (f"eps {eps:g}: " if isinstance(eps, (int, float)) else "") + "; ".join(parts)
        if problems:
            detail += " (" + "; ".join(problems) + ")"
        out[model] = {"passed": not problems, "detail": detail}
    return out


def evaluation_converged(results: dict, points: float = CONVERGED_POINTS) -> dict:
    """The model's white-box robustness curve (its APGD-CE curve where one is recorded, else its PGD curve) at
    the robust evaluation's eps, against APGD-CE then APGD-T on the same images (the first ``n`` of the
    evaluation's, read from its ``per_image_robust``): more than ``points`` points above means the curve's
    attack has not converged, and the curves overstate robustness."""
    out = {}
    for model, m in (results.get("models") or {}).items():
        r = m.get("robust_eval") or {}
        seq = (r.get("per_attack") or {}).get("apgd_t") or (r.get("per_attack") or {}).get("apgd_ce")
        c = find_curve(results, model, "apgd") or find_curve(results, model, "pgd")
        if not seq or not c or r.get("eps") is None:
            continue
        p, n = acc_at(c, float(r["eps"])), n_images(c)
        mask = seq.get("per_image_robust") or []
        if p is None or not n or n > len(mask):
            continue
        k_pgd, k_apgd = count(p, n), sum(bool(v) for v in mask[:n])
        gap = gap_points(k_pgd, k_apgd, n)
        which = "APGD-CE then APGD-T" if (r["per_attack"].get("apgd_t")) else "APGD-CE"
        out[model] = {
            "passed": gap <= points,
            "detail": f"eps {float(r['eps']):g}: {c['attack'].upper()} curve {share(k_pgd, n)} vs {which} "
            f"{share(k_apgd, n)} ({float(gap):+.1f} points; limit +{points:g})",
        }
    return out


CHECKS: dict[str, Callable[[dict], dict]] = {
    "pgd_not_weaker_than_fgsm": pgd_not_weaker_than_fgsm,
    "accuracy_falls_with_eps": accuracy_falls_with_eps,
    "pgd_reaches_zero_undefended": pgd_reaches_zero_undefended,
    "noise_hurts_less": noise_hurts_less,
    "label_leaking": label_leaking,
    "more_steps_restarts_not_weaker": more_steps_restarts_not_weaker,
    "evaluation_converged": evaluation_converged,
}


def run_checks(results: dict) -> dict:
    """``{check_name: {model: {"passed": bool, "detail": str}}}``; an empty dict = not measured."""
    return {name: check(results) for name, check in CHECKS.items()}


def summary(checks: dict) -> tuple[int, int, list[str]]:
    """(passed, failed, names of failed 'check (model)')."""
    passed = failed = 0
    names = []
    for name, per_model in checks.items():
        for model, r in per_model.items():
            if r["passed"]:
                passed += 1
            else:
                failed += 1
                names.append(f"{name} ({model})")
    return passed, failed, names
