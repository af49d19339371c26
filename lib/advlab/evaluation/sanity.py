"""Sanity checks every robustness number should pass (Carlini et al. 2019, "On Evaluating
Adversarial Robustness"), as plain functions over the merged results of a run (``results.json``).

Each check returns ``{model: {"passed": bool, "detail": str}}`` for the models it can judge; a model
(or a whole check) without the data it needs is left out, and the report shows it as "not measured".
Accuracies are fractions in [0, 1]; tolerances below are in percentage points.

- ``pgd_not_weaker_than_fgsm``: white-box PGD accuracy <= FGSM accuracy + 2 points at every eps > 0.
- ``accuracy_falls_with_eps``: the white-box worst case over FGSM and PGD is non-increasing in eps,
  within 2 points (FGSM alone may rise at large eps; the detail reports it).
- ``pgd_reaches_zero_undefended``: white-box PGD on the baseline at the largest eps <= 2%.
- ``noise_hurts_less``: at the smallest eps where FGSM drives the baseline below 50%, uniform random
  sign noise of the same size leaves it at least 30 points more accurate.
- ``label_leaking``: an FGSM-trained model that scores higher on white-box FGSM inputs (some eps > 0)
  than on clean inputs fails (Kurakin et al. 2017).
- ``more_steps_restarts_not_weaker``: PGD with 2k steps <= k steps + 1 point, and 3 independent
  restarts <= 1 + 1 point (``pgd_strength``, from :func:`pgd_strength`: {model: {"eps", "steps": {"k"|count:
  acc, "2k"|count: acc}, "restarts": {"1": acc, "3": acc}, "independent_restarts": true}}); restarts
  recorded without ``independent_restarts`` share the single run's seed and are not judged.
- ``evaluation_converged``: the white-box PGD curve at the robust evaluation's eps is at most 3 points
  above APGD-CE then APGD-T on the same images.
"""
from __future__ import annotations

from typing import Callable

from advlab.evaluation.results import acc_at, find_curve, pct

PGD_VS_FGSM_TOL = 0.02
MONOTONE_TOL = 0.02
PGD_ZERO_MAX = 0.02
NOISE_MARGIN = 0.30
STEPS_TOL = 0.01
RESTARTS_TOL = 0.0
INDEPENDENT_RESTARTS_TOL = 0.01   # 3 restarts from other seeds vs 1: sampling noise on a few images
CONVERGED_TOL = 0.03   # fixed-step PGD may be this much above APGD (same images, same eps)
NOISE_GAP = 0.05    # check_model: uniform noise must leave at least this much more accuracy than PGD
CE_CW_TOL = 0.05    # check_model: PGD on cross-entropy within this of PGD on the CW margin
FGSM_TRAINED = ("fgsm_retrained", "fgsm_untrained")
UNDEFENDED = "baseline"

DESCRIPTIONS = {
    "pgd_not_weaker_than_fgsm": "White-box PGD accuracy is at most FGSM accuracy + 2 points at every eps > 0 (same model).",
    "accuracy_falls_with_eps": "The white-box worst case over FGSM and PGD is non-increasing in eps (2 points tolerance); FGSM alone may rise at large eps, which the detail reports.",
    "pgd_reaches_zero_undefended": "White-box PGD drives the undefended baseline to at most 2% at the largest eps.",
    "noise_hurts_less": "Where FGSM first drives the baseline below 50%, random sign noise of the same size leaves it at least 30 points higher.",
    "label_leaking": "An FGSM-trained model is never more accurate on white-box FGSM inputs than on clean ones.",
    "more_steps_restarts_not_weaker": "PGD with twice the steps is not weaker (+1 point tolerance); 3 independent restarts (other seeds) are not weaker than 1 (+1 point).",
    "evaluation_converged": "The white-box PGD curve at the robust evaluation's eps is at most 3 points above APGD-CE then APGD-T on the same images.",
}


def _models(results: dict) -> list[str]:
    seen = []
    for c in results.get("curves", []):
        if c.get("model") not in seen:
            seen.append(c.get("model"))
    return seen


def pgd_not_weaker_than_fgsm(results: dict, tol: float = PGD_VS_FGSM_TOL) -> dict:
    out = {}
    for model in _models(results):
        fgsm, pgd = find_curve(results, model, "fgsm"), find_curve(results, model, "pgd")
        if not fgsm or not pgd:
            continue
        sub = fgsm.get("subset")
        if sub and sub.get("n_images") == pgd.get("n_images"):  # FGSM on exactly PGD's images
            fgsm = {**fgsm, "acc": sub["acc"], "n_images": sub["n_images"]}
        # eps 0 is left out: no attack runs there, and a gap only measures the two curves' test subsets.
        pairs = [(e, acc_at(fgsm, e), a) for e, a in zip(pgd["eps"], pgd["acc"]) if e > 0 and acc_at(fgsm, e) is not None]
        if not pairs:
            continue
        n_f, n_p = fgsm.get("n_images"), pgd.get("n_images")
        note = f" (PGD on {n_p} images, FGSM on {n_f})" if n_f and n_p and n_f != n_p else ""
        bad = [(e, f, p) for e, f, p in pairs if p > f + tol]
        if bad:
            e, f, p = max(bad, key=lambda t: t[2] - t[1])
            detail = (f"PGD weaker than FGSM at {len(bad)} of {len(pairs)} eps; worst at eps {e:g}: "
                      f"PGD {pct(p)} vs FGSM {pct(f)}")
        else:
            gap = max(p - f for _, f, p in pairs)
            detail = f"PGD <= FGSM + {100 * tol:g} points at all {len(pairs)} eps (largest PGD - FGSM: {100 * gap:+.1f} points)"
        out[model] = {"passed": not bad, "detail": detail + note}
    return out


def accuracy_falls_with_eps(results: dict, tol: float = MONOTONE_TOL) -> dict:
    """The white-box robust accuracy, the per-eps worst case over the model's FGSM and PGD curves (FGSM
    on PGD's images where recorded), must not rise with eps. FGSM alone may: one step of size eps
    overshoots at large eps, so its accuracy there is not a robustness number; the detail says so."""
    out = {}
    for model in _models(results):
        curves = {}
        for attack in ("fgsm", "pgd"):
            c = find_curve(results, model, attack)
            if c and len(c.get("acc", [])) >= 2:
                sub = c.get("subset")
                pgd_c = find_curve(results, model, "pgd")
                if attack == "fgsm" and sub and pgd_c and sub.get("n_images") == pgd_c.get("n_images"):
                    c = {**c, "acc": sub["acc"]}
                curves[attack] = dict(zip([round(float(e), 6) for e in c["eps"]], c["acc"]))
        if not curves:
            continue
        eps = sorted(set.intersection(*(set(v) for v in curves.values())))
        worst = [(e, min(v[e] for v in curves.values())) for e in eps]

        def rises_of(pts):
            return [f"{pct(a0)} at eps {e0:g} -> {pct(a1)} at eps {e1:g}"
                    for (e0, a0), (e1, a1) in zip(pts, pts[1:]) if a1 > a0 + tol]

        rises = rises_of(worst)
        what = " and ".join(a.upper() for a in curves)
        if rises:
            detail = f"worst case over {what} rises: " + "; ".join(rises[:3]) + (" ..." if len(rises) > 3 else "")
        else:
            detail = f"worst case over {what} non-increasing within {100 * tol:g} points ({len(eps)} eps)"
        if len(curves) > 1:
            alone = rises_of(sorted(curves["fgsm"].items()))
            if alone:
                detail += f"; FGSM alone rises ({alone[0]}): one step overshoots, PGD does not"
        out[model] = {"passed": not rises, "detail": detail}
    return out


def pgd_reaches_zero_undefended(results: dict, max_acc: float = PGD_ZERO_MAX, model: str = UNDEFENDED) -> dict:
    c = find_curve(results, model, "pgd")
    if not c or not c.get("acc"):
        return {}
    e, a = max(zip(c["eps"], c["acc"]))
    return {model: {"passed": a <= max_acc, "detail": f"PGD accuracy {pct(a)} at eps {e:g} (limit {pct(max_acc)})"}}


def noise_hurts_less(results: dict, margin: float = NOISE_MARGIN, model: str = UNDEFENDED) -> dict:
    """At the smallest eps where FGSM drives the model below 50%, random sign noise of the same size
    must leave it at least ``margin`` more accurate (the attack, not the perturbation's size, does it)."""
    noise, fgsm = results.get("noise"), find_curve(results, model, "fgsm")
    if not noise or not fgsm:
        return {}
    below = [e for e, a in zip(fgsm["eps"], fgsm["acc"]) if e > 0 and a < 0.5 and acc_at(noise, e) is not None]
    if not below:
        return {}
    eps = min(below)
    n, f = acc_at(noise, eps), acc_at(fgsm, eps)
    return {model: {"passed": n >= f + margin,
                    "detail": f"at eps {eps:g} (FGSM's first eps below 50%): random noise {pct(n)} vs FGSM "
                              f"{pct(f)} ({100 * (n - f):+.1f} points; needs >= +{100 * margin:g})"}}


def label_leaking(results: dict, models=FGSM_TRAINED) -> dict:
    out = {}
    for model in models:
        c = find_curve(results, model, "fgsm")
        if not c:
            continue
        clean = acc_at(c, 0.0)
        source = "eps 0 of the same curve"
        if clean is None:
            clean = results.get("models", {}).get(model, {}).get("clean_acc")
            source = "clean test accuracy"
        if clean is None:
            continue
        above = [(e, a) for e, a in zip(c["eps"], c["acc"]) if e > 0 and a > clean]
        if above:
            e, a = max(above, key=lambda t: t[1])
            detail = f"label leaking: FGSM accuracy {pct(a)} at eps {e:g} > clean {pct(clean)} ({source})"
        else:
            detail = f"FGSM accuracy never above clean {pct(clean)} ({source})"
        out[model] = {"passed": not above, "detail": detail}
    return out


def _fewer_more(d: dict, few: str, many: str):
    """(label, acc) of the weaker and the stronger setting: keys ``few``/``many`` ("k"/"2k", "1"/"3"),
    or else the smallest and largest numeric keys (a notebook may record the actual step counts)."""
    if few in d and many in d:
        return (few, d[few]), (many, d[many])
    try:
        items = sorted((float(k), k, v) for k, v in d.items())
    except (TypeError, ValueError):
        return None
    if len(items) < 2:
        return None
    return (items[0][1], items[0][2]), (items[-1][1], items[-1][2])


def pgd_strength(model, x, y, eps: float, steps: int, alpha_factor: float = 2.5, seed: int = 0) -> dict:
    """The record :func:`more_steps_restarts_not_weaker` judges: PGD accuracy with ``steps`` and
    ``2 * steps`` steps, and with 3 restarts from seeds other than the single run's (independent, so
    the comparison can fail)."""
    from advlab.core.attacks import pgd
    from advlab.core.inference import evaluate

    def acc(k, restarts, s):
        return evaluate(model, pgd(model, x, y, eps, alpha_factor * eps / k, k, True, restarts, seed=s), y)

    base = acc(steps, 1, seed)
    return {"eps": eps, "steps": {str(steps): base, str(2 * steps): acc(2 * steps, 1, seed)},
            "restarts": {"1": base, "3": acc(steps, 3, seed + 1)}, "independent_restarts": True,
            "n_images": len(x)}


def more_steps_restarts_not_weaker(results: dict, steps_tol: float = STEPS_TOL,
                                   restarts_tol: float = INDEPENDENT_RESTARTS_TOL) -> dict:
    out = {}
    for model, s in (results.get("pgd_strength") or {}).items():
        problems, parts = [], []
        steps = _fewer_more(s.get("steps") or {}, "k", "2k")
        if steps:
            (k_name, k), (k2_name, k2) = steps
            parts.append(f"{k_name} steps {pct(k)} -> {k2_name} steps {pct(k2)}")
            if k2 > k + steps_tol:
                problems.append(f"more steps raised accuracy by more than {100 * steps_tol:g} point")
        restarts = _fewer_more(s.get("restarts") or {}, "1", "3")
        if restarts and not s.get("independent_restarts"):
            parts.append("restarts not judged (they share the single run's seed, so they cannot be weaker; "
                         "record them with sanity.pgd_strength)")
        elif restarts:
            (r1_name, r1), (r3_name, r3) = restarts
            parts.append(f"{r1_name} restart(s) {pct(r1)} -> {r3_name} independent restarts {pct(r3)}")
            if r3 > r1 + restarts_tol:
                problems.append("more restarts raised accuracy")
        if not parts:
            continue
        eps = s.get("eps")
        detail = (f"eps {eps:g}: " if isinstance(eps, (int, float)) else "") + "; ".join(parts)
        if problems:
            detail += " (" + ", ".join(problems) + ")"
        out[model] = {"passed": not problems, "detail": detail}
    return out


def evaluation_converged(results: dict, tol: float = CONVERGED_TOL) -> dict:
    """The white-box PGD curve at the robust evaluation's eps, against APGD-CE then APGD-T on the same
    images (the first ``n`` of the evaluation's, read from its ``per_image_robust``): PGD more than
    ``tol`` above APGD means fixed-step PGD has not converged, and the curves overstate robustness."""
    out = {}
    for model, m in (results.get("models") or {}).items():
        r = m.get("robust_eval") or {}
        seq = (r.get("per_attack") or {}).get("apgd_t") or (r.get("per_attack") or {}).get("apgd_ce")
        c = find_curve(results, model, "pgd")
        if not seq or not c or r.get("eps") is None:
            continue
        p, n = acc_at(c, float(r["eps"])), c.get("n_images")
        mask = seq.get("per_image_robust") or []
        if p is None or not n or n > len(mask):
            continue
        a = sum(bool(v) for v in mask[:n]) / n
        which = "APGD-CE then APGD-T" if (r["per_attack"].get("apgd_t")) else "APGD-CE"
        out[model] = {"passed": p <= a + tol,
                      "detail": f"eps {float(r['eps']):g}, {n} images: PGD curve {pct(p)} vs {which} {pct(a)} "
                                f"({100 * (p - a):+.1f} points; limit +{100 * tol:g})"}
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


# --- checks that attack a model directly ------------------------------------------------------------

MODEL_CHECKS = {
    "pgd_not_weaker_than_fgsm": "PGD accuracy is at most FGSM accuracy + 1 point (same images, same eps).",
    "more_steps_restarts_not_weaker": "PGD with 2k steps is not weaker than k steps (+1 point); 3 independent restarts "
                                      "(other seeds) are not weaker than 1 (+1 point).",
    "evaluation_converged": "The fixed-step PGD behind the curves is at most 3 points above APGD-CE then APGD-T (AutoAttack's "
                            "optimiser) on the same images: a stronger optimiser does not find much more.",
    "accuracy_falls_with_eps": "PGD accuracy does not rise from eps/2 to eps to 1.0, and an unbounded attack (eps 1.0, any image "
                               "reachable) leaves at most 2%; an undefended model is at most 2% already at eps.",
    "noise_hurts_less": "Uniform noise of the same eps leaves accuracy at least 5 points above PGD's.",
    "label_leaking": "FGSM with the true labels is not weaker than FGSM with the model's own predictions (+1 point), "
                     "and never more accurate than clean inputs.",
    "loss_on_logits": "PGD on the cross-entropy is within 5 points of PGD on the Carlini-Wagner margin of the logits "
                      "(a larger gap means a saturated softmax hides the gradient).",
}


def check_model(model, x, y, eps: float = 0.3, *, steps: int = 10, undefended: bool = False,
                seed: int = 0, apgd_robust=None, apgd_steps: int = 100, apgd_targets: int = 9) -> dict:
    """Attack ``model`` on ``(x, y)`` in the ways GUIDE §3 lists and judge the numbers:
    ``{check_name: {"passed": bool, "detail": str}}`` (names and rules in ``MODEL_CHECKS``).

    ``apgd_robust``: per image, robust under APGD-CE then APGD-T at ``eps`` (e.g. from
    :func:`advlab.evaluation.robust.robust_eval` on the same images); computed here (``apgd_steps``,
    ``apgd_targets``) when None.

    A model whose gradients are masked (zero, or vanishing through a saturated softmax) fails several
    of them: FGSM and PGD then do little more than the random start, which noise matches, and an
    unbounded attack does not reach zero.
    """
    import torch

    from advlab.core.attacks import apgd, fgsm
    from advlab.core.inference import predict
    from advlab.core.adversarial_training import pgd_accuracy

    def acc(x_adv):
        return (predict(model, x_adv) == y).float().mean().item()

    def pgd_acc(e, k=steps, restarts=1, loss="ce"):
        return pgd_accuracy(model, x, y, e, k, restarts, seed=seed, loss=loss)

    gen = torch.Generator().manual_seed(seed)
    clean = acc(x)
    f_true = acc(fgsm(model, x, y, eps))
    f_pred = acc(fgsm(model, x, predict(model, x), eps))
    noise = acc((x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1))
    p = pgd_acc(eps)
    p2 = pgd_acc(eps, 2 * steps)
    p3 = pgd_accuracy(model, x, y, eps, steps, 3, seed=seed + 1)   # independent of the single run's start
    if apgd_robust is None:
        apgd_robust = predict(model, apgd(model, x, y, eps, apgd_steps, "ce", seed=seed)) == y
        idx = apgd_robust.nonzero().squeeze(1)
        if len(idx) and apgd_targets:
            x_t = apgd(model, x[idx], y[idx], eps, apgd_steps, "dlr", targeted=True, n_target_classes=apgd_targets,
                       seed=seed)
            apgd_robust[idx] = predict(model, x_t) == y[idx]
    p_apgd = torch.as_tensor(apgd_robust).float().mean().item()
    p_half = pgd_acc(eps / 2)
    p_big = pgd_acc(1.0)
    p_cw = pgd_acc(eps, loss="cw")
    out = {}
    out["pgd_not_weaker_than_fgsm"] = {
        "passed": p <= f_true + STEPS_TOL,
        "detail": f"eps {eps:g}: PGD-{steps} {pct(p)} vs FGSM {pct(f_true)}"}
    problems = [w for w, bad in (("more steps raised accuracy", p2 > p + STEPS_TOL),
                                 ("more restarts raised accuracy", p3 > p + INDEPENDENT_RESTARTS_TOL)) if bad]
    out["more_steps_restarts_not_weaker"] = {
        "passed": not problems,
        "detail": f"eps {eps:g}: {steps} steps {pct(p)} -> {2 * steps} steps {pct(p2)}; 3 independent restarts {pct(p3)}"
                  + (f" ({', '.join(problems)})" if problems else "")}
    out["evaluation_converged"] = {
        "passed": p <= p_apgd + CONVERGED_TOL,
        "detail": f"eps {eps:g}: PGD-{steps} {pct(p)} vs APGD-CE then APGD-T {pct(p_apgd)} "
                  f"({100 * (p - p_apgd):+.1f} points; limit +{100 * CONVERGED_TOL:g})"}
    rises = p > p_half + MONOTONE_TOL or p_big > p + MONOTONE_TOL
    limit_bad = p_big > PGD_ZERO_MAX or (undefended and p > PGD_ZERO_MAX)
    out["accuracy_falls_with_eps"] = {
        "passed": not rises and not limit_bad,
        "detail": f"PGD-{steps}: eps {eps / 2:g} {pct(p_half)}, eps {eps:g} {pct(p)}, eps 1.0 {pct(p_big)}"
                  + (" (rises with eps)" if rises else "")
                  + (f" (above {pct(PGD_ZERO_MAX)} where it should reach ~0)" if limit_bad else "")}
    out["noise_hurts_less"] = {
        "passed": noise >= p + NOISE_GAP,
        "detail": f"eps {eps:g}: uniform noise {pct(noise)} vs PGD {pct(p)} ({100 * (noise - p):+.1f} points; "
                  f"needs >= +{100 * NOISE_GAP:g})"}
    leak = f_true > f_pred + STEPS_TOL or f_true > clean
    out["label_leaking"] = {
        "passed": not leak,
        "detail": f"eps {eps:g}: FGSM with true labels {pct(f_true)}, with predicted labels {pct(f_pred)}, clean {pct(clean)}"}
    out["loss_on_logits"] = {
        "passed": p <= p_cw + CE_CW_TOL,
        "detail": f"eps {eps:g}: PGD-{steps} cross-entropy {pct(p)} vs CW margin {pct(p_cw)}"}
    return out
