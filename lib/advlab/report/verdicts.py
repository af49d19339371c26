"""The report's scorecard and headline: the seed's claims as the page shows them (one cell per threat
model, the verdict's colour), the tally of verdicts, and the course's headline sentence."""

from __future__ import annotations

from advlab.course.registry import label
from advlab.course.scorecard import tally
from advlab.evaluation.results import pct
from advlab.evaluation.verdict import Count

STATIC = ("fgsm_retrained", "pgd_retrained")  # the seed's statically trained models


def headline(results: dict) -> str | None:
    """The course's headline: the best on-the-fly model's worst-case accuracy, with its 95% interval."""
    models = results.get("models", {})
    otf = [m for m in models if m in (results.get("on_the_fly") or {}) or m.endswith("_adv")]
    rated = [(models[m]["robust_eval"], m) for m in otf if (models[m].get("robust_eval") or {}).get("n_images")]
    if not rated:
        return None
    r, m = max(rated, key=lambda t: t[0]["robust_acc"])
    best = Count.of(r["robust_acc"], r["n_images"])
    return (
        f"Headline: trained on the fly, {label(m)} keeps {best.text()} of its test images under the per-image worst "
        f"case of every attack at eps {float(r['eps']):g} ({r.get('evaluation') or 'the robust evaluation'}); the "
        "statically trained models of the seed keep "
        + ", ".join(f"{pct(models[s]['robust_eval']['robust_acc'])} ({label(s)})" for s in STATIC if _robust(models, s))
        + "."
    )


def _robust(models: dict, name: str) -> bool:
    return bool((models.get(name, {}).get("robust_eval") or {}).get("n_images"))


def tally_sentence(rows: list[dict]) -> str | None:
    """The scorecard's verdicts counted: one per claim and threat model."""
    counts = tally(rows)
    if not counts:
        return None
    return (
        f"Scorecard of {len(rows)} claims: "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + f" (of {sum(counts.values())} verdicts, one per claim and threat model)."
    )


VERDICT_CLASS = {"not comparable in this profile": "notmeasured", "explained": "notmeasured"}


def scorecard_rows(rows: list[dict]) -> list[dict]:
    """The scorecard as the template shows it: per claim, one cell per threat model (or one for both)."""
    out = []
    for row in rows:
        ours, cells = row["ours"], []
        for threat in ("all",) if "all" in ours else ("whitebox", "transfer"):
            o = ours.get(threat)
            if o is None:
                note = "the same (transfer is white-box)" if set(ours) == {"whitebox"} else "not claimed"
                cells.append({"note": note})
                continue
            failing = "; ".join(o.get("failing") or []) if o["verdict"] != "agree" else ""
            cls = VERDICT_CLASS.get(o["verdict"], o["verdict"].replace(" ", ""))
            seeds = (o.get("seeds") or {}).get("text")  # a run over several training seeds: "agrees in k of n seeds"
            cells.append(
                {
                    "note": None,
                    "text": o["text"],
                    "verdict": o["verdict"],
                    "cls": cls,
                    "failing": failing,
                    "seeds": seeds,
                }
            )
        out.append({**{k: row[k] for k in ("chapter", "quote", "claim", "seed")}, "cells": cells})
    return out
