"""The course report: merge the numbers each notebook recorded (``report/<profile>/parts/*.json``) into
``report/<profile>/results.json`` and one self-contained page, ``report/<profile>/index.html``: the
figures (embedded), the clean accuracies, a reproduction scorecard of the seed's claims, the
sanity checks of ``advlab.evaluation.sanity``, explorers with epsilon sliders, and the run's metadata, with links
to the executed notebooks exported as HTML.

This module collects and merges the numbers; ``advlab.course.scorecard`` judges them against the seed;
``advlab.report.page`` and the templates in ``lib/advlab/report/templates`` lay out the page;
``advlab.report.explorer`` lays out the sliders, whose frames ``advlab.course.frames`` computes.

Every path is relative to ``root`` (the repository root by default), so the tests can build a
report in a temporary folder. Every file is written atomically.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
from importlib import metadata
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.core.io import atomic_path, write_json
from advlab.course import challenge, frames
from advlab.course.registry import FIGURES, NOTEBOOKS
from advlab.course.registry import LABELS as MODEL_LABELS
from advlab.course.scorecard import claims_by_threat, scorecard, tally
from advlab.evaluation import sanity
from advlab.evaluation.stats import wilson_acc
from advlab.report import explorer
from advlab.report import seeds as seeds_report
from advlab.report.page import THREAT_LABELS, render_html
from advlab.report.verdicts import headline

VERSION_PACKAGES = ("torch", "torchvision", "advlab", "papermill", "numpy")
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


# --- metadata, notebooks --------------------------------------------------------------------------


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def export_notebooks(profile: str, root: str | Path = ".", seed: int | None = None) -> dict:
    """Export each executed notebook ``report/<profile>/<stem>.ipynb`` (``seeds/<seed>/`` below it when given)
    to ``<stem>.html`` (outputs kept, code hidden). Returns ``{stem: its path from the page or None}``."""
    folder = seed_dir(profile, root, seed)
    prefix = "" if seed is None else f"seeds/{seed}/"
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
                exporter.log.setLevel(logging.ERROR)  # not its accessibility notes on figures without alt text
            try:
                body, _ = exporter.from_notebook_node(nbformat.read(src, as_version=4))
            except Exception as exc:  # a broken notebook must not sink the whole report
                print(f"report: could not export {src.name} to HTML ({type(exc).__name__}: {exc})")
                out[stem] = None
                continue
            with atomic_path(dst) as tmp:
                tmp.write_text(body, encoding="utf-8")
        out[stem] = prefix + dst.name
    return out


def _timings(profile: str, root, seed: int | None = None) -> dict:
    p = seed_dir(profile, root, seed) / "timings.json"
    try:
        data = json.loads(p.read_text())
        return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


# --- building -------------------------------------------------------------------------------------


def collect(profile: str, root: str | Path = ".", seed: int | None = None) -> dict:
    """The merged results of ``profile`` (of one ``seed`` of a run over several, when given) with scorecard and
    sanity checks (what results.json holds)."""
    parts, warnings = load_parts(profile, root, seed)
    merged = merge_parts(parts)
    results = {
        "profile": profile,
        "device": ", ".join(merged["devices"]) or "unknown",
        "seconds": _timings(profile, root, seed),
        "models": merged["models"],
        "curves": merged["curves"],
        "losses": merged["losses"],
        "attack_settings": merged["attack_settings"],
        "grids": merged["grids"],
        "collapse": merged["collapse"],
        "noise": merged["noise"],
        "label_leaking": merged["label_leaking"],
        "pgd_strength": merged["pgd_strength"],
        "on_the_fly": merged["on_the_fly"],
        "train_seconds": merged["train_seconds"],
        "capacity": merged["capacity"],
        "figures": [
            _figure_entry(name, caption, merged["figures"], profile, root, seed)
            for name, caption in _figure_list(merged["figures"])
        ],
        "notebooks": merged["notebooks"],
        "recorded": merged["recorded"],
        "config": merged["config"],
        "versions": versions(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "warnings": warnings + merged["warnings"],
    }
    add_intervals(results)
    results["scorecard"] = scorecard(results)
    results["tally"] = tally(results["scorecard"])
    results["headline"] = headline(results)
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


def _figure_list(recorded: list[dict]) -> list[tuple[str, str]]:
    """pipeline.FIGURES in order, then any other figure a notebook recorded."""
    names = list(FIGURES.items())
    names += [(f["name"], f.get("caption", f["name"])) for f in recorded if f["name"] not in FIGURES]
    return names


def _figure_entry(name, caption, recorded, profile, root, seed=None) -> dict:
    rec = next((f for f in recorded if f["name"] == name), {})
    candidates = [Path(rec["path"])] if rec.get("path") else []
    folder = Path("figures") / profile if seed is None else Path("figures") / profile / "seeds" / str(seed)
    candidates.append(folder / f"{name}.png")
    for rel in candidates:
        full = rel if rel.is_absolute() else Path(root) / rel
        if full.is_file():
            return {"name": name, "caption": rec.get("caption") or caption, "path": str(rel), "exists": True}
    return {"name": name, "caption": rec.get("caption") or caption, "path": str(candidates[-1]), "exists": False}


def collect_seeds(profile: str, root: str | Path, seeds: list[int], executor: dict | None) -> dict:
    """The results of a run over several training seeds (``advlab.report.seeds.combine``), with the figure of
    the curves' mean and min-max band over the seeds."""
    if not seeds:
        raise AdvlabError("no seed given: pass seeds=[0, 1, ...] (or leave seeds out for a run of one seed)")
    missing = [k for k in seeds if not (seed_dir(profile, root, k) / "parts").is_dir()]
    if missing:
        raise AdvlabError(
            f"no recorded parts for seed(s) {', '.join(map(str, missing))} under "
            f"{seed_dir(profile, root, missing[0]).parent}: run them first (python run_all.py --seeds ...)"
        )
    by_seed = {int(k): collect(profile, root, int(k)) for k in seeds}
    results = seeds_report.combine(by_seed, executor)
    rel = Path("figures") / profile / f"{seeds_report.BAND_FIGURE}.png"
    try:
        made = seeds_report.band_figure(by_seed, Path(root) / rel)
    except Exception as exc:  # a figure must not sink the report
        results["warnings"].append(f"no figure of the curves over seeds ({type(exc).__name__}: {exc})")
        made = None
    results["seed_figure"] = str(rel) if made else None
    return results


def build_report(
    profile: str, root: str | Path = ".", export: bool = True, seeds: list[int] | None = None, executor=None
) -> Path:
    """Write ``report/<profile>/results.json`` and ``index.html`` under ``root``; returns the page's path.
    ``seeds``: a run over several training seeds (each seed's parts under ``report/<profile>/seeds/<k>``): the
    results are the first seed's plus the spread over all of them; ``executor``: what ran them (recorded as given)."""
    folder = report_dir(profile, root)
    folder.mkdir(parents=True, exist_ok=True)
    results = collect(profile, root) if seeds is None else collect_seeds(profile, root, list(seeds), executor)
    if seeds is None and executor is not None:  # one seed, run by a scheduler: say which
        results["executor"] = executor
    first = None if seeds is None else int(list(seeds)[0])
    pages = export_notebooks(profile, root, first) if export else {}
    write_json(folder / "results.json", results)
    try:
        explore = explorer.render(frames.build(results, root), MODEL_LABELS, THREAT_LABELS)
    except Exception as exc:  # the explorers are a bonus: they must not sink the report
        print(f"report: no explorers in the page ({type(exc).__name__}: {exc})")
        explore = ""
    page = folder / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text(render_html(results, pages, root, explore), encoding="utf-8")
    return page
