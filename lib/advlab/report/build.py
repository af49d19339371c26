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
import os
import platform
from importlib import metadata
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.core.io import atomic_path, write_json
from advlab.course import challenge, frames
from advlab.course.records import run_seeds
from advlab.course.registry import FIGURES, NOTEBOOKS
from advlab.course.registry import LABELS as MODEL_LABELS
from advlab.course.scorecard import claims_by_threat, scorecard, tally
from advlab.evaluation import sanity
from advlab.report import explorer
from advlab.report import seeds as seeds_report
from advlab.report.page import THREAT_LABELS, render_html
from advlab.report.parts import add_intervals, load_parts, merge_parts, report_dir, seed_dir
from advlab.report.verdicts import headline

VERSION_PACKAGES = ("torch", "torchvision", "advlab", "papermill", "numpy")


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


def _timings(profile: str, root, seed: int | None = None, name: str = "timings.json") -> dict:
    p = seed_dir(profile, root, seed) / name
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
        "training_seconds": _timings(profile, root, seed, "trainings.json"),  # on Ray: each training task's
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


# --- chapter 5 over the seeds of its run ----------------------------------------------------------

LATE_PART = "05_on_the_fly_adversarial_training"


def across_seeds(cfg, root: str | Path = ".") -> str:
    """Chapter 5's conclusions judged in each training seed of this run (``run_all.py --seeds``), as Markdown:
    over the seeds whose chapter 5 recorded its numbers in this run (the run's first seed runs chapter 5
    after every other seed, so its notebook, the one the report links, sees them all). A run of one seed
    says so and how to run several."""
    seeds = run_seeds()
    if not seeds:
        return (
            f"This run trained one seed (seed {cfg.seed}): each conclusion above rests on one training run. "
            f"`python run_all.py --profile {cfg.profile} --seeds 0,1,2` (or `make report SEEDS=0,1,2`) trains "
            "three and judges each conclusion in every seed, here and in the report."
        )
    since = float(os.environ.get("ADVLAB_FORCE_SINCE") or 0)

    def recorded(seed: int) -> bool:
        part = seed_dir(cfg.profile, root, seed) / "parts" / f"{LATE_PART}.json"
        return seed == cfg.seed or (part.is_file() and part.stat().st_mtime >= since)

    have = [s for s in seeds if recorded(s)]
    by_seed = {s: collect(cfg.profile, root, s) for s in have}
    lines = [
        f"This run trained {len(seeds)} seeds ({', '.join(map(str, seeds))}); this notebook is seed {cfg.seed}'s. "
        f"Each conclusion of this chapter, judged in each of the {len(have)} seed(s) whose chapter 5 has recorded "
        "its numbers in this run, by the rule above:",
        "",
    ]
    lines += [f"- {c['text']}" for c in seeds_report.conclusions(by_seed)]
    missing = [str(s) for s in seeds if s not in have]
    if missing:
        lines += ["", f"Not yet recorded in this run (still running, or failed): seed(s) {', '.join(missing)}."]
    return "\n".join(lines)
