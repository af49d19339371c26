"""The report's page: ``templates/report.html.j2`` (and ``robust.html.j2``) say how it looks; the
functions here turn the merged results into what the template shows (labels, percentages, rows).
Every figure is embedded, so the page is one self-contained file that works offline."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from advlab.course.profiles import EXPECTED_CPU_TIME
from advlab.course.registry import MODELS, NOTEBOOKS, label
from advlab.course.scorecard import CLAIMED_CLEAN
from advlab.evaluation import sanity
from advlab.evaluation.results import acc_at, find_curve, pct
from advlab.evaluation.stats import wilson_acc
from advlab.evaluation.verdict import RULE
from advlab.report import seeds as seeds_report
from advlab.report.names import attack_name, check_name
from advlab.report.templating import TEMPLATES, render
from advlab.report.verdicts import headline, scorecard_rows, tally_sentence

STATIC = TEMPLATES.parent / "static"
PROFILE_MEANING = {
    "smoke": "the whole pipeline on tiny subsets, to check that everything runs end to end; "
    "its numbers are too rough to compare with the seed",
    "quick": "every step of the seed, with sizes and epochs shrunk to fit minutes on a CPU; "
    "numbers move towards the seed's but training is far shorter",
    "paper": "the seed's protocol (60k training images, 360k combined sets, 50 epochs)",
}
THREAT_LABELS = {"whitebox": "white-box", "transfer": "transfer (crafted on the baseline)", "all": "any"}
CONTENTS = [
    ("seeds", "over training seeds"),
    ("scorecard", "reproduction scorecard"),
    ("sanity", "sanity checks"),
    ("robust", "static vs on-the-fly training"),
    ("model-sanity", "sanity per model"),
    ("challenge", "challenge leaderboard"),
    ("clean", "clean accuracy"),
    ("explore", "explore the attacks"),
    ("figures", "figures"),
    ("tables", "accuracy tables"),
    ("notebooks", "notebooks"),
    ("metadata", "run metadata"),
]
BY_THREAT = [
    ("whitebox", "Hold white-box (against the model's own gradients)"),
    ("transfer_only", "Hold only under transfer (examples crafted on the baseline)"),
    ("neither", "Do not hold here (under any threat model measured)"),
    ("not_measured", "Not measured in this run"),
]


def _models_in_order(models) -> list[str]:
    return MODELS + [m for m in models if m not in MODELS]


def render_html(results: dict, pages: dict | None = None, root: str | Path = ".", explore: str = "") -> str:
    """The page for ``results`` (what results.json holds); ``pages``: the exported notebooks;
    ``explore``: the explorers' HTML section (advlab.report.explorer)."""
    from markupsafe import Markup

    profile = results["profile"]
    cfg = results.get("config") or {}
    return render(
        "report.html.j2",
        profile=profile,
        date=results.get("date", ""),
        device=results.get("device"),
        profile_meaning=PROFILE_MEANING.get(profile, "a custom profile"),
        expected_time=EXPECTED_CPU_TIME.get(profile, "unknown"),
        css=(STATIC / "report.css").read_text(),
        run=run_settings(cfg),
        warnings=results.get("warnings", []),
        summary=seeds_report.summary(results) + summary_sentences(results),
        contents=[c for c in CONTENTS if (explore or c[0] != "explore") and (results.get("seeds") or c[0] != "seeds")],
        explore=Markup(explore),
        scorecard=scorecard_rows(results.get("scorecard", [])),
        rule=RULE,
        tally=tally_sentence(results.get("scorecard", [])),
        by_threat=_by_threat(results.get("claims_by_threat") or {}),
        sanity=_sanity_rows(results.get("sanity", {})),
        robust=robust_section(results),
        leaderboard=_leaderboard_rows(results.get("leaderboard") or []),
        clean=_clean_rows(results.get("models", {}), results.get("per_seed") or {}),
        seeds=seeds_report.section(results, root),
        seed_spread=seed_spread(results.get("models", {})),
        figures=_figures(results, root),
        curve_table=curve_table(results.get("curves", [])),
        attack_settings=json.dumps(results["attack_settings"], indent=2) if results.get("attack_settings") else "",
        notebooks=_notebooks(results, pages or {}),
        metadata=_metadata(results),
        config=json.dumps(cfg, indent=2) if cfg else "",
    )


def _leaderboard_rows(entries: list[dict]) -> list[dict]:
    """The challenge's entries (advlab.course.challenge), strongest attack (lowest accuracy) first."""
    return [
        {
            "rank": i,
            "name": e.get("name"),
            "accuracy": pct(e.get("accuracy", float("nan"))),
            "model": label(e.get("model", "")),
            "date": e.get("date"),
        }
        for i, e in enumerate(entries, 1)
    ]


def run_settings(cfg: dict) -> dict | None:
    """The sizes of this run, for the lines under the title (None without a recorded config)."""
    if not cfg:
        return None
    run = {
        "epochs": cfg.get("epochs"),
        "n_train": cfg.get("n_train") or 60000,
        "adv_n_train": cfg.get("adv_n_train") or 60000,
        "copies": 1 + len(cfg.get("adv_epsilons") or []),
        "adv_epochs": cfg.get("adv_epochs"),
        "n_test": cfg.get("n_test") or 10000,
        "n_pgd_test": cfg.get("n_pgd_test"),
        "pgd_steps": cfg.get("pgd_steps"),
        "on_the_fly": None,
    }
    if cfg.get("fast_epochs") is not None:
        madry = (
            f"Madry PGD-{cfg.get('madry_steps')} training {cfg.get('madry_epochs')} epochs"
            if cfg.get("madry_epochs")
            else "Madry's PGD training not run in this profile"
        )
        if cfg.get("fast_pgd_epochs"):
            madry = (
                f"PGD training with {cfg.get('fast_pgd_steps')} steps of {cfg.get('fast_pgd_alpha')}, "
                f"{cfg.get('fast_pgd_epochs')} epochs; {madry}"
            )
        run["on_the_fly"] = {
            "fast_epochs": cfg.get("fast_epochs"),
            "eps": cfg.get("otf_eps"),
            "madry": madry,
            "robust_n": cfg.get("robust_n"),
            "robust_steps": cfg.get("robust_steps"),
            "restarts": cfg.get("robust_restarts"),
            "cw_restarts": cfg.get("robust_cw_restarts"),
            "apgd_steps": cfg.get("apgd_steps"),
            "apgd_restarts": cfg.get("apgd_restarts"),
            "apgd_targets": cfg.get("apgd_targets"),
        }
    return run


def summary_sentences(results: dict) -> list[str]:
    """A few sentences about the run, generated from its numbers: the course's headline first."""
    find, at = find_curve, acc_at
    out = [headline(results)] if headline(results) else []
    models = results.get("models", {})
    if "baseline" in models:
        out.append(f"The baseline CNN reaches {pct(models['baseline']['clean_acc'])} clean test accuracy (seed: 99%).")
    base = find(results, "baseline", "fgsm", "whitebox")
    if base and at(base, 0.1) is not None and at(base, 0.2) is not None:
        out.append(
            f"White-box FGSM takes it to {pct(at(base, 0.1))} at eps 0.1 and {pct(at(base, 0.2))} at eps 0.2 "
            f"(seed: 79% and 24%)."
        )
    pgd_base = find(results, "baseline", "pgd", "whitebox")
    if pgd_base and base and at(pgd_base, 0.3) is not None and at(base, 0.3) is not None:
        p3, f3 = at(pgd_base, 0.3), at(base, 0.3)
        out.append(
            f"At eps 0.3, white-box PGD leaves the baseline {pct(p3)} against FGSM's {pct(f3)}"
            + (" (PGD, the stronger attack, should not do worse than FGSM)." if p3 > f3 + 0.02 else ".")
        )
    robust = []
    for model in ("fgsm_retrained", "pgd_retrained"):
        c = find(results, model, "pgd", "whitebox") or find(results, model, "fgsm", "whitebox")
        if c and at(c, 0.3) is not None and model in models:
            robust.append(
                f"{label(model)} keeps {pct(at(c, 0.3))} under white-box {c['attack'].upper()} "
                f"at eps 0.3 (clean {pct(models[model]['clean_acc'])})"
            )
    if robust:
        out.append("After adversarial training: " + "; ".join(robust) + ".")
    return out + _tally_sentences(results)


def _tally_sentences(results: dict) -> list[str]:
    out = [tally_sentence(results.get("scorecard", []))] if results.get("scorecard") else []
    passed, failed, _ = sanity.summary(results.get("sanity", {}))
    names = [
        f"{check_name(check)} ({label(model)})"
        for check, per_model in results.get("sanity", {}).items()
        for model, r in per_model.items()
        if not r["passed"]
    ]
    if passed or failed:
        out.append(
            f"Sanity checks: {passed} passed, {failed} failed"
            + (f" ({', '.join(names[:4])}{' ...' if len(names) > 4 else ''})." if failed else ".")
        )
    return out


def _by_threat(by: dict) -> list | None:
    return [(words, by.get(key) or []) for key, words in BY_THREAT] if any(by.values()) else None


def _sanity_rows(checks: dict) -> list[dict]:
    return [
        {
            "id": name,
            "name": check_name(name),
            "description": sanity.DESCRIPTIONS.get(name, ""),
            "rows": [{"model": label(m), "passed": r["passed"], "detail": r["detail"]} for m, r in per_model.items()],
        }
        for name, per_model in checks.items()
    ]


def robust_section(results: dict) -> dict | None:
    """Notebook 05's table (every model's clean, per-attack and worst-case accuracy, training time)
    and the per-model sanity checks; None when no model was evaluated that way."""
    models = results.get("models", {})
    evaluated = [m for m in _models_in_order(models) if models.get(m, {}).get("robust_eval")]
    if not evaluated:
        return None
    first = models[evaluated[0]]["robust_eval"]
    names = list(first.get("attacks", {}))
    on_the_fly = results.get("on_the_fly", {})
    checks = []
    for m in evaluated:
        checks += [c for c in models[m].get("sanity", {}) if c not in checks]
    return {
        "eps": f"{first['eps']:g}",
        "n_images": first["n_images"],
        "attacks": [attack_name(n) for n in names],
        "evaluation": first.get("evaluation") or ", ".join(attack_name(n) for n in names),
        "rows": [_robust_row(m, models[m], names, on_the_fly, results.get("train_seconds", {})) for m in evaluated],
        "spread": [_spread(results, f"models.{m}.robust.worst") for m in evaluated],
        "stopped": [f"{label(m)}: {h['stopped']}" for m, h in on_the_fly.items() if h.get("stopped")],
        "capacity": [
            f"width x{c['width']} ({c['params']:,} parameters): clean {pct(c['clean_acc'])}, "
            f"robust {pct(c['robust_acc'])}"
            for c in results.get("capacity") or []
        ],
        "checks": [{"id": c, "name": check_name(c)} for c in checks],
        "sanity": [
            {
                "label": label(m),
                "cells": [models[m].get("sanity", {}).get(c) for c in checks],
                "checks": [(check_name(c), r) for c, r in models[m].get("sanity", {}).items()],
            }
            for m in evaluated
        ],
    }


def fmt_acc(acc: float, n: int | None) -> str:
    """An accuracy with its 95% Wilson interval on ``n`` images, e.g. "69.4% (66.5-72.2)"."""
    try:
        lo, hi = wilson_acc(acc, n)
    except (TypeError, ValueError):
        return pct(acc)
    return f"{pct(acc)} ({100 * lo:.1f}-{100 * hi:.1f})"


def _robust_row(m: str, entry: dict, names: list, on_the_fly: dict, secs: dict) -> dict:
    r = entry["robust_eval"]
    kind = "on the fly" if m in on_the_fly or m.endswith("_adv") else ("none" if m == "baseline" else "static set")
    t = secs.get(m)
    time = f"{t:.0f} s" if t is not None else "-"
    if m in on_the_fly and on_the_fly[m].get("epochs"):
        ep = on_the_fly[m]["epochs"]
        time += f" ({sum(e['seconds'] for e in ep) / len(ep):.1f} s/epoch, {len(ep)} epochs)"
    k = r.get("n_images")
    return {
        "label": label(m),
        "kind": kind,
        "clean": fmt_acc(entry["clean_acc"], entry.get("n_images", 10000)),
        "attacks": [fmt_acc(r["attacks"][n], k) if n in r.get("attacks", {}) else None for n in names],
        "robust": fmt_acc(r["robust_acc"], k),
        "time": time,
    }


def seed_spread(models: dict) -> str | None:
    """The baseline's clean accuracy over training seeds, as a sentence (None when not measured)."""
    spread = models.get("baseline", {}).get("seed_spread")
    if not spread:
        return None
    accs = spread["clean_acc"]
    return (
        f"Baseline over {len(accs)} training seeds: "
        + ", ".join(f"seed {s} {pct(a)}" for s, a in zip(spread["seeds"], accs))
        + f" (spread {100 * (max(accs) - min(accs)):.2f} points)."
    )


def _spread(results: dict, path: str) -> str | None:
    """A number's mean ± sd (min-max) over training seeds, None in a run of one seed."""
    record = (results.get("per_seed") or {}).get(path)
    return seeds_report.spread_text(record) if record else None


def _clean_rows(models: dict, per_seed: dict) -> list[dict]:
    rows = []
    for name in _models_in_order(models):
        acc, seed = models.get(name, {}).get("clean_acc"), CLAIMED_CLEAN.get(name)
        rows.append(
            {
                "label": label(name),
                "acc": fmt_acc(acc, models[name].get("n_images", 10000)) if acc is not None else "not measured",
                "seed": pct(seed) if seed is not None else "-",
                "spread": _spread({"per_seed": per_seed}, f"models.{name}.clean_acc"),
            }
        )
    return rows


def _figures(results: dict, root) -> list[dict]:
    out = []
    for f in results.get("figures", []):
        full = Path(f["path"]) if Path(f["path"]).is_absolute() else Path(root) / f["path"]
        data = base64.b64encode(full.read_bytes()).decode("ascii") if f.get("exists") and full.is_file() else None
        out.append({"name": f["name"], "caption": f["caption"], "data": data})
    return out


def curve_table(curves: list[dict]) -> dict | None:
    """Every curve's accuracy (%) per eps, one row per curve, columns the union of their eps."""
    if not curves:
        return None
    order = sorted(
        curves, key=lambda c: (c["attack"], c["threat"], MODELS.index(c["model"]) if c["model"] in MODELS else 99)
    )
    eps_all = sorted({e for c in curves for e in c["eps"]})
    rows = []
    for c in order:
        vals = dict(zip(c["eps"], c["acc"]))
        rows.append(
            {
                "attack": c["attack"].upper(),
                "threat": c["threat"],
                "model": label(c["model"]),
                "n_images": c.get("n_images") or "",
                "cells": [f"{100 * vals[e]:.1f}" if e in vals else None for e in eps_all],
            }
        )
    return {"eps": [f"{e:g}" for e in eps_all], "rows": rows}


def _notebooks(results: dict, pages: dict) -> list[dict]:
    seconds, recorded = results.get("seconds", {}), results.get("recorded", {})
    out = []
    for stem in NOTEBOOKS + [s for s in pages if s not in NOTEBOOKS]:
        when = f" ({seconds[stem]:.0f} s)" if stem in seconds else ""
        if recorded.get(stem):
            when += f"; results recorded {recorded[stem]}"
        out.append({"stem": stem, "page": pages.get(stem), "when": when})
    return out


def _metadata(results: dict) -> list[tuple]:
    seconds = results.get("seconds", {})
    meta = [("profile", results["profile"]), ("device", results.get("device")), ("date", results.get("date"))]
    meta += list(results.get("versions", {}).items())
    if results.get("executor"):
        meta.append(("executor", ", ".join(f"{k} {v}" for k, v in results["executor"].items() if v is not None)))
    meta += [(f"time {k}", f"{v:.1f} s") for k, v in seconds.items()]
    if seconds:
        meta.append(("time total", f"{sum(seconds.values()):.1f} s"))
    return meta
