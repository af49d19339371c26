"""The reproduction scorecard: the seed's claims as a data table (claim, the seed's value, the rule
that judges ours against it, and the measure that reads our number from the results), and the
verdicts. Rules and measures are shared between claims; a claim is one row of ``CLAIMS``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from advlab.course.plots import all_correct_up_to
from advlab.course.registry import label
from advlab.evaluation.results import acc_at, find_curve, pct

# The blog post's clean test accuracies, as it states them (its results tables).
CLAIMED_CLEAN = {"baseline": 0.99, "fgsm_retrained": 0.98}


@dataclass(frozen=True)
class Rule:
    """How our number is judged against the seed's. ``kind``:

    - ``points``: |ours - seed| in percentage points: agree <= ``agree``, partly <= ``partly``.
    - ``all_points``: every value (of a range of eps) within ``agree`` / ``partly`` points of the seed.
    - ``eps``: |ours - seed| in eps units: agree <= ``agree``, partly <= ``partly``.
    - ``factor``: both ends (first and last epoch) within a factor ``agree`` of the seed's: agree;
      one of the two: partly; neither: disagree.
    - ``both``: a claim made of two parts: both hold: agree; one: partly; none: disagree.
    - ``at_least``: ours >= ``agree``: agree; >= ``partly``: partly.
    """

    kind: str
    agree: float = 0.0
    partly: float = 0.0

    def text(self) -> str:
        a, p = self.agree, self.partly
        return {
            "points": f"agree within {a:g} point{'s' if a != 1 else ''}; partly within {p:g}",
            "all_points": f"agree if every value is within {a:g} points; partly within {p:g}",
            "eps": f"agree within {a:g} in eps; partly within {p:g}",
            "factor": f"agree if epoch 1 and the last epoch are both within a factor {a:g}; partly if one is",
            "both": "agree if both parts hold; partly if one does",
            "at_least": f"agree if >= {100 * a:g}%; partly if >= {100 * p:g}%",
        }[self.kind]

    def judge(self, value, seed) -> str:
        if self.kind == "points":
            d = abs(value - seed) * 100
            return "agree" if d <= self.agree + 1e-9 else "partly" if d <= self.partly + 1e-9 else "disagree"
        if self.kind == "all_points":
            d = max(abs(v - seed) for v in value) * 100
            return "agree" if d <= self.agree + 1e-9 else "partly" if d <= self.partly + 1e-9 else "disagree"
        if self.kind == "eps":
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "disagree"
            d = abs(value - seed)
            return "agree" if d <= self.agree + 1e-9 else "partly" if d <= self.partly + 1e-9 else "disagree"
        if self.kind == "factor":
            ok = [s > 0 and v > 0 and 1 / self.agree <= v / s <= self.agree for v, s in zip(value, seed)]
            return "agree" if all(ok) else "partly" if any(ok) else "disagree"
        if self.kind == "both":
            n = sum(bool(v) for v in value)
            return "agree" if n == len(value) else "partly" if n else "disagree"
        if self.kind == "at_least":
            return "agree" if value >= self.agree else "partly" if value >= self.partly else "disagree"
        raise ValueError(f"unknown rule kind {self.kind!r}")


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    seed_text: str
    seed: object  # the seed's number(s), in the unit the rule compares
    measure: str  # name of a function in MEASURES
    args: dict = field(default_factory=dict)
    threats: tuple = ("all",)  # "all": the number does not depend on a threat model
    rule: Rule = Rule("points", 10, 20)


# The rules the claims share.
CLEAN = Rule("points", 1, 3)  # a clean accuracy
CURVE = Rule("points", 10, 20)  # an accuracy under attack
PLATEAU = Rule("all_points", 10, 20)  # every accuracy of a range of eps
EPS = Rule("eps", 0.05, 0.10)  # an eps (where curves meet, how far a grid stays correct)
LOSS = Rule("factor", 2)  # a training loss, first and last epoch
BOTH = Rule("both")  # a claim made of two parts
MOST = Rule("at_least", 0.8, 0.5)  # a share
WB, WB_TR, ALL = ("whitebox",), ("whitebox", "transfer"), ("all",)

# The seed blog post's claims: one row each.
CLAIM_TABLE = [
    # id, claim, the seed's text, the seed's value, measure, its arguments, threat models, rule
    ("baseline_clean", "Baseline clean accuracy", "99%", 0.99, "clean", {"model": "baseline"}, ALL, CLEAN),
    (
        "fgsm_baseline_eps_0.1",
        "FGSM on the baseline, eps 0.1",
        "79%",
        0.79,
        "curve_at",
        {"model": "baseline", "attack": "fgsm", "eps": 0.1},
        WB,
        CURVE,
    ),
    (
        "fgsm_baseline_eps_0.2",
        "FGSM on the baseline, eps 0.2",
        "24%",
        0.24,
        "curve_at",
        {"model": "baseline", "attack": "fgsm", "eps": 0.2},
        WB,
        CURVE,
    ),
    (
        "fgsm_baseline_plateau",
        "FGSM on the baseline, eps >= 0.4",
        "plateau near 10%",
        0.10,
        "curve_range",
        {"model": "baseline", "attack": "fgsm", "min_eps": 0.4},
        WB,
        PLATEAU,
    ),
    (
        "fgsm_retrained_clean",
        "FGSM-retrained clean accuracy",
        "98%",
        0.98,
        "clean",
        {"model": "fgsm_retrained"},
        ALL,
        CLEAN,
    ),
    (
        "loss_untrained",
        "Training loss, FGSM untrained, epoch 1 -> last",
        "0.102 -> 0.002",
        (0.102, 0.002),
        "loss_ends",
        {"model": "fgsm_untrained"},
        ALL,
        LOSS,
    ),
    (
        "loss_retrained",
        "Training loss, FGSM retrained, epoch 1 -> last",
        "0.203 -> 0.002",
        (0.203, 0.002),
        "loss_ends",
        {"model": "fgsm_retrained"},
        ALL,
        LOSS,
    ),
    (
        "fgsm_ranking",
        "FGSM: retrained best, untrained worst (mean accuracy, eps 0.1-0.3)",
        "retrained > baseline > untrained",
        None,
        "ranking",
        {
            "attack": "fgsm",
            "best": "fgsm_retrained",
            "middle": "baseline",
            "worst": "fgsm_untrained",
            "eps_range": (0.1, 0.3),
        },
        WB_TR,
        BOTH,
    ),
    (
        "meet_baseline_retrained",
        "FGSM: baseline and retrained curves meet at eps",
        "about 0.30",
        0.30,
        "meeting",
        {"attack": "fgsm", "above": "fgsm_retrained", "below": "baseline"},
        WB_TR,
        EPS,
    ),
    (
        "meet_retrained_untrained",
        "FGSM: retrained and untrained curves meet at eps",
        "about 0.37",
        0.37,
        "meeting",
        {"attack": "fgsm", "above": "fgsm_retrained", "below": "fgsm_untrained"},
        WB_TR,
        EPS,
    ),
    ("grid_baseline", "Grid (FGSM): baseline correct up to eps", "0.15", 0.15, "grid", {"model": "baseline"}, WB, EPS),
    (
        "grid_fgsm_retrained",
        "Grid (FGSM): FGSM-trained correct up to eps",
        "0.2",
        0.20,
        "grid",
        {"model": "fgsm_retrained"},
        WB,
        EPS,
    ),
    (
        "grid_pgd_retrained",
        "Grid (FGSM): PGD-trained correct up to eps",
        "0.25",
        0.25,
        "grid",
        {"model": "pgd_retrained"},
        WB,
        EPS,
    ),
    (
        "collapse",
        "FGSM on the baseline at large eps (>= 0.4): share of the most predicted class",
        "collapse onto a single class",
        1.0,
        "collapse",
        {"min_eps": 0.4},
        WB,
        MOST,
    ),
]
CLAIMS = [Claim(*row) for row in CLAIM_TABLE]


def _m_clean(results, threat, model):
    m = results.get("models", {}).get(model)
    return None if m is None else (m["clean_acc"], pct(m["clean_acc"]))


def _m_curve_at(results, threat, model, attack, eps):
    c = find_curve(results, model, attack, threat)
    a = None if c is None else acc_at(c, eps)
    return None if a is None else (a, pct(a))


def _m_curve_range(results, threat, model, attack, min_eps):
    c = find_curve(results, model, attack, threat)
    if c is None:
        return None
    vals = [a for e, a in zip(c["eps"], c["acc"]) if e >= min_eps - 1e-9]
    if not vals:
        return None
    return vals, f"{pct(min(vals))} to {pct(max(vals))} ({len(vals)} eps)"


def _m_loss_ends(results, threat, model):
    losses = results.get("losses", {}).get(model)
    if not losses:
        return None
    n = len(losses)
    return (losses[0], losses[-1]), f"{losses[0]:.3f} -> {losses[-1]:.3f} ({n} epoch{'s' if n != 1 else ''})"


def _m_ranking(results, threat, attack, best, middle, worst, eps_range):
    lo, hi = eps_range
    means = {}
    for model in (best, middle, worst):
        c = find_curve(results, model, attack, threat)
        if c is None:
            return None
        vals = [a for e, a in zip(c["eps"], c["acc"]) if lo - 1e-9 <= e <= hi + 1e-9]
        if not vals:
            return None
        means[model] = sum(vals) / len(vals)
    is_best = means[best] >= max(means.values())
    is_worst = means[worst] <= min(means.values())
    text = ", ".join(f"{label(m)} {pct(v)}" for m, v in sorted(means.items(), key=lambda t: -t[1]))
    return (is_best, is_worst), text


def _m_pair(results, threat, attack, better, worse, eps_range):
    """Is ``better``'s mean accuracy over ``eps_range`` above ``worse``'s? (A one-part ``both`` rule.)"""
    lo, hi = eps_range
    means = {}
    for model in (better, worse):
        c = find_curve(results, model, attack, threat)
        vals = [] if c is None else [a for e, a in zip(c["eps"], c["acc"]) if lo - 1e-9 <= e <= hi + 1e-9]
        if not vals:
            return None
        means[model] = sum(vals) / len(vals)
    text = f"{label(better)} {pct(means[better])}, {label(worse)} {pct(means[worse])}"
    return (means[better] > means[worse],), text


def meeting_eps(eps, above, below) -> float | None:
    """The eps (linearly interpolated) at which curve ``above``, once above ``below``, first comes
    down to meet it; None when it never is above, or never comes down."""
    diff = [a - b for a, b in zip(above, below)]
    start = next((i for i, d in enumerate(diff) if d > 0), None)
    if start is None:
        return None
    for j in range(start + 1, len(diff)):
        if diff[j] <= 0:
            d0, d1 = diff[j - 1], diff[j]
            return eps[j - 1] + (eps[j] - eps[j - 1]) * d0 / (d0 - d1)
    return None


def _m_meeting(results, threat, attack, above, below):
    ca, cb = find_curve(results, above, attack, threat), find_curve(results, below, attack, threat)
    if ca is None or cb is None:
        return None
    common = [e for e in ca["eps"] if acc_at(cb, e) is not None]
    if len(common) < 2:
        return None
    e = meeting_eps(common, [acc_at(ca, x) for x in common], [acc_at(cb, x) for x in common])
    if e is None:
        first = next((x for x in common if acc_at(ca, x) > acc_at(cb, x)), None)
        if first is None:
            return float("nan"), f"{label(above)} is never above {label(below)} (eps {common[0]:g}-{common[-1]:g})"
        since = f"from eps {first:g} on" if first != common[0] else f"over eps {common[0]:g}-{common[-1]:g}"
        return float("nan"), f"{label(above)} is above {label(below)} {since} and never meets it again"
    return e, f"eps {e:.2f}"


def grid_correct_up_to(grid: dict) -> float | None:
    """The largest grid eps up to which every image is classified correctly (None: not even at the
    smallest eps). Uses the notebook's own ``all_correct_up_to`` when it recorded one."""
    if "all_correct_up_to" in grid:
        return grid["all_correct_up_to"]
    order = sorted(range(len(grid["eps"])), key=lambda i: grid["eps"][i])
    return all_correct_up_to([grid["preds"][i] for i in order], grid["label"], [grid["eps"][i] for i in order])


def _m_grid(results, threat, model):
    grid = results.get("grids", {}).get(model)
    if not grid or ("all_correct_up_to" not in grid and not grid.get("preds")):
        return None
    e = grid_correct_up_to(grid)
    if e is None:
        return float("nan"), "not all correct even at the smallest eps"
    return float(e), f"eps {e:g}"


def _m_collapse(results, threat, min_eps):
    col = results.get("collapse")
    if not col:
        return None
    rows = [(s, e, c) for e, c, s in zip(col["eps"], col["top_class"], col["top_share"]) if e >= min_eps - 1e-9]
    if not rows:
        return None
    share, e, cls = max(rows)
    return share, f"{pct(share)} predicted as '{cls}' at eps {e:g}"


MEASURES = {
    "clean": _m_clean,
    "curve_at": _m_curve_at,
    "curve_range": _m_curve_range,
    "loss_ends": _m_loss_ends,
    "ranking": _m_ranking,
    "pair": _m_pair,
    "meeting": _m_meeting,
    "grid": _m_grid,
    "collapse": _m_collapse,
}


def scorecard(results: dict, claims=CLAIMS) -> list[dict]:
    """One row per claim: the seed's value, ours per threat model, and the verdict of the claim's rule
    (``agree`` / ``partly`` / ``disagree``; ``not measured`` when the numbers are missing)."""
    rows = []
    for c in claims:
        ours = {}
        for threat in c.threats:
            got = MEASURES[c.measure](results, threat, **c.args)
            if got is None:
                ours[threat] = {"value": None, "text": "not measured", "verdict": "not measured"}
                continue
            value, text = got
            ours[threat] = {
                "value": None if isinstance(value, float) and math.isnan(value) else value,
                "text": text,
                "verdict": c.rule.judge(value, c.seed),
            }
        rows.append({"id": c.id, "claim": c.claim, "seed": c.seed_text, "rule": c.rule.text(), "ours": ours})
    return rows


def claims_by_threat(rows: list[dict]) -> dict:
    """The seed's claims that depend on a threat model, sorted by where they hold (verdict "agree"):
    ``{"whitebox": [...], "transfer_only": [...], "neither": [...], "not_measured": [...]}``."""
    out = {"whitebox": [], "transfer_only": [], "neither": [], "not_measured": []}
    for row in rows:
        ours = row["ours"]
        if "all" in ours:
            continue
        verdicts = {t: o["verdict"] for t, o in ours.items()}
        if all(v == "not measured" for v in verdicts.values()):
            out["not_measured"].append(row["claim"])
        elif verdicts.get("whitebox") == "agree":
            out["whitebox"].append(row["claim"])
        elif verdicts.get("transfer") == "agree":
            out["transfer_only"].append(row["claim"])
        else:
            out["neither"].append(row["claim"])
    return out
