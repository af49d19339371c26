"""Chapter 5's text, written from this run's numbers: what each on-the-fly model's guard curve says about its
training, what the loss along the gradient says about gradient masking, how the APGD-T of this profile picks its
targets, and the chapter's summary. Every comparison is in image counts with 95% Wilson intervals."""

from __future__ import annotations

from advlab.course.published import published_rows
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
        f"({share(k[-2], guard_n)} -> {share(k[-1], guard_n)}): no evidence that it was still improving."
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
        f" One step of eps {record['eps']:g} along it misclassifies {share(k_step, n)} of the images, "
        f"APGD-CE then APGD-T {share(k_apgd, n)}"
    )
    if wilson(k_step, n)[1] < wilson(k_apgd, n)[0]:
        return (
            text + ": clearly fewer (the 95% Wilson intervals are apart). The loss is not linear inside the ball, "
            "so its maximum takes several adaptive steps to find, and an attack with a few fixed steps can stall "
            "before it."
        )
    return text + ": one step finds about as much as APGD, within the 95% intervals."


def convergence_reading(name: str, sanity: dict) -> str:
    """``name``'s ``evaluation_converged`` check, in a sentence: what it compared and whether it passed."""
    r = sanity.get("evaluation_converged")
    if r is None:
        return f"{label(name)}: the convergence check was not run."
    verdict = "passes" if r["passed"] else "**fails**"
    return f"{label(name)}: `evaluation_converged` {verdict} ({r['detail']})."


def summary(cfg, evaluated: dict, on_the_fly: list[str], histories: dict, pgd_at: dict) -> str:
    """The chapter's summary as Markdown bullets with this run's key numbers: the best on-the-fly model's worst
    case with its interval, the single-step model's fixed-step over-estimate, the static models' worst cases, the
    guard curves' state, and the published figures to hold them against. ``pgd_at``: model -> its white-box
    PGD curve's accuracy at ``otf_eps``; ``histories``: model -> its training history."""
    worst = {m: evaluated[m]["robust_eval"] for m in evaluated}
    best = max(on_the_fly, key=lambda m: worst[m]["robust_acc"])
    r = worst[best]
    lo, hi = wilson(count(r["robust_acc"], r["n_images"]), r["n_images"])
    lines = [
        f"- Best model trained on the fly: **{label(best)}**, {pct(r['robust_acc'])} of {r['n_images']} test images "
        f"robust at eps {r['eps']:g} (95% interval {100 * lo:.1f}-{100 * hi:.1f}%; the worst case over "
        f"{r['evaluation']}), clean {pct(evaluated[best]['clean_acc'], 2)}. Published at eps 0.3 under AutoAttack "
        f"(full test set): {published_autoattack()}."
    ]
    for m in on_the_fly:
        if pgd_at.get(m) is not None and m != best:
            gap = 100 * (pgd_at[m] - worst[m]["robust_acc"])
            lines.append(
                f"- {label(m)}: the PGD-{cfg.pgd_steps} curve says {pct(pgd_at[m])} at eps {worst[m]['eps']:g}, the "
                f"worst case {pct(worst[m]['robust_acc'])}: a fixed-step number {gap:.1f} points too high."
            )
    static = [m for m in evaluated if m not in on_the_fly]
    if static:
        shown = ", ".join(f"{label(m)} {pct(worst[m]['robust_acc'])}" for m in static)
        lines.append(f"- Static adversarial training, white-box worst case at eps {cfg.otf_eps:g}: {shown}.")
    for m in on_the_fly:
        reading = guard_reading(m, histories[m], cfg.guard_n, cfg.otf_eps) if m in histories else ""
        if "still rising" in reading:
            lines.append(
                f"- {label(m)}: its guard was still rising at the last epoch: undertrained (the guard curves)."
            )
    return "\n".join(lines)


def published_autoattack() -> str:
    """The published AutoAttack accuracies of :mod:`advlab.course.published`, e.g. "Madry et al. (2018) 88.50%, ..."."""
    rows = [r for r in published_rows() if r["attack"] == "AutoAttack"]
    return ", ".join(f"{r['who']} {r['acc']:.2f}%" for r in rows)
