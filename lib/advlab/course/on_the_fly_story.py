"""Chapter 5's text, written from this run's numbers: what each on-the-fly model's guard curve says about its
training, what the loss along the gradient says about gradient masking, how the APGD-T of this profile picks its
targets, and the chapter's summary. Every comparison is in image counts with 95% Wilson intervals."""

from __future__ import annotations

from advlab.course.registry import label
from advlab.evaluation.landscape import gradient_informative
from advlab.evaluation.results import pct, share
from advlab.evaluation.stats import count, not_weaker, wilson


def apgd_t_targets(settings: dict) -> str:
    """How APGD-T picks its targets in ``settings`` (``robustness.robust_settings``), e.g. "each of the 3 most
    likely wrong classes in turn"."""
    t = (settings.get("apgd_t") or {}).get("n_target_classes")
    if not t:
        return "no target class (APGD-T is not run in this profile)"
    if t >= 9:
        return "each of the 9 other classes in turn"
    return f"each of the {t} most likely wrong classes in turn (AutoAttack's standard evaluation uses all 9)"


def guard_reading(name: str, history: dict, guard_n: int, eps: float) -> str:
    """One paragraph on ``name``'s guard curve: its held-out accuracy per epoch, and whether it was still rising
    beyond the 95% noise on ``guard_n`` images at the last epoch (then the model is undertrained)."""
    accs = [r["guard_acc"] for r in history["epochs"] if r.get("guard_acc") is not None]
    if not accs:
        return f"{label(name)}: no guard was recorded."
    k = [count(a, guard_n) for a in accs]
    path = " -> ".join(pct(a) for a in accs)
    text = f"**{label(name)}**: held-out accuracy at eps {eps:g}, epoch by epoch: {path} ({guard_n} images)."
    if history.get("stopped"):
        return f"{text} Training stopped: {history['stopped']}."
    if len(k) < 2:
        return f"{text} One epoch: no trend to read."
    if not not_weaker(k[-1], k[-2], guard_n):
        return (
            f"{text} It was **still rising at the last epoch** ({share(k[-2], guard_n)} -> {share(k[-1], guard_n)}, "
            "beyond the 95% noise): the model is undertrained, and more epochs would likely make it more robust."
        )
    return (
        f"{text} The last epoch added no more than the 95% noise on {guard_n} images "
        f"({share(k[-2], guard_n)} -> {share(k[-1], guard_n)}): the curve has levelled off."
    )


def masking_reading(name: str, record: dict, robust_eval: dict) -> str:
    """One paragraph on ``name``'s loss along the gradient (``robustness.loss_landscape``): masked gradient or
    not, and how much one step along it finds against APGD-CE then APGD-T on the same images."""
    n, above = record["n_images"], record["gradient_above_random"]
    lo, hi = wilson(above, n)
    who = f"**{label(name)}**: along the gradient's sign the loss rises more than along random signs on {above} of {n}"
    if not gradient_informative(record):
        return (
            f"{who} images (95% interval {100 * lo:.0f}-{100 * hi:.0f}%, not above one half): evidence of a "
            "**masked gradient**: at the clean images the gradient points no better than chance, and gradient "
            "attacks understate what an attacker can do."
        )
    seq = (robust_eval.get("per_attack") or {}).get("apgd_t") or (robust_eval.get("per_attack") or {}).get("apgd_ce")
    text = f"{who} images: no sign of a masked gradient at the clean images."
    if not seq or len(seq["per_image_robust"]) < n:
        return text
    k_step = record["wrong_at_eps"]["gradient"]
    k_apgd = n - sum(bool(v) for v in seq["per_image_robust"][:n])
    text += (
        f" Yet one step of eps {record['eps']:g} along it misclassifies {share(k_step, n)} of the images, "
        f"APGD-CE then APGD-T {share(k_apgd, n)}"
    )
    if wilson(k_step, n)[1] < wilson(k_apgd, n)[0]:
        return (
            text + ": the loss is far from linear inside the ball, so its maximum takes many adaptive steps to "
            "find, and an attack with a few fixed steps stalls before it."
        )
    return text + ": one step finds about as much as APGD, within the 95% intervals."


def convergence_reading(name: str, sanity: dict) -> str:
    """``name``'s ``evaluation_converged`` check, in a sentence: what it compared and whether it passed."""
    r = sanity.get("evaluation_converged")
    if r is None:
        return f"{label(name)}: the convergence check was not run."
    verdict = "passes" if r["passed"] else "**fails**"
    return f"{label(name)}: `evaluation_converged` {verdict} ({r['detail']})."
