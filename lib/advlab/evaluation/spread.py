"""The spread of a number over training seeds: the same profile run with several seeds gives one results dict
per seed; every accuracy that a training seed changes is collected under a stable path, and its values across
the seeds are summarised as mean, sample standard deviation, min and max.

The spread covers the training seed; each value's own 95% Wilson interval (``advlab.evaluation.stats``) covers
the choice of test images. Both are shown side by side, neither replaces the other."""

from __future__ import annotations

import statistics

CLEAN_N = 10000  # clean accuracy is measured on the whole MNIST test set


def spread(values: list[float], n_images: int | None = None) -> dict:
    """``{"values", "mean", "sd", "min", "max", "n_images"}`` of one number over seeds; ``sd`` is the sample
    standard deviation (n - 1 in the denominator), 0.0 for a single seed."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no value to summarise: give one value per seed")
    return {
        "values": vals,
        "mean": statistics.fmean(vals),
        "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "min": min(vals),
        "max": max(vals),
        "n_images": n_images,
    }


def best_on_the_fly(results: dict) -> str | None:
    """The on-the-fly model with the highest worst-case accuracy (the course's headline), None when none."""
    models = results.get("models") or {}
    otf = [m for m in models if m in (results.get("on_the_fly") or {}) or m.endswith("_adv")]
    rated = [m for m in otf if ((models[m].get("robust_eval") or {}).get("n_images"))]
    return max(rated, key=lambda m: models[m]["robust_eval"]["robust_acc"]) if rated else None


def accuracies(results: dict) -> dict[str, tuple[float, int | None]]:
    """Every accuracy of ``results`` that a training seed changes, ``{path: (accuracy, images)}``: clean
    accuracies (``models.<m>.clean_acc``), the robust evaluation (``models.<m>.robust.<clean|worst|attack>``),
    each curve point (``curves.<model>.<attack>.<threat>@<eps>``), the capacity study and the headline
    (``headline.worst_case``: the best on-the-fly model's worst case, whichever model that is in the seed)."""
    out: dict[str, tuple[float, int | None]] = {}
    for name, m in (results.get("models") or {}).items():
        if m.get("clean_acc") is not None:
            out[f"models.{name}.clean_acc"] = (float(m["clean_acc"]), int(m.get("n_images") or CLEAN_N))
        r = m.get("robust_eval") or {}
        k = r.get("n_images")
        if k and r.get("robust_acc") is not None:
            out[f"models.{name}.robust.worst"] = (float(r["robust_acc"]), int(k))
            if r.get("clean_acc") is not None:
                out[f"models.{name}.robust.clean"] = (float(r["clean_acc"]), int(k))
            for attack, acc in (r.get("attacks") or {}).items():
                out[f"models.{name}.robust.{attack}"] = (float(acc), int(k))
    for c in results.get("curves") or []:
        for eps, acc in zip(c.get("eps", []), c.get("acc", [])):
            out[f"curves.{c['model']}.{c['attack']}.{c['threat']}@{float(eps):g}"] = (float(acc), c.get("n_images"))
    for row in results.get("capacity") or []:
        for key in ("clean_acc", "robust_acc"):
            if row.get(key) is not None and row.get("width") is not None:
                out[f"capacity.x{row['width']}.{key}"] = (float(row[key]), row.get("n_images"))
    best = best_on_the_fly(results)
    if best:
        r = results["models"][best]["robust_eval"]
        out["headline.worst_case"] = (float(r["robust_acc"]), int(r["n_images"]))
    return out


def per_seed(by_seed: dict[int, dict]) -> tuple[dict[str, dict], list[str]]:
    """The spread of every accuracy recorded in every seed's results (``{seed: results}``, in seed order), keyed
    by its path (:func:`accuracies`), and the paths some seeds lack (left out, to be reported)."""
    found = {seed: accuracies(results) for seed, results in by_seed.items()}
    paths = list(dict.fromkeys(p for acc in found.values() for p in acc))
    records, missing = {}, []
    for path in paths:
        if not all(path in acc for acc in found.values()):
            missing.append(path)
            continue
        ns = {acc[path][1] for acc in found.values()}
        records[path] = spread([acc[path][0] for acc in found.values()], ns.pop() if len(ns) == 1 else None)
    return records, missing


def counts_spread(by_seed: dict[int, dict[str, int]]) -> dict[str, dict]:
    """The spread of counts recorded per seed (the scorecard's tally: ``{seed: {verdict: count}}``); a key
    missing in a seed counts 0 there."""
    keys = list(dict.fromkeys(k for counts in by_seed.values() for k in counts))
    return {k: spread([counts.get(k, 0) for counts in by_seed.values()]) for k in keys}
