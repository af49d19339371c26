"""Each chapter's summary of this run: its key numbers, generated from what the chapter records, so the
Summary states what this run measured (under ``smoke``, ``quick`` or ``paper``) instead of pointing back to
sections. A notebook shows one with ``story.show(summaries.chapter_02(results, cfg))``.

- :func:`mean_accuracy`: a curve's mean accuracy over eps 0.1-0.3 (the course's measure of a curve;
  ``plots.train_attack_heatmap`` shows it);
- :func:`chapter_01` ... :func:`chapter_04`: Markdown bullets (and a table in chapters 3 and 4).
"""

from __future__ import annotations

from advlab.course import story
from advlab.course.registry import label
from advlab.evaluation.results import acc_at, find_curve, pct

EPS_RANGE = (0.1, 0.3)
TEST_IMAGES = 10000  # clean accuracies are measured on the whole test set
SEED_LOSSES = {"fgsm_retrained": "0.203 to 0.002", "fgsm_untrained": "0.102 to 0.002"}  # the seed, over 50 epochs


def mean_accuracy(curves: list[dict], model: str, attack: str, threat: str, eps_range=EPS_RANGE) -> float | None:
    """The mean accuracy of ``model``'s curve under ``attack`` and ``threat`` over its eps inside ``eps_range``
    (ends included); None when there is no such curve or no such eps."""
    c = find_curve({"curves": curves}, model, attack, threat)
    lo, hi = eps_range
    values = [a for e, a in zip((c or {}).get("eps", []), (c or {}).get("acc", [])) if lo - 1e-9 <= e <= hi + 1e-9]
    return sum(values) / len(values) if values else None


def _head(cfg) -> str:
    return f"**This run** (profile `{cfg.profile}`):"


def _at(curve: dict | None, eps: float) -> str:
    """``'eps 0.1: 76.1% (95% CI ..., 2,000 images)'``, or that eps was not measured."""
    a = acc_at(curve or {}, eps)
    return f"eps {eps:g}: not measured" if a is None else f"eps {eps:g}: {story.rate(a, curve['n_images'])}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _maybe_pct(a: float | None) -> str:
    return "-" if a is None else pct(a)


def _short(a: float | None, n: int | None) -> str:
    """``'38.2% (34.0-42.6)'``: an accuracy with its 95% Wilson interval, for a table cell."""
    if a is None or not n:
        return "-"
    lo, hi = story.interval(a, n)
    return f"{pct(a)} ({100 * lo:.1f}-{100 * hi:.1f})"


def _plural(k: int, word: str) -> str:
    return f"{k:,} {word}" + ("" if k == 1 else "s")


def _clean(results: dict, model: str) -> str:
    entry = results.get("models", {}).get(model) or {}
    if entry.get("clean_acc") is None:
        return f"{label(model)}: not measured"
    return f"{label(model)} {story.rate(entry['clean_acc'], entry.get('n_images') or TEST_IMAGES)}"


def _losses(results: dict, model: str) -> str:
    values = results.get("losses", {}).get(model) or []
    if not values:
        return f"{label(model)}: no training loss recorded"
    if len(values) == 1:
        return f"{label(model)} {values[0]:.3f} in its one epoch"
    return f"{label(model)} {values[0]:.3f} in epoch 1, {values[-1]:.3f} in epoch {len(values)}"


def chapter_01(results: dict, cfg) -> str:
    """The baseline's clean accuracy (with its interval) and its training loss, first and last epoch."""
    n_train = cfg.n_train or 60000
    return "\n".join(
        [
            _head(cfg),
            f"- Clean test accuracy after {_plural(cfg.epochs, 'epoch')} on {n_train:,} training images: "
            f"{_clean(results, 'baseline')}; the seed reports 99% after 50 or more epochs.",
            f"- Training loss: {_losses(results, 'baseline')}.",
        ]
    )


def _grid_line(grid: dict | None, seed_eps: float = 0.15) -> str:
    """How many of the grid's ten images stay correct, up to which eps, and at the seed's eps."""
    if not grid:
        return "- The example grid was not recorded."
    right = [sum(p == grid["label"] for p in row) for row in grid["preds"]]
    n = len(grid["preds"][0]) if grid["preds"] else 0
    up_to = grid.get("all_correct_up_to")
    at_seed = [k for e, k in zip(grid["eps"], right) if abs(e - seed_eps) < 1e-9]
    return (
        f"- The grid's {n} test images of class {grid['label']}: all {n} correct "
        + (f"up to eps {up_to:g}" if up_to is not None else "at no eps")
        + (f"; at eps {seed_eps:g} (the seed's), {at_seed[0]} of {n}" if at_seed else "")
        + "; correct per eps: "
        + ", ".join(f"{e:g}: {k}" for e, k in zip(grid["eps"], right))
        + "."
    )


def chapter_02(results: dict, cfg) -> str:
    """FGSM on the baseline: the seed's eps, the largest fall, the floor, noise against the attack, the
    collapse onto one class and the grid."""
    c = find_curve(results, "baseline", "fgsm", "whitebox")
    if not c:
        return _head(cfg) + "\n- No FGSM curve of the baseline was recorded."
    acc = dict(zip(c["eps"], c["acc"]))
    steps = list(zip(c["eps"], c["eps"][1:]))
    a, b = max(steps, key=lambda s: acc[s[0]] - acc[s[1]])
    large = [v for e, v in acc.items() if e >= 0.4 - 1e-9]
    lines = [
        _head(cfg),
        f"- FGSM on the baseline, {c['n_images']:,} test images: clean {story.rate(c['acc'][0], c['n_images'])}; "
        f"{_at(c, 0.1)}; {_at(c, 0.2)} (the seed: 79% and 24%).",
        f"- The largest fall between neighbouring eps: from {a:g} to {b:g}, {pct(acc[a])} to {pct(acc[b])}.",
    ]
    if large:
        lines.append(f"- From eps 0.4 on: between {pct(min(large))} and {pct(max(large))} (the seed: about 10%).")
    noise = acc_at(results.get("noise") or {}, 0.2)
    if noise is not None and acc_at(c, 0.2) is not None:
        lines.append(
            f"- Random sign noise of the same size at eps 0.2: {story.rate(noise, c['n_images'])}, against "
            f"FGSM's {story.rate(acc_at(c, 0.2), c['n_images'])}."
        )
    col = results.get("collapse") or {}
    big = [
        (s, e, k) for e, k, s in zip(col.get("eps", []), col.get("top_class", []), col.get("top_share", [])) if e >= 0.4
    ]
    if big:
        share, at, cls = max(big)
        lines.append(
            f"- The largest pile-up from eps 0.4 on: {pct(share)} of the attacked images called '{cls}' at eps {at:g}."
        )
    lines.append(_grid_line((results.get("grids") or {}).get("baseline")))
    return "\n".join(lines)


def _mean_table(results: dict, models: list[str], attacks: list[str]) -> str:
    """Mean accuracy over eps 0.1-0.3 per model, attack and threat model, as a Markdown table."""
    curves = results.get("curves", [])
    header = ["model"] + [f"{a.upper()}, {story.THREAT_NAMES[t]}" for a in attacks for t in story.THREAT_NAMES]
    rows = [
        [label(m)] + [_maybe_pct(mean_accuracy(curves, m, a, t)) for a in attacks for t in story.THREAT_NAMES]
        for m in models
    ]
    return _table(header, rows)


def _images(results: dict, attack: str) -> str:
    sizes = sorted({c["n_images"] for c in results.get("curves", []) if c["attack"] == attack and c.get("n_images")})
    return " or ".join(f"{n:,}" for n in sizes) or "no"


def chapter_03(results: dict, cfg) -> str:
    """Clean accuracy of the three models, the training losses, and FGSM robustness under both threat models."""
    hardened = ["fgsm_retrained", "fgsm_untrained"]
    return "\n".join(
        [
            _head(cfg),
            "- Clean test accuracy: " + "; ".join(_clean(results, m) for m in ["baseline"] + hardened) + ".",
            f"- Training loss over {_plural(cfg.adv_epochs, 'epoch')} on the combined set: "
            + "; ".join(_losses(results, m) for m in hardened)
            + f" (the seed, over 50 epochs: retrained {SEED_LOSSES['fgsm_retrained']}, "
            f"untrained {SEED_LOSSES['fgsm_untrained']}).",
            f"- FGSM, mean accuracy over eps 0.1, 0.2 and 0.3 ({_images(results, 'fgsm')} test images):",
            "",
            _mean_table(results, ["baseline"] + hardened, ["fgsm"]),
        ]
    )


def _pgd_table(results: dict, models: list[str], epsilons=(0.1, 0.3)) -> str:
    """White-box PGD accuracy at a few eps, with 95% Wilson intervals, one row per model."""
    rows = []
    for m in models:
        c = find_curve(results, m, "pgd", "whitebox") or {}
        rows.append([label(m)] + [_short(acc_at(c, e), c.get("n_images")) for e in epsilons])
    return _table(["model"] + [f"white-box PGD, eps {e:g}" for e in epsilons], rows)


def chapter_04(results: dict, cfg) -> str:
    """Clean accuracy of the PGD-trained models, white-box PGD at eps 0.3, and every model's mean accuracy
    over eps 0.1-0.3 under both attacks and both threat models."""
    models = ["baseline", "fgsm_retrained", "fgsm_untrained", "pgd_retrained", "pgd_untrained"]
    return "\n".join(
        [
            _head(cfg),
            "- Clean test accuracy: " + "; ".join(_clean(results, m) for m in ("pgd_retrained", "pgd_untrained")) + ".",
            f"- Mean accuracy over eps 0.1, 0.2 and 0.3 (FGSM on {_images(results, 'fgsm')} test images, PGD on "
            f"{_images(results, 'pgd')}):",
            "",
            _mean_table(results, models, ["fgsm", "pgd"]),
            "",
            f"- White-box PGD ({_images(results, 'pgd')} test images; in brackets the 95% Wilson interval):",
            "",
            _pgd_table(results, models),
        ]
    )
