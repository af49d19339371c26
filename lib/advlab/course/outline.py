"""What a profile runs, chapter by chapter: the models each notebook trains (data, epochs, method), the sets
and curves it builds, the evaluation it runs, and the time of the last run measured on this machine
(``report/<profile>/timings.json``, written by ``run_all.py``). ``python -m advlab.profiles quick`` prints it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.course.profiles import (
    EXPECTED_CPU_TIME,
    N_TEST_IMAGES,
    N_TRAIN_IMAGES,
    PERFORMANCE_DOC,
    PROFILES,
    Config,
    config,
)
from advlab.course.registry import ON_THE_FLY

ROOT = Path(__file__).resolve().parents[3]  # lib/advlab/course/outline.py -> the repository root
CHAPTERS = {
    "01_baseline": "A baseline CNN for MNIST",
    "02_fgsm_attack": "Attacking the baseline with FGSM",
    "03_adversarial_training": "Adversarial training with FGSM",
    "04_generalization": "Generalisation: PGD, and five models under two attacks",
    "05_on_the_fly_adversarial_training": "Adversarial training on the fly, and a stronger evaluation",
}
SUMMARY = {
    "smoke": "the whole pipeline on tiny subsets, to check that everything runs",
    "quick": "every step of the seed, with sizes and epochs shrunk to fit a CPU",
    "paper": "the seed's protocol, plus Madry's PGD training and the capacity study; meant for a GPU",
}


def _images(n: int | None, total: int) -> str:
    return f"all {total:,}" if n is None else f"{n:,}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _eps(values: list) -> str:
    return f"{len(values)} eps from {values[0]:g} to {values[-1]:g}" if len(values) > 1 else f"eps {values[0]:g}"


def measured_seconds(profile: str, root: Path | str | None = None) -> dict:
    """``{notebook: seconds}`` of the last ``run_all.py --profile <profile>`` here (report/<profile>/timings.json)."""
    try:
        timings = json.loads((Path(root or ROOT) / "report" / profile / "timings.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(timings, dict):
        return {}
    return {k: float(v) for k, v in timings.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _baseline_chapters(c: Config) -> dict:
    """What chapters 01 and 02 train, build and evaluate under ``c``: ``{notebook: [(verb, text), ...]}``."""
    test = _images(c.n_test, N_TEST_IMAGES)
    baseline = (
        f"baseline: {_images(c.n_train, N_TRAIN_IMAGES)} training images, {_plural(c.epochs, 'epoch')}, "
        f"Adam (lr {c.lr:g}), batches of {c.batch_size}, seed {c.seed}"
    )
    sweep = (
        f"FGSM curve of the baseline, {_eps(c.sweep_epsilons)}, on {test} test images (white-box and transfer "
        "coincide); random-sign noise at the same eps"
    )
    grid = f"example grid: ten test images of class {c.grid_digit} at {_eps(c.grid_epsilons)}"
    return {
        "01_baseline": [("trains", baseline), ("evaluates", f"clean accuracy on all {N_TEST_IMAGES:,} test images")],
        "02_fgsm_attack": [
            ("builds", sweep),
            ("builds", grid),
            ("evaluates", "where the wrong predictions land at each eps (the collapse onto one class)"),
        ],
    }


def _static_training_chapters(c: Config) -> dict:
    """What chapters 03 and 04 train, build and evaluate under ``c``: ``{notebook: [(verb, text), ...]}``."""
    test, pgd_test, adv = _images(c.n_test, N_TEST_IMAGES), f"{c.n_pgd_test:,}", c.adv_n_train or N_TRAIN_IMAGES
    eps = ", ".join(f"{e:g}" for e in c.adv_epsilons)
    combined = f"{adv:,} training images + one copy per eps ({eps}) = {adv * (1 + len(c.adv_epsilons)):,} images"
    pgd_set = (
        f"PGD combined set: {combined}; PGD with {_plural(c.pgd_train_steps, 'step')} of "
        f"{c.pgd_alpha_factor:g} eps / {c.pgd_train_steps}, crafted once on the baseline"
    )
    curves = (
        f"20 curves: 5 models x (FGSM on {test} test images, PGD with {_plural(c.pgd_steps, 'step')} and "
        f"{_plural(c.pgd_restarts, 'restart')} on {pgd_test}) x (white-box, transfer)"
    )
    strength = (
        f"clean accuracy; PGD strength at eps 0.2 ({c.pgd_steps} against {2 * c.pgd_steps} steps, 3 fresh "
        f"restarts) on {pgd_test} images; FGSM grids of 3 models"
    )
    epochs = f"{_plural(c.adv_epochs, 'epoch')} each on that set"
    models = "baseline, fgsm_retrained and fgsm_untrained"
    fgsm_curves = f"FGSM curves of {models}, white-box and transfer, {_eps(c.sweep_epsilons)}, on {test} test images"
    leaking = f"clean accuracy (all {N_TEST_IMAGES:,} test images); label leaking at eps 0.1-0.3 on {test} images"
    return {
        "03_adversarial_training": [
            ("builds", f"FGSM combined set: {combined}, crafted once on the baseline"),
            ("trains", f"fgsm_retrained (fine-tunes the baseline), fgsm_untrained (from scratch): {epochs}"),
            ("builds", fgsm_curves),
            ("evaluates", leaking),
        ],
        "04_generalization": [
            ("builds", pgd_set),
            ("trains", f"pgd_retrained (fine-tunes the baseline), pgd_untrained (from scratch): {epochs}"),
            ("builds", curves),
            ("evaluates", strength),
        ],
    }


def _on_the_fly_models(c: Config) -> list:
    """``[(name, epochs, method, epochs field)]`` of chapter 05's on-the-fly models under ``c``."""
    ramp = "eps ramped over {:g} epoch(s)"
    fast = f"FGSM from a random start (step {c.fast_alpha_factor:g} eps), {ramp.format(c.fast_ramp_epochs)}"
    few = f"PGD with {_plural(c.fast_pgd_steps, 'step')} of {c.fast_pgd_alpha:g}, {ramp.format(c.fast_pgd_ramp_epochs)}"
    madry = (
        f"PGD with {_plural(c.madry_steps, 'step')} of {c.madry_alpha:g} (Madry et al.), "
        f"{ramp.format(c.madry_ramp_epochs)}"
    )
    return [
        ("fast_adv", c.fast_epochs, fast, "fast_epochs"),
        ("fast_pgd_adv", c.fast_pgd_epochs, few, "fast_pgd_epochs"),
        ("madry_adv", c.madry_epochs, madry, "madry_epochs"),
    ]


def _on_the_fly_chapter(c: Config) -> list:
    """What chapter 05 trains, builds and evaluates under ``c``: ``[(verb, text), ...]``."""
    guard = f"PGD-{c.guard_steps}" + (f" and APGD-CE-{c.guard_apgd_steps}" if c.guard_apgd_steps else "")
    n = (c.n_train or N_TRAIN_IMAGES) - c.guard_n
    held_out = f"{c.guard_n:,} held out and attacked with {guard} after every epoch"
    rows = [("trains", f"on the fly at eps {c.otf_eps:g}, on {n:,} training images ({held_out}):")]
    trained = []
    for name, epochs, method, field_name in _on_the_fly_models(c):
        if epochs > 0:
            trained.append(name)
            rows.append(("", f"  {name}: {method}, {_plural(epochs, 'epoch')}"))
        else:
            rows.append(("", f"  {name}: not trained ({field_name} = 0)"))
    if c.capacity_widths:
        widths = ", ".join(f"x{w}" for w in c.capacity_widths)
        rows.append(("", f"  capacity study: {trained[-1]} again at widths {widths}"))
    if c.baseline_seeds:
        rows.append(("", f"  baseline again with seeds {c.baseline_seeds} (the clean-accuracy spread)"))
    models = f"the 5 static models and {', '.join(trained)}"
    rows.append(("builds", f"FGSM and PGD curves, white-box and transfer, of {models}"))
    apgd = [m for m in trained if ON_THE_FLY.get(m) == "pgd"]  # robustness.apgd_curve_models
    if apgd:
        rows.append(
            ("builds", f"white-box APGD-CE curves ({c.apgd_steps} steps, {c.n_pgd_test:,} images) of {', '.join(apgd)}")
        )
    cw = f", CW-margin PGD x {c.robust_cw_restarts}" if c.robust_cw_restarts else ""
    attacks = (
        f"FGSM, PGD-{c.robust_steps} x {_plural(c.robust_restarts, 'restart')}, APGD-CE ({c.apgd_steps} steps x "
        f"{c.apgd_restarts}), APGD-T ({_plural(c.apgd_targets, 'target')}){cw}"
    )
    images = f"{c.robust_n:,} test images"
    rows.append(("evaluates", f"every model at eps {c.otf_eps:g} on {images}, worst case per image over {attacks}"))
    rows.append(("evaluates", f"sanity checks on {c.sanity_n:,} test images ({c.sanity_steps} steps)"))
    return rows


def _rows(rows: list) -> list[str]:
    """``(verb, text)`` rows as aligned lines, wrapped at 110 characters."""
    lines = []
    for verb, text in rows:
        indent = " " * (13 + len(text) - len(text.lstrip()))
        lines.append(textwrap.fill(f"  {verb:<10} {text}", width=110, subsequent_indent=indent, break_on_hyphens=False))
    return lines


def describe(profile: str, root: Path | str | None = None) -> str:
    """What ``run_all.py --profile <profile>`` runs, chapter by chapter, with the last measured time here."""
    if profile not in PROFILES:
        raise AdvlabError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    c = config(profile)
    seconds = measured_seconds(profile, root)
    chapters = {**_baseline_chapters(c), **_static_training_chapters(c)}
    chapters["05_on_the_fly_adversarial_training"] = _on_the_fly_chapter(c)
    lines = [f"Profile {profile}: {SUMMARY[profile]}.", f"  python run_all.py --profile {profile}", ""]
    for notebook, rows in chapters.items():
        if notebook in seconds:
            time = f"{_duration(seconds[notebook])} in the last run here"
        else:
            time = f"not measured here yet (see {PERFORMANCE_DOC})"
        lines += [f"{notebook}: {CHAPTERS[notebook]}", *_rows([*rows, ("time", time)]), ""]
    timed = [nb for nb in chapters if nb in seconds]
    if timed:
        total = _duration(sum(seconds[nb] for nb in timed))
        lines.append(f"Last run here (report/{profile}/timings.json): {total} for {len(timed)} of 5 notebooks.")
    lines.append(f"Expected: {EXPECTED_CPU_TIME[profile]}.")
    return "\n".join(lines)
