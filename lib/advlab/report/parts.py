"""Merging the numbers each notebook recorded (``report/<profile>/parts/*.json``, or one seed's folder of a run
over several seeds) into one dict, and the Wilson interval beside every accuracy. ``advlab.report.build``
collects the merged numbers into ``results.json``."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

from advlab.course.registry import NOTEBOOKS
from advlab.evaluation.stats import wilson_acc

CURVE_KEYS = ("model", "attack", "threat", "eps", "acc", "n_images")


# --- merging the parts ----------------------------------------------------------------------------


def report_dir(profile: str, root: str | Path = ".") -> Path:
    return Path(root) / "report" / profile


def seed_dir(profile: str, root: str | Path = ".", seed: int | None = None) -> Path:
    """Where a run's notebooks, parts and timings are: ``report/<profile>``, or for one seed of a run over
    several seeds (``run_all.py --seeds``), ``report/<profile>/seeds/<seed>``."""
    folder = report_dir(profile, root)
    return folder if seed is None else folder / "seeds" / str(seed)


def load_parts(profile: str, root: str | Path = ".", seed: int | None = None) -> tuple[list[dict], list[str]]:
    """The recorded parts in notebook order (of ``seed``'s folder when given), and a warning for each unreadable one."""
    folder = seed_dir(profile, root, seed) / "parts"
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
    merged = {
        "models": {},
        "curves": [],
        "losses": {},
        "attack_settings": {},
        "grids": {},
        "collapse": None,
        "noise": None,
        "label_leaking": None,
        "pgd_strength": {},
        "figures": [],
        "notebooks": [],
        "recorded": {},
        "on_the_fly": {},
        "train_seconds": {},
        "capacity": [],
        "config": None,
        "devices": [],
        "warnings": [],
    }
    curves, figures, configs = {}, {}, {}
    for part in parts:
        nb = part.get("notebook", "?")
        merged["notebooks"].append(nb)
        merged["recorded"][nb] = part.get("_recorded")
        _merge_models(merged["models"], part.get("models") or {})
        _merge_curves(curves, part.get("curves") or [])
        _merge_values(merged, part)
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
    merged["warnings"] += _mixed_settings(configs, merged["config"])
    return merged


CLEAN_N = 10000  # clean accuracy is always measured on the whole MNIST test set


def add_intervals(results: dict) -> None:
    """A 95% Wilson interval beside every accuracy whose number of images is known: ``clean_ci95`` of
    each model, ``ci95`` of each curve (one per eps) and of each robust evaluation (clean, robust, per
    attack). Each model is one training seed (``seeds``) unless ``seed_spread`` says otherwise. A value
    that is not an accuracy in [0, 1] gets None."""

    def ci(acc, n):
        try:
            return list(wilson_acc(float(acc), int(n)))
        except (TypeError, ValueError):
            return None

    for m in results.get("models", {}).values():
        n = m.setdefault("n_images", CLEAN_N)
        m["clean_ci95"] = ci(m["clean_acc"], n)
        m.setdefault("seeds", "one seed")
        r = m.get("robust_eval")
        if isinstance(r, dict) and r.get("n_images"):
            k = r["n_images"]
            r.setdefault("ci95", {"clean": ci(r.get("clean_acc"), k), "robust": ci(r.get("robust_acc"), k)})
            r.setdefault("attacks_ci95", {a: ci(v, k) for a, v in (r.get("attacks") or {}).items()})
    for c in results.get("curves", []):
        if c.get("n_images"):
            c["ci95"] = [ci(a, c["n_images"]) for a in c["acc"]]


def _merge_models(models: dict, recorded: dict) -> None:
    for name, m in recorded.items():
        if isinstance(m, dict) and m.get("clean_acc") is not None:
            entry = models.setdefault(name, {})
            entry["clean_acc"] = float(m["clean_acc"])
            for key in ("n_images", "seeds", "seed_spread"):
                if m.get(key) is not None:
                    entry[key] = m[key]
            for key in ("robust_eval", "sanity"):  # the stronger evaluation (notebooks 02-05)
                if isinstance(m.get(key), dict):
                    entry[key] = m[key]


def _merge_curves(curves: dict, recorded: list) -> None:
    for c in recorded:
        if all(k in c for k in ("model", "attack", "threat", "eps", "acc")):
            curves[(c["model"], c["attack"], c["threat"])] = {
                "model": c["model"],
                "attack": c["attack"],
                "threat": c["threat"],
                "eps": [float(e) for e in c["eps"]],
                "acc": [float(a) for a in c["acc"]],
                "n_images": c.get("n_images"),
            }
            if c.get("subset"):  # FGSM on exactly the PGD curve's images (for the PGD <= FGSM check)
                curves[(c["model"], c["attack"], c["threat"])]["subset"] = c["subset"]


def _merge_values(merged: dict, part: dict) -> None:
    """The parts' dictionaries (unions, later parts winning) and single values (the last one recorded)."""
    for key in ("on_the_fly", "train_seconds", "attack_settings", "grids", "pgd_strength"):
        merged[key].update(part.get(key) or {})
    for name, values in (part.get("losses") or {}).items():
        merged["losses"][name] = [float(v) for v in values]
    for key in ("collapse", "noise", "capacity", "label_leaking"):
        if part.get(key):
            merged[key] = part[key]


def _mixed_settings(configs: dict, ref: dict | None) -> list[str]:
    """A warning when the parts were recorded with different settings (say, an old run of one notebook)."""
    ignore = {"force", "device"}
    distinct = {json.dumps({k: v for k, v in c.items() if k not in ignore}, sort_keys=True) for c in configs.values()}
    if len(distinct) <= 1:
        return []
    diffs = sorted({k for c in configs.values() for k in c if k not in ignore and c.get(k) != ref.get(k)})
    return [
        f"the notebooks' parts were recorded with different settings ({', '.join(diffs)}): "
        f"rerun them together (python run_all.py --profile ...)"
    ]
