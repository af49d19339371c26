"""The course report: merge the numbers each notebook recorded (``report/<profile>/parts/*.json``) into
``report/<profile>/results.json`` and one self-contained page, ``report/<profile>/index.html``: the
figures (embedded), the clean accuracies, a reproduction scorecard against the seed's claims, the
sanity checks of ``advlab.sanity``, and the run's metadata, with links to the executed notebooks
exported as HTML.

Every path is relative to ``root`` (the repository root by default), so the tests can build a
report in a temporary folder. Every file is written atomically.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import logging
import math
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import challenge, sanity
from .errors import AdvlabError
from .io import atomic_path, write_json
from .pipeline import FIGURES, MODELS, NOTEBOOKS
from .profiles import EXPECTED_CPU_TIME

PROFILE_MEANING = {
    "smoke": "the whole pipeline on tiny subsets, to check that everything runs end to end; "
             "its numbers are too rough to compare with the seed",
    "quick": "every step of the seed, with sizes and epochs shrunk to fit minutes on a CPU; "
             "numbers move towards the seed's but training is far shorter",
    "paper": "the seed's protocol (60k training images, 360k combined sets, 50 epochs)",
}
MODEL_LABELS = {"baseline": "Baseline", "fgsm_retrained": "FGSM retrained", "fgsm_untrained": "FGSM untrained",
                "pgd_retrained": "PGD retrained", "pgd_untrained": "PGD untrained",
                "fast_adv": "Fast adversarial (on the fly)", "madry_adv": "Madry PGD (on the fly)"}
THREAT_LABELS = {"whitebox": "white-box", "transfer": "transfer (crafted on the baseline)", "all": "any"}
SEED_CLEAN = {"baseline": 0.99, "fgsm_retrained": 0.98}
VERSION_PACKAGES = ("torch", "torchvision", "advlab", "papermill", "numpy")
CURVE_KEYS = ("model", "attack", "threat", "eps", "acc", "n_images")


# --- merging the parts ----------------------------------------------------------------------------

def report_dir(profile: str, root: str | Path = ".") -> Path:
    return Path(root) / "report" / profile


def load_parts(profile: str, root: str | Path = ".") -> tuple[list[dict], list[str]]:
    """The recorded parts in notebook order, and a warning for each unreadable one."""
    folder = report_dir(profile, root) / "parts"
    order = {name: i for i, name in enumerate(NOTEBOOKS)}
    parts, warnings = [], []
    for p in sorted(folder.glob("*.json"), key=lambda p: (order.get(p.stem, len(order)), p.stem)):
        try:
            part = json.loads(p.read_text())
            if not isinstance(part, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            warnings.append(f"skipped unreadable part {p.name}: {exc}")
            continue
        part.setdefault("notebook", p.stem)
        part["_recorded"] = _dt.datetime.fromtimestamp(p.stat().st_mtime).astimezone().isoformat(timespec="seconds")
        parts.append(part)
    return parts, warnings


def merge_parts(parts: list[dict]) -> dict:
    """One results dict from the parts, later notebooks winning: models, losses, grids and
    pgd_strength are unions; curves are deduplicated on (model, attack, threat)."""
    merged = {"models": {}, "curves": [], "losses": {}, "attack_settings": {}, "grids": {},
              "collapse": None, "noise": None, "pgd_strength": {}, "figures": [], "notebooks": [], "recorded": {},
              "on_the_fly": {}, "train_seconds": {}, "capacity": [],
              "config": None, "devices": [], "warnings": []}
    curves, figures = {}, {}
    configs = {}
    for part in parts:
        nb = part.get("notebook", "?")
        merged["notebooks"].append(nb)
        merged["recorded"][nb] = part.get("_recorded")
        for name, m in (part.get("models") or {}).items():
            if isinstance(m, dict) and m.get("clean_acc") is not None:
                entry = merged["models"].setdefault(name, {})
                entry["clean_acc"] = float(m["clean_acc"])
                for key in ("robust_eval", "sanity"):   # the stronger evaluation (notebooks 02-05)
                    if isinstance(m.get(key), dict):
                        entry[key] = m[key]
        for key in ("on_the_fly", "train_seconds"):
            merged[key].update(part.get(key) or {})
        if part.get("capacity"):
            merged["capacity"] = part["capacity"]
        for c in part.get("curves") or []:
            if all(k in c for k in ("model", "attack", "threat", "eps", "acc")):
                curves[(c["model"], c["attack"], c["threat"])] = {
                    "model": c["model"], "attack": c["attack"], "threat": c["threat"],
                    "eps": [float(e) for e in c["eps"]], "acc": [float(a) for a in c["acc"]],
                    "n_images": c.get("n_images")}
                if c.get("subset"):  # FGSM on exactly the PGD curve's images (for the PGD <= FGSM check)
                    curves[(c["model"], c["attack"], c["threat"])]["subset"] = c["subset"]
        for name, values in (part.get("losses") or {}).items():
            merged["losses"][name] = [float(v) for v in values]
        merged["attack_settings"].update(part.get("attack_settings") or {})
        merged["grids"].update(part.get("grids") or {})
        merged["pgd_strength"].update(part.get("pgd_strength") or {})
        for key in ("collapse", "noise"):
            if part.get(key):
                merged[key] = part[key]
        for f in part.get("figures") or []:
            if isinstance(f, dict) and f.get("name"):
                figures[f["name"]] = f
        if part.get("device") and part["device"] not in merged["devices"]:
            merged["devices"].append(part["device"])
        if part.get("config"):
            configs[nb] = part["config"]
            merged["config"] = part["config"]
    merged["curves"] = list(curves.values())
    merged["figures"] = list(figures.values())
    # Parts recorded with different settings (say, an old run of one notebook) are mixed: say so.
    ignore = {"force", "device"}
    distinct = {json.dumps({k: v for k, v in c.items() if k not in ignore}, sort_keys=True) for c in configs.values()}
    if len(distinct) > 1:
        ref = merged["config"]
        diffs = sorted({k for c in configs.values() for k in c if k not in ignore and c.get(k) != ref.get(k)})
        merged["warnings"].append(f"the notebooks' parts were recorded with different settings ({', '.join(diffs)}): "
                                  f"rerun them together (python run_all.py --profile ...)")
    return merged


# --- the reproduction scorecard -------------------------------------------------------------------

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
    seed: object                      # the seed's number(s), in the unit the rule compares
    measure: str                      # name of a function in MEASURES
    args: dict = field(default_factory=dict)
    threats: tuple = ("all",)         # "all": the number does not depend on a threat model
    rule: Rule = Rule("points", 10, 20)


# The seed's claims (GUIDE section 3, first table), with the rule each one is judged by.
CLAIMS = [
    Claim("baseline_clean", "Baseline clean accuracy", "99%", 0.99, "clean", {"model": "baseline"},
          rule=Rule("points", 1, 3)),
    Claim("fgsm_baseline_eps_0.1", "FGSM on the baseline, eps 0.1", "79%", 0.79, "curve_at",
          {"model": "baseline", "attack": "fgsm", "eps": 0.1}, ("whitebox",), Rule("points", 10, 20)),
    Claim("fgsm_baseline_eps_0.2", "FGSM on the baseline, eps 0.2", "24%", 0.24, "curve_at",
          {"model": "baseline", "attack": "fgsm", "eps": 0.2}, ("whitebox",), Rule("points", 10, 20)),
    Claim("fgsm_baseline_plateau", "FGSM on the baseline, eps >= 0.4", "plateau near 10%", 0.10, "curve_range",
          {"model": "baseline", "attack": "fgsm", "min_eps": 0.4}, ("whitebox",), Rule("all_points", 10, 20)),
    Claim("fgsm_retrained_clean", "FGSM-retrained clean accuracy", "98%", 0.98, "clean",
          {"model": "fgsm_retrained"}, rule=Rule("points", 1, 3)),
    Claim("loss_untrained", "Training loss, FGSM untrained, epoch 1 -> last", "0.102 -> 0.002", (0.102, 0.002),
          "loss_ends", {"model": "fgsm_untrained"}, rule=Rule("factor", 2)),
    Claim("loss_retrained", "Training loss, FGSM retrained, epoch 1 -> last", "0.203 -> 0.002", (0.203, 0.002),
          "loss_ends", {"model": "fgsm_retrained"}, rule=Rule("factor", 2)),
    Claim("fgsm_ranking", "FGSM: retrained best, untrained worst (mean accuracy, eps 0.1-0.3)",
          "retrained > baseline > untrained", None, "ranking",
          {"attack": "fgsm", "best": "fgsm_retrained", "middle": "baseline", "worst": "fgsm_untrained",
           "eps_range": (0.1, 0.3)}, ("whitebox", "transfer"), Rule("both")),
    Claim("meet_baseline_retrained", "FGSM: baseline and retrained curves meet at eps", "about 0.30", 0.30,
          "meeting", {"attack": "fgsm", "above": "fgsm_retrained", "below": "baseline"},
          ("whitebox", "transfer"), Rule("eps", 0.05, 0.10)),
    Claim("meet_retrained_untrained", "FGSM: retrained and untrained curves meet at eps", "about 0.37", 0.37,
          "meeting", {"attack": "fgsm", "above": "fgsm_retrained", "below": "fgsm_untrained"},
          ("whitebox", "transfer"), Rule("eps", 0.05, 0.10)),
    Claim("grid_baseline", "Grid (FGSM): baseline correct up to eps", "0.15", 0.15, "grid",
          {"model": "baseline"}, ("whitebox",), Rule("eps", 0.05, 0.10)),
    Claim("grid_fgsm_retrained", "Grid (FGSM): FGSM-trained correct up to eps", "0.2", 0.20, "grid",
          {"model": "fgsm_retrained"}, ("whitebox",), Rule("eps", 0.05, 0.10)),
    Claim("grid_pgd_retrained", "Grid (FGSM): PGD-trained correct up to eps", "0.25", 0.25, "grid",
          {"model": "pgd_retrained"}, ("whitebox",), Rule("eps", 0.05, 0.10)),
    Claim("collapse", "FGSM on the baseline at large eps (>= 0.4): share of the most predicted class",
          "collapse onto a single class", 1.0, "collapse", {"min_eps": 0.4}, ("whitebox",), Rule("at_least", 0.8, 0.5)),
]


def _m_clean(results, threat, model):
    m = results.get("models", {}).get(model)
    return None if m is None else (m["clean_acc"], sanity.pct(m["clean_acc"]))


def _m_curve_at(results, threat, model, attack, eps):
    c = sanity.find_curve(results, model, attack, threat)
    a = None if c is None else sanity.acc_at(c, eps)
    return None if a is None else (a, sanity.pct(a))


def _m_curve_range(results, threat, model, attack, min_eps):
    c = sanity.find_curve(results, model, attack, threat)
    if c is None:
        return None
    vals = [a for e, a in zip(c["eps"], c["acc"]) if e >= min_eps - 1e-9]
    if not vals:
        return None
    return vals, f"{sanity.pct(min(vals))} to {sanity.pct(max(vals))} ({len(vals)} eps)"


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
        c = sanity.find_curve(results, model, attack, threat)
        if c is None:
            return None
        vals = [a for e, a in zip(c["eps"], c["acc"]) if lo - 1e-9 <= e <= hi + 1e-9]
        if not vals:
            return None
        means[model] = sum(vals) / len(vals)
    is_best = means[best] >= max(means.values())
    is_worst = means[worst] <= min(means.values())
    text = ", ".join(f"{MODEL_LABELS.get(m, m)} {sanity.pct(v)}" for m, v in sorted(means.items(), key=lambda t: -t[1]))
    return (is_best, is_worst), text


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
    ca, cb = sanity.find_curve(results, above, attack, threat), sanity.find_curve(results, below, attack, threat)
    if ca is None or cb is None:
        return None
    common = [e for e in ca["eps"] if sanity.acc_at(cb, e) is not None]
    if len(common) < 2:
        return None
    e = meeting_eps(common, [sanity.acc_at(ca, x) for x in common], [sanity.acc_at(cb, x) for x in common])
    if e is None:
        ever_above = any(sanity.acc_at(ca, x) > sanity.acc_at(cb, x) for x in common)
        how = "stays above" if ever_above else "is never above"
        return float("nan"), f"{_label(above)} {how} {_label(below)} (eps {common[0]:g}-{common[-1]:g})"
    return e, f"eps {e:.2f}"


def grid_correct_up_to(grid: dict) -> float | None:
    """The largest grid eps up to which every image is classified correctly (None: not even at the
    smallest eps). Uses the notebook's own ``all_correct_up_to`` when it recorded one."""
    if "all_correct_up_to" in grid:
        return grid["all_correct_up_to"]
    from .plots import all_correct_up_to
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
    return share, f"{sanity.pct(share)} predicted as '{cls}' at eps {e:g}"


MEASURES = {"clean": _m_clean, "curve_at": _m_curve_at, "curve_range": _m_curve_range, "loss_ends": _m_loss_ends,
            "ranking": _m_ranking, "meeting": _m_meeting, "grid": _m_grid, "collapse": _m_collapse}


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
            ours[threat] = {"value": None if isinstance(value, float) and math.isnan(value) else value,
                            "text": text, "verdict": c.rule.judge(value, c.seed)}
        rows.append({"id": c.id, "claim": c.claim, "seed": c.seed_text, "rule": c.rule.text(), "ours": ours})
    return rows


# --- metadata, notebooks --------------------------------------------------------------------------

def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def export_notebooks(profile: str, root: str | Path = ".") -> dict:
    """Export each executed notebook ``report/<profile>/<stem>.ipynb`` to ``<stem>.html`` (outputs
    kept, code hidden). Returns ``{stem: html file name or None}`` for the course's notebooks."""
    folder = report_dir(profile, root)
    out = {}
    exporter = None
    stems = NOTEBOOKS + sorted(p.stem for p in folder.glob("*.ipynb") if p.stem not in NOTEBOOKS)
    for stem in stems:
        src, dst = folder / f"{stem}.ipynb", folder / f"{stem}.html"
        if not src.exists():
            out[stem] = None
            continue
        if not dst.exists() or dst.stat().st_mtime < src.stat().st_mtime:
            import nbformat
            from nbconvert import HTMLExporter
            if exporter is None:
                exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
                exporter.log.setLevel(logging.ERROR)   # not its accessibility notes on figures without alt text
            try:
                body, _ = exporter.from_notebook_node(nbformat.read(src, as_version=4))
            except Exception as exc:   # a broken notebook must not sink the whole report
                print(f"report: could not export {src.name} to HTML ({type(exc).__name__}: {exc})")
                out[stem] = None
                continue
            with atomic_path(dst) as tmp:
                tmp.write_text(body, encoding="utf-8")
        out[stem] = dst.name
    return out


def _timings(profile: str, root) -> dict:
    p = report_dir(profile, root) / "timings.json"
    try:
        data = json.loads(p.read_text())
        return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


# --- building -------------------------------------------------------------------------------------

def collect(profile: str, root: str | Path = ".") -> dict:
    """The merged results of ``profile`` with scorecard and sanity checks (what results.json holds)."""
    parts, warnings = load_parts(profile, root)
    merged = merge_parts(parts)
    results = {
        "profile": profile,
        "device": ", ".join(merged["devices"]) or "unknown",
        "seconds": _timings(profile, root),
        "models": merged["models"],
        "curves": merged["curves"],
        "losses": merged["losses"],
        "attack_settings": merged["attack_settings"],
        "grids": merged["grids"],
        "collapse": merged["collapse"],
        "noise": merged["noise"],
        "pgd_strength": merged["pgd_strength"],
        "on_the_fly": merged["on_the_fly"],
        "train_seconds": merged["train_seconds"],
        "capacity": merged["capacity"],
        "figures": [_figure_entry(name, caption, merged["figures"], profile, root)
                    for name, caption in _figure_list(merged["figures"])],
        "notebooks": merged["notebooks"],
        "recorded": merged["recorded"],
        "config": merged["config"],
        "versions": versions(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "warnings": warnings + merged["warnings"],
    }
    results["scorecard"] = scorecard(results)
    results["sanity"] = sanity.run_checks(results)
    # Each model's own sanity record: the checks that attacked it (notebooks), then those of its curves.
    for check, per_model in results["sanity"].items():
        for model, r in per_model.items():
            if model in results["models"]:
                results["models"][model].setdefault("sanity", {})[f"curves_{check}"] = r
    results["claims_by_threat"] = claims_by_threat(results["scorecard"])
    try:
        results["leaderboard"] = challenge.load_leaderboard(profile, root)
    except AdvlabError as exc:
        results["leaderboard"] = []
        results["warnings"].append(str(exc))
    return results


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


def _figure_list(recorded: list[dict]) -> list[tuple[str, str]]:
    """pipeline.FIGURES in order, then any other figure a notebook recorded."""
    names = list(FIGURES.items())
    names += [(f["name"], f.get("caption", f["name"])) for f in recorded if f["name"] not in FIGURES]
    return names


def _figure_entry(name, caption, recorded, profile, root) -> dict:
    rec = next((f for f in recorded if f["name"] == name), {})
    candidates = [Path(rec["path"])] if rec.get("path") else []
    candidates.append(Path("figures") / profile / f"{name}.png")
    for rel in candidates:
        full = rel if rel.is_absolute() else Path(root) / rel
        if full.is_file():
            return {"name": name, "caption": rec.get("caption") or caption, "path": str(rel), "exists": True}
    return {"name": name, "caption": rec.get("caption") or caption, "path": str(candidates[-1]), "exists": False}


def build_report(profile: str, root: str | Path = ".", export: bool = True) -> Path:
    """Write ``report/<profile>/results.json`` and ``index.html`` under ``root``; returns the page's path."""
    folder = report_dir(profile, root)
    folder.mkdir(parents=True, exist_ok=True)
    results = collect(profile, root)
    pages = export_notebooks(profile, root) if export else {}
    write_json(folder / "results.json", results)
    page = folder / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text(render_html(results, pages, root), encoding="utf-8")
    return page


# --- the page -------------------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .93em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.agree { background: #dff3df; } .partly { background: #fff3cd; } .disagree { background: #f8d7da; }
.notmeasured { background: #eee; color: #666; } .pass { background: #dff3df; } .fail { background: #f8d7da; }
.verdict { font-weight: 600; white-space: nowrap; } .muted { color: #666; font-size: .9em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: .92em; margin-top: .3em; }
.warn { background: #fff3cd; border: 1px solid #e6d08a; padding: .5em .8em; }
code { background: #f5f5f5; padding: 0 .2em; }
"""


def _e(x) -> str:
    return html.escape(str(x))


def _label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def summary_sentences(results: dict) -> list[str]:
    """A few sentences about the run, generated from its numbers."""
    out = []
    models = results.get("models", {})
    if "baseline" in models:
        out.append(f"The baseline CNN reaches {sanity.pct(models['baseline']['clean_acc'])} clean test accuracy (seed: 99%).")
    base = sanity.find_curve(results, "baseline", "fgsm", "whitebox")
    if base:
        a1, a2 = sanity.acc_at(base, 0.1), sanity.acc_at(base, 0.2)
        if a1 is not None and a2 is not None:
            out.append(f"White-box FGSM takes it to {sanity.pct(a1)} at eps 0.1 and {sanity.pct(a2)} at eps 0.2 "
                       f"(seed: 79% and 24%).")
    pgd_base = sanity.find_curve(results, "baseline", "pgd", "whitebox")
    if pgd_base and base and sanity.acc_at(pgd_base, 0.3) is not None and sanity.acc_at(base, 0.3) is not None:
        p3, f3 = sanity.acc_at(pgd_base, 0.3), sanity.acc_at(base, 0.3)
        out.append(f"At eps 0.3, white-box PGD leaves the baseline {sanity.pct(p3)} against FGSM's {sanity.pct(f3)}"
                   + (" (PGD, the stronger attack, should not do worse than FGSM)." if p3 > f3 + 0.02 else "."))
    robust = []
    for model in ("fgsm_retrained", "pgd_retrained"):
        c = sanity.find_curve(results, model, "pgd", "whitebox") or sanity.find_curve(results, model, "fgsm", "whitebox")
        if c and sanity.acc_at(c, 0.3) is not None and model in models:
            robust.append(f"{_label(model)} keeps {sanity.pct(sanity.acc_at(c, 0.3))} under white-box {c['attack'].upper()} "
                          f"at eps 0.3 (clean {sanity.pct(models[model]['clean_acc'])})")
    if robust:
        out.append("After adversarial training: " + "; ".join(robust) + ".")
    verdicts = [o["verdict"] for row in results.get("scorecard", []) for o in row["ours"].values()]
    if verdicts:
        counts = {v: verdicts.count(v) for v in ("agree", "partly", "disagree", "not measured")}
        out.append(f"Scorecard: {counts['agree']} agree, {counts['partly']} partly, {counts['disagree']} disagree, "
                   f"{counts['not measured']} not measured (of {len(verdicts)} comparisons).")
    passed, failed, names = sanity.summary(results.get("sanity", {}))
    if passed or failed:
        out.append(f"Sanity checks: {passed} passed, {failed} failed"
                   + (f" ({', '.join(names[:4])}{' ...' if len(names) > 4 else ''})." if failed else "."))
    return out


def _img_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def render_html(results: dict, pages: dict | None = None, root: str | Path = ".") -> str:
    profile = results["profile"]
    pages = pages or {}
    cfg = results.get("config") or {}
    h = []
    add = h.append
    add("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>")
    add(f"<title>AdvLab report ({_e(profile)})</title><style>{CSS}</style></head><body>")
    add("<h1>AdvLab: adversarial examples on MNIST</h1>")
    add(f"<p class='muted'>Reproduction report of the blog post <em>Adversarially Attacks and Training Deep "
        f"Learning Models</em> (FGSM, PGD and adversarial training of a small CNN). Built {_e(results.get('date', ''))}.</p>")
    add(f"<p><strong>Profile <code>{_e(profile)}</code></strong>: {_e(PROFILE_MEANING.get(profile, 'a custom profile'))}. "
        f"Expected time on a 2-core CPU: {_e(EXPECTED_CPU_TIME.get(profile, 'unknown'))}. Device: {_e(results.get('device'))}.</p>")
    if cfg:
        add("<p class='muted'>This run: baseline {} epoch(s) on {} images; combined sets from {} images x {} eps, "
            "{} epoch(s); FGSM curves on {} test images, PGD on {} ({} steps). The seed: 50 epochs, 60,000 / 360,000 "
            "images, the full 10,000 test images.</p>".format(
                _e(cfg.get("epochs")), _e(cfg.get("n_train") or 60000), _e(cfg.get("adv_n_train") or 60000),
                _e(1 + len(cfg.get("adv_epsilons") or [])), _e(cfg.get("adv_epochs")), _e(cfg.get("n_test") or 10000),
                _e(cfg.get("n_pgd_test")), _e(cfg.get("pgd_steps"))))
        if cfg.get("fast_epochs") is not None:
            add("<p class='muted'>Beyond the seed (notebook 05): fast adversarial training {} epoch(s) at eps {}{}; "
                "robust evaluation on {} test images: FGSM, PGD-{} with {} restart(s) on the cross-entropy and {} on "
                "the CW margin, worst case per image.</p>".format(
                    _e(cfg.get("fast_epochs")), _e(cfg.get("otf_eps")),
                    f"; Madry PGD-{_e(cfg.get('madry_steps'))} training {_e(cfg.get('madry_epochs'))} epochs"
                    if cfg.get("madry_epochs") else "; Madry's PGD training not run in this profile",
                    _e(cfg.get("robust_n")), _e(cfg.get("robust_steps")), _e(cfg.get("robust_restarts")),
                    _e(cfg.get("robust_cw_restarts"))))
    for w in results.get("warnings", []):
        add(f"<p class='warn'>Warning: {_e(w)}</p>")

    add("<h2>Summary</h2>")
    sentences = summary_sentences(results)
    add("<p>" + (" ".join(_e(s) for s in sentences) or "No results recorded yet: run <code>python run_all.py</code>.") + "</p>")
    add("<p>Contents: <a href='#scorecard'>reproduction scorecard</a> &middot; <a href='#sanity'>sanity checks</a> "
        "&middot; <a href='#robust'>static vs on-the-fly training</a> &middot; <a href='#model-sanity'>sanity per model</a> "
        "&middot; <a href='#clean'>clean accuracy</a> &middot; <a href='#figures'>figures</a> &middot; "
        "<a href='#tables'>accuracy tables</a> &middot; <a href='#notebooks'>notebooks</a> &middot; "
        "<a href='#metadata'>run metadata</a></p>")

    # scorecard
    add("<h2 id='scorecard'>Reproduction scorecard</h2>")
    add("<p>Each claim of the seed, our number under each threat model (<em>white-box</em>: examples crafted on "
        "the model itself; <em>transfer</em>: crafted on the baseline), and a verdict by the rule in the last "
        "column. For the baseline the two threat models coincide, so only white-box is shown. Short profiles "
        "train far less than the seed's 50 epochs, so disagreements there are expected.</p>")
    add("<table><tr><th>Claim</th><th>Seed</th><th>Ours: white-box</th><th>Ours: transfer</th><th>Rule</th></tr>")
    for row in results.get("scorecard", []):
        cells = []
        if "all" in row["ours"]:
            cells.append(_verdict_cell(row["ours"]["all"], colspan=2))
        else:
            for threat in ("whitebox", "transfer"):
                cells.append(_verdict_cell(row["ours"][threat]) if threat in row["ours"]
                             else "<td class='muted'>n/a</td>")
        add(f"<tr><td>{_e(row['claim'])}</td><td>{_e(row['seed'])}</td>{''.join(cells)}"
            f"<td class='muted'>{_e(row['rule'])}</td></tr>")
    add("</table>")
    by = results.get("claims_by_threat") or {}
    if any(by.values()):
        add("<p><strong>Where the seed's claims hold.</strong> ")
        for key, words in (("whitebox", "Hold white-box (against the model's own gradients)"),
                           ("transfer_only", "Hold only under transfer (examples crafted on the baseline)"),
                           ("neither", "Do not hold here (under any threat model measured)"),
                           ("not_measured", "Not measured in this run")):
            add(f"{words}: {_e('; '.join(by.get(key) or []) or 'none')}.<br>")
        add("</p>")

    # sanity
    add("<h2 id='sanity'>Sanity checks</h2>")
    add("<p>Checks every robustness evaluation should pass (Carlini et al. 2019, <em>On Evaluating Adversarial "
        "Robustness</em>). A failure means a number above deserves suspicion, not that the code is wrong.</p>")
    add("<table><tr><th>Check</th><th>Model</th><th>Result</th><th>Detail</th></tr>")
    for name, per_model in results.get("sanity", {}).items():
        desc = sanity.DESCRIPTIONS.get(name, "")
        if not per_model:
            add(f"<tr><td><strong>{_e(name)}</strong><br><span class='muted'>{_e(desc)}</span></td>"
                f"<td>-</td><td class='notmeasured verdict'>not measured</td><td class='muted'>no data recorded</td></tr>")
            continue
        first = True
        for model, r in per_model.items():
            head = (f"<td rowspan='{len(per_model)}'><strong>{_e(name)}</strong><br>"
                    f"<span class='muted'>{_e(desc)}</span></td>") if first else ""
            first = False
            cls, word = ("pass", "passed") if r["passed"] else ("fail", "FAILED")
            add(f"<tr>{head}<td>{_e(_label(model))}</td><td class='{cls} verdict'>{word}</td><td>{_e(r['detail'])}</td></tr>")
    add("</table>")

    _render_robust(results, add)
    _render_leaderboard(results, add)

    # clean accuracy
    add("<h2 id='clean'>Clean accuracy</h2>")
    add("<table><tr><th>Model</th><th>Clean test accuracy</th><th>Seed</th></tr>")
    models = results.get("models", {})
    for name in MODELS + [m for m in models if m not in MODELS]:
        acc = models.get(name, {}).get("clean_acc")
        seed = SEED_CLEAN.get(name)
        add(f"<tr><td>{_e(_label(name))}</td><td class='num'>{sanity.pct(acc) if acc is not None else 'not measured'}</td>"
            f"<td class='num'>{sanity.pct(seed) if seed is not None else '-'}</td></tr>")
    add("</table>")

    # figures
    add("<h2 id='figures'>Figures</h2>")
    for f in results.get("figures", []):
        full = Path(f["path"]) if Path(f["path"]).is_absolute() else Path(root) / f["path"]
        if f.get("exists") and full.is_file():
            add(f"<figure>{_img_tag(full, f['caption'])}<figcaption><strong>{_e(f['name'])}</strong>: "
                f"{_e(f['caption'])}</figcaption></figure>")
        else:
            add(f"<p class='muted'>Figure <code>{_e(f['name'])}</code> ({_e(f['caption'])}) was not produced.</p>")

    # accuracy tables
    add("<h2 id='tables'>Accuracy tables</h2>")
    curves = sorted(results.get("curves", []), key=lambda c: (c["attack"], c["threat"],
                                                              MODELS.index(c["model"]) if c["model"] in MODELS else 99))
    if curves:
        add("<details><summary>Accuracy (%) per eps for every curve</summary>")
        eps_all = sorted({e for c in curves for e in c["eps"]})
        add("<table><tr><th>Attack</th><th>Threat</th><th>Model</th><th>Images</th>"
            + "".join(f"<th>{e:g}</th>" for e in eps_all) + "</tr>")
        for c in curves:
            vals = dict(zip(c["eps"], c["acc"]))
            add(f"<tr><td>{_e(c['attack'].upper())}</td><td>{_e(c['threat'])}</td><td>{_e(_label(c['model']))}</td>"
                f"<td class='num'>{_e(c.get('n_images') or '')}</td>"
                + "".join(f"<td class='num'>{100 * vals[e]:.1f}</td>" if e in vals else "<td></td>" for e in eps_all)
                + "</tr>")
        add("</table></details>")
    else:
        add("<p class='muted'>No curves recorded.</p>")
    if results.get("attack_settings"):
        add("<details><summary>Attack settings</summary><pre>"
            + _e(json.dumps(results["attack_settings"], indent=2)) + "</pre></details>")

    # notebooks
    add("<h2 id='notebooks'>Executed notebooks</h2><ul>")
    seconds = results.get("seconds", {})
    recorded = results.get("recorded", {})
    for stem in NOTEBOOKS + [s for s in pages if s not in NOTEBOOKS]:
        t = f" ({seconds[stem]:.0f} s)" if stem in seconds else ""
        if recorded.get(stem):
            t += f"; results recorded {recorded[stem]}"
        if pages.get(stem):
            add(f"<li><a href='{_e(pages[stem])}'>{_e(stem)}</a>{t}, the code is in "
                f"<code>notebooks/{_e(stem)}.ipynb</code></li>")
        else:
            add(f"<li>{_e(stem)}: not executed in this profile{t}</li>")
    add("</ul>")

    # metadata
    add("<h2 id='metadata'>Run metadata</h2><table>")
    meta = [("profile", profile), ("device", results.get("device")), ("date", results.get("date"))]
    meta += [(k, v) for k, v in results.get("versions", {}).items()]
    meta += [(f"time {k}", f"{v:.1f} s") for k, v in seconds.items()]
    if seconds:
        meta.append(("time total", f"{sum(seconds.values()):.1f} s"))
    for k, v in meta:
        add(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>")
    add("</table>")
    if cfg:
        add("<details><summary>Configuration</summary><pre>" + _e(json.dumps(cfg, indent=2)) + "</pre></details>")
    add("</body></html>")
    return "\n".join(h)


def _render_leaderboard(results: dict, add) -> None:
    """The course challenge's leaderboard (``advlab.challenge``), strongest attack first."""
    add("<h2 id='challenge'>Challenge leaderboard</h2>")
    add(f"<p>Adversarial versions of the 10,000 test images (eps {challenge.EPS:g}, L-inf), scored with "
        "<code>python -m advlab.challenge attack.npy</code>: the accuracy of the attacked model on them, lower is a "
        "stronger attack.</p>")
    entries = results.get("leaderboard") or []
    if not entries:
        add("<p class='muted'>No submission yet.</p>")
        return
    add("<table><tr><th>Rank</th><th>Name</th><th>Accuracy</th><th>Model attacked</th><th>Date</th></tr>")
    for i, e in enumerate(entries, 1):
        add(f"<tr><td class='num'>{i}</td><td>{_e(e.get('name'))}</td><td class='num'>{sanity.pct(e.get('accuracy'))}</td>"
            f"<td>{_e(_label(e.get('model', '')))}</td><td>{_e(e.get('date'))}</td></tr>")
    add("</table>")


def _render_robust(results: dict, add) -> None:
    """The sections of notebook 05: static against on-the-fly training under the stronger white-box
    evaluation, and every model's own sanity checks."""
    models = results.get("models", {})
    evaluated = [m for m in MODELS + [m for m in models if m not in MODELS] if models.get(m, {}).get("robust_eval")]
    add("<h2 id='robust'>Static against on-the-fly adversarial training (white-box)</h2>")
    if not evaluated:
        add("<p class='muted'>No robust evaluation recorded: run notebook 05 (or the whole course).</p>")
        return
    first = models[evaluated[0]]["robust_eval"]
    names = list(first.get("attacks", {}))
    add(f"<p>Every model attacked on itself at eps {first['eps']:g} on {first['n_images']} test images; "
        "<em>robust</em> counts an image only if it is classified correctly under every attack (the per-image "
        "worst case). Static models were trained on sets crafted once on the baseline (chapters 3-4); on-the-fly "
        "models on examples crafted against their current weights at every batch (chapter 5). Training time is "
        "this run's, on its device.</p>")
    add("<table><tr><th>Model</th><th>Training</th><th>Clean (10k)</th>"
        + "".join(f"<th>{_e(n)}</th>" for n in names) + "<th>Robust (worst case)</th><th>Training time</th></tr>")
    otf = results.get("on_the_fly", {})
    secs = results.get("train_seconds", {})
    for m in evaluated:
        r = models[m]["robust_eval"]
        kind = "on the fly" if m in otf or m.endswith("_adv") else ("none" if m == "baseline" else "static set")
        t = secs.get(m)
        per_epoch = ""
        if m in otf and otf[m].get("epochs"):
            ep = otf[m]["epochs"]
            per_epoch = f" ({sum(e['seconds'] for e in ep) / len(ep):.1f} s/epoch, {len(ep)} epochs)"
        add(f"<tr><td>{_e(_label(m))}</td><td>{kind}</td><td class='num'>{sanity.pct(models[m]['clean_acc'])}</td>"
            + "".join(f"<td class='num'>{sanity.pct(r['attacks'][n])}</td>" if n in r.get("attacks", {}) else "<td></td>"
                      for n in names)
            + f"<td class='num'><strong>{sanity.pct(r['robust_acc'])}</strong></td>"
            + f"<td class='num'>{f'{t:.0f} s' if t is not None else '-'}{_e(per_epoch)}</td></tr>")
    add("</table>")
    for m, h in otf.items():
        if h.get("stopped"):
            add(f"<p class='warn'>{_e(_label(m))}: {_e(h['stopped'])}</p>")
    if results.get("capacity"):
        add("<p>Capacity study: " + "; ".join(
            f"width x{c['width']} ({c['params']:,} parameters): clean {sanity.pct(c['clean_acc'])}, robust "
            f"{sanity.pct(c['robust_acc'])}" for c in results["capacity"]) + ".</p>")

    add("<h2 id='model-sanity'>Sanity checks per model</h2>")
    add("<p>Each model attacked in the ways of GUIDE §3 (<code>advlab.sanity.check_model</code>), plus the checks on "
        "its accuracy curves (<code>curves_*</code>). Hover over a cell for the numbers; the details follow.</p>")
    checks = []
    for m in evaluated:
        for c in models[m].get("sanity", {}):
            if c not in checks:
                checks.append(c)
    add("<table><tr><th>Model</th>" + "".join(f"<th>{_e(c)}</th>" for c in checks) + "</tr>")
    for m in evaluated:
        cells = []
        for c in checks:
            r = models[m].get("sanity", {}).get(c)
            if r is None:
                cells.append("<td class='muted'>-</td>")
            else:
                cls, word = ("pass", "pass") if r["passed"] else ("fail", "FAIL")
                cells.append(f"<td class='{cls} verdict' title='{_e(r['detail'])}'>{word}</td>")
        add(f"<tr><td>{_e(_label(m))}</td>{''.join(cells)}</tr>")
    add("</table><details><summary>Details of every check</summary><ul>")
    for m in evaluated:
        for c, r in models[m].get("sanity", {}).items():
            add(f"<li>{_e(_label(m))}, {_e(c)}: {'passed' if r['passed'] else 'FAILED'}; {_e(r['detail'])}</li>")
    add("</ul></details>")


def _verdict_cell(o: dict, colspan: int = 1) -> str:
    v = o["verdict"]
    cls = v.replace(" ", "")
    span = f" colspan='{colspan}'" if colspan > 1 else ""
    if v == "not measured":
        return f"<td class='notmeasured'{span}><span class='verdict'>not measured</span></td>"
    return f"<td class='{cls}'{span}>{_e(o['text'])}<br><span class='verdict'>{_e(v)}</span></td>"
