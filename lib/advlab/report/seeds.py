"""The report of a run over several training seeds (``run_all.py --seeds 0,1,2``): each seed's results are
collected as for one seed (``advlab.report.build.collect``), then combined here into one results dict: the
first seed's results (what every section of the page shows, the explorers included), plus ``seeds``,
``executor``, ``per_seed`` (the spread of every accuracy, ``advlab.evaluation.spread``), the scorecard judged
per seed ("agrees in k of n seeds", by the one rule of ``advlab.evaluation.verdict``) and chapter 5's
conclusions seed by seed. ``band_figure`` draws the curves as their mean over seeds with a min-max band."""

from __future__ import annotations

import base64
from pathlib import Path

from advlab.core.io import atomic_path
from advlab.course import plots
from advlab.course.registry import label
from advlab.evaluation.results import pct
from advlab.evaluation.spread import best_on_the_fly, counts_spread, per_seed
from advlab.evaluation.stats import wilson_acc
from advlab.evaluation.verdict import AGREE, Count, wholly_above
from advlab.report.names import attack_name

FAST = "fast_adv"  # single-step (fast FGSM) training on the fly: chapter 5's lesson in over-reporting
STATIC = ("fgsm_retrained", "pgd_retrained")
BAND_FIGURE = "seeds_curves"


def combine(by_seed: dict[int, dict], executor: dict | None = None) -> dict:
    """One results dict from ``{seed: results}`` (seed order as given; the first seed's numbers are the page's)."""
    seeds = list(by_seed)
    results = dict(by_seed[seeds[0]])
    records, missing = per_seed(by_seed)
    results["seeds"] = seeds
    results["executor"] = executor
    results["per_seed"] = records
    results["seed_tally"] = {
        "per_seed": {str(s): r["tally"] for s, r in by_seed.items()},
        "spread": counts_spread({s: r["tally"] for s, r in by_seed.items()}),
    }
    results["scorecard"] = seed_scorecard({s: r["scorecard"] for s, r in by_seed.items()})
    results["conclusions"] = conclusions(by_seed)
    results["warnings"] = list(results.get("warnings") or [])
    if missing:
        results["warnings"].append(
            f"{len(missing)} number(s) were not recorded in every seed and have no spread (e.g. {missing[0]}): "
            "rerun the seeds that lack them (python run_all.py --seeds ...)"
        )
    return results


def agreement(verdicts: list[str]) -> dict:
    """How many seeds' verdicts are "agree", as the scorecard says it."""
    k, n = sum(v == AGREE for v in verdicts), len(verdicts)
    return {"verdicts": verdicts, "agree": k, "n": n, "text": f"agrees in {k} of {n} seeds"}


def seed_scorecard(rows_by_seed: dict[int, list[dict]]) -> list[dict]:
    """The first seed's scorecard rows, each threat's cell with ``seeds``: every seed's verdict (in seed order)
    and "agrees in k of n seeds"."""
    first, *_ = rows_by_seed.values()
    by_id = [{row["id"]: row for row in rows} for rows in rows_by_seed.values()]
    out = []
    for row in first:
        ours = {}
        for threat, cell in row["ours"].items():
            verdicts = [rows[row["id"]]["ours"][threat]["verdict"] for rows in by_id if row["id"] in rows]
            ours[threat] = {**cell, "seeds": agreement(verdicts)}
        out.append({**row, "ours": ours})
    return out


def _robust(results: dict, model: str) -> Count | None:
    r = ((results.get("models") or {}).get(model) or {}).get("robust_eval") or {}
    return Count.of(r["robust_acc"], r["n_images"]) if r.get("n_images") else None


def _over_reports(results: dict) -> bool | None:
    check = (results.get("sanity") or {}).get("evaluation_converged") or {}
    return None if FAST not in check else not check[FAST]["passed"]


def _beats_static(results: dict) -> bool | None:
    best = best_on_the_fly(results)
    static = [c for c in (_robust(results, m) for m in STATIC) if c is not None]
    if best is None or not static:
        return None
    return all(wholly_above(_robust(results, best), c) for c in static)


def _fast_above_baseline(results: dict) -> bool | None:
    fast, base = _robust(results, FAST), _robust(results, "baseline")
    return None if fast is None or base is None else wholly_above(fast, base)


def conclusions(by_seed: dict[int, dict]) -> list[dict]:
    """Chapter 5's conclusions judged in each seed: ``{"claim", "holds": [True/False/None per seed], "text"}``;
    None where a seed did not measure it. Each comparison of accuracies is of 95% Wilson intervals."""
    first = next(iter(by_seed.values()))
    best = best_on_the_fly(first)
    judged = [
        (
            f"{label(FAST)}'s fixed-step PGD curve over-reports its robustness (the evaluation_converged check fails)",
            _over_reports,
        ),
        (f"{label(FAST)} is more robust than the baseline (worst case, intervals apart)", _fast_above_baseline),
        (
            "the best on-the-fly model is more robust than every static model (worst case, intervals apart)",
            _beats_static,
        ),
    ]
    if best:
        judged.append((f"the best on-the-fly model is {label(best)}", lambda r: best_on_the_fly(r) == best))
    out = []
    for claim, judge in judged:
        holds = [judge(r) for r in by_seed.values()]
        out.append({"claim": claim, "holds": holds, "text": holds_text(claim, holds, list(by_seed))})
    return out


def holds_text(claim: str, holds: list, seeds: list) -> str:
    """A conclusion as the page states it: in every seed, in k of n (naming the seeds where it fails), or not
    measured."""
    measured = [(s, h) for s, h in zip(seeds, holds) if h is not None]
    if not measured:
        return f"Not measured: {claim}."
    k = sum(bool(h) for _, h in measured)
    if k == len(seeds):
        return f"Holds in every seed ({len(seeds)} of {len(seeds)}): {claim}."
    fails = ", ".join(str(s) for s, h in measured if not h)
    gaps = [str(s) for s, h in zip(seeds, holds) if h is None]
    tail = f"; not measured in seed(s) {', '.join(gaps)}" if gaps else ""
    return f"Holds in {k} of {len(seeds)} seeds (not in seed(s) {fails}{tail}): {claim}."


def spread_text(record: dict) -> str:
    """A number over seeds as the page shows it: "98.1% ± 0.3 (97.8-98.4)", points for the sd and the range."""
    return (
        f"{pct(record['mean'])} \u00b1 {100 * record['sd']:.1f} ({100 * record['min']:.1f}-{100 * record['max']:.1f})"
    )


def value_text(acc: float, n: int | None) -> str:
    """One seed's value with its 95% Wilson interval on ``n`` images (when known)."""
    try:
        lo, hi = wilson_acc(acc, n)
    except (TypeError, ValueError):
        return pct(acc)
    return f"{pct(acc)} ({100 * lo:.1f}-{100 * hi:.1f})"


def curve_bands(by_seed: dict[int, dict]) -> dict[tuple[str, str], dict[str, dict]]:
    """``{(attack, threat): {model: {"eps", "mean", "min", "max"}}}`` for every curve recorded in every seed, at
    the eps every seed measured."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for results in by_seed.values():
        for c in results.get("curves") or []:
            per_model = groups.setdefault((c["attack"], c["threat"]), {})
            per_model.setdefault(c["model"], []).append(dict(zip(map(float, c["eps"]), map(float, c["acc"]))))
    out: dict[tuple[str, str], dict[str, dict]] = {}
    for group, per_model in sorted(groups.items()):
        for model, curves in per_model.items():
            eps = sorted(set.intersection(*(set(c) for c in curves)))
            if len(curves) == len(by_seed) and eps:
                vals = [[c[e] for c in curves] for e in eps]
                out.setdefault(group, {})[model] = {
                    "eps": eps,
                    "mean": [sum(v) / len(v) for v in vals],
                    "min": [min(v) for v in vals],
                    "max": [max(v) for v in vals],
                }
    return out


def band_figure(by_seed: dict[int, dict], path: Path) -> Path | None:
    """One panel per attack and threat model: each model's curve as its mean over seeds, with a min-max band
    from the per-seed curves (:func:`curve_bands`); written to ``path`` (a PNG, atomically). None when no curve
    is in every seed."""
    bands = curve_bands(by_seed)
    if not bands:
        return None
    plots.setup()
    fig, axes = plots.plt.subplots(1, len(bands), figsize=(4.2 * len(bands), 3.4), squeeze=False)
    for ax, ((attack, threat), per_model) in zip(axes[0], bands.items()):
        for model, b in per_model.items():
            color = plots.COLORS.get(model)
            ax.plot(b["eps"], [100 * a for a in b["mean"]], marker="o", ms=3, color=color, label=label(model))
            ax.fill_between(b["eps"], [100 * a for a in b["min"]], [100 * a for a in b["max"]], color=color, alpha=0.2)
        ax.set(
            title=f"{attack.upper()}, {threat.replace('whitebox', 'white-box')}",
            xlabel="eps",
            ylabel="accuracy (%)",
            ylim=(0, 100),
        )
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines()}
    fig.legend(handles.values(), handles.keys(), loc="upper center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, -0.04))
    fig.suptitle(f"Mean over seeds {', '.join(map(str, by_seed))}; band: min-max across seeds", y=1.04)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plots.plt.close(fig)
    return Path(path)


def summary(results: dict) -> list[str]:
    """The page's first sentence in a run over several seeds: which seed the page shows, and the headline's
    and the scorecard's spread over the seeds (none in a run of one seed)."""
    seeds = results.get("seeds")
    if not seeds:
        return []
    text = f"Trained with {len(seeds)} seeds ({', '.join(map(str, seeds))}); the page shows seed {seeds[0]}'s numbers"
    head = (results.get("per_seed") or {}).get("headline.worst_case")
    if head:
        text += f"; the best on-the-fly model's worst case over the seeds: {spread_text(head)}"
    agree = ((results.get("seed_tally") or {}).get("spread") or {}).get(AGREE)
    if agree:
        text += f"; the scorecard's agreeing verdicts: {agree['min']:g} to {agree['max']:g} per seed"
    return [text + "."]


def quantity(path: str) -> str:
    """A per-seed record's path as a person reads it (``models.fast_adv.robust.worst`` -> ``Fast adversarial (on
    the fly): worst case``)."""
    head, _, rest = path.partition(".")
    if head == "headline":
        return "Headline: the best on-the-fly model's worst case (whichever model that is in each seed)"
    if head == "curves":
        what, _, eps = rest.partition("@")
        model, attack, threat = what.split(".")
        return f"{label(model)}: {attack.upper()} {threat}, eps {eps}"
    if head == "capacity":
        width, _, key = rest.partition(".")
        return f"Capacity {width}: {'clean' if key == 'clean_acc' else 'worst case'}"
    model, _, key = rest.partition(".")
    words = {"clean_acc": "clean (10k)", "robust.worst": "worst case", "robust.clean": "clean (robust evaluation)"}
    return f"{label(model)}: {words.get(key) or attack_name(key.removeprefix('robust.'))}"


HEADLINES = (  # the numbers a run over seeds is cited by (README, docs/performance.md)
    "models.baseline.clean_acc",
    "curves.fgsm_retrained.fgsm.whitebox@0.1",
    "curves.fgsm_retrained.fgsm.transfer@0.1",
    "models.fast_adv.robust.worst",
    "models.fast_pgd_adv.robust.worst",
    "headline.worst_case",
)


def headline_table(results: dict) -> str:
    """The headline numbers (:data:`HEADLINES`) and the scorecard's tally over the seeds, as a Markdown table:
    each seed's value with its Wilson interval, then mean \u00b1 sd (min-max)."""
    seeds, records = results["seeds"], results.get("per_seed") or {}
    lines = [
        f"| number | {' | '.join(f'seed {s}' for s in seeds)} | mean \u00b1 sd (min-max) |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for path in (p for p in HEADLINES if p in records):
        r = records[path]
        cells = " | ".join(value_text(v, r["n_images"]) for v in r["values"])
        lines.append(f"| {quantity(path)} | {cells} | {spread_text(r)} |")
    for verdict, r in ((results.get("seed_tally") or {}).get("spread") or {}).items():
        cells = " | ".join(f"{v:g}" for v in r["values"])
        spread = f"{r['mean']:.1f} \u00b1 {r['sd']:.1f} ({r['min']:g}-{r['max']:g})"
        lines.append(f'| scorecard verdicts "{verdict}" | {cells} | {spread} |')
    return "\n".join(lines)


def _rows(records: dict, keep) -> list[dict]:
    return [
        {
            "what": quantity(path),
            "path": path,
            "values": [value_text(v, r["n_images"]) for v in r["values"]],
            "spread": spread_text(r),
        }
        for path, r in records.items()
        if keep(path)
    ]


def section(results: dict, root: str | Path = ".") -> dict | None:
    """What the page's "over training seeds" section shows; None for a run of one seed."""
    seeds = results.get("seeds")
    if not seeds:
        return None
    records = results.get("per_seed") or {}
    ex = results.get("executor") or {}
    executor = "not recorded"
    if ex:
        name = " ".join(str(ex[k]) for k in ("name", "version") if ex.get(k))
        executor = f"{name} ({ex.get('address') or 'this process'}), {ex.get('workers', '?')} worker(s)"
    tally = (results.get("seed_tally") or {}).get("spread") or {}
    figure = results.get("seed_figure")
    data = None
    if figure and (Path(root) / figure).is_file():
        data = base64.b64encode((Path(root) / figure).read_bytes()).decode("ascii")
    return {
        "seeds": seeds,
        "first": seeds[0],
        "executor": executor,
        "models": _rows(records, lambda p: not p.startswith("curves.")),
        "curves": _rows(records, lambda p: p.startswith("curves.")),
        "tally": [f"{v}: {r['mean']:.1f} \u00b1 {r['sd']:.1f} ({r['min']:g}-{r['max']:g})" for v, r in tally.items()],
        "conclusions": [c["text"] for c in results.get("conclusions") or []],
        "figure": data,
    }
