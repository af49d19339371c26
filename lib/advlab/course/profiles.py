"""The run profiles, defined in this one place.

- ``smoke``: the whole pipeline on tiny subsets, in minutes on a CPU; used by the tests.
- ``quick``: the default. Every step of the seed, with sizes and epochs shrunk to fit a CPU; notebook 05
  trains two on-the-fly models: fast FGSM training and PGD training with 3 steps of 0.1.
- ``paper``: the seed's protocol (60k training images, 360k combined sets, 50 epochs); notebook 05 adds
  Madry's PGD-40 training and the capacity study (widths 1, 2, 4); meant for a GPU.

``python -m advlab.profiles quick`` prints what a profile runs, chapter by chapter (``advlab.course.outline``),
with the time of the last run measured on this machine; docs/performance.md documents measured times.

Each notebook's ``parameters`` cell holds the ``quick`` values; ``run_all.py --profile`` injects another
profile's values through papermill, and ``--set name=value`` overrides single fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from advlab.core.errors import AdvlabError

N_TRAIN_IMAGES, N_TEST_IMAGES = 60000, 10000  # MNIST
DEVICES = ["auto", "cpu", "cuda", "mps"]

SWEEP_EPSILONS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]  # the seed's FGSM sweep
ADV_EPSILONS = [0.05, 0.1, 0.2, 0.25, 0.3]  # the seed's combined sets
GRID_EPSILONS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]  # example grids


@dataclass
class Config:
    """Every parameter of a run. Artifacts are cached under a key made of the fields that produced them."""

    profile: str = "quick"
    device: str = "auto"  # auto | cpu | cuda | mps
    seed: int = 0  # the random seed of data order, initialisation and attacks
    force: bool = False  # recompute cached artifacts
    pretrained: bool = False  # use the shipped weights (pretrained/<profile>/) instead of training
    # baseline: the blog post's hyperparameter table
    n_train: int | None = None  # training images for the baseline; None = all 60,000
    epochs: int = 6  # the blog post: 50 (bench/baseline_seeds.py: clean accuracy per random seed)
    batch_size: int = 128
    lr: float = 1e-3
    # evaluation
    n_test: int | None = 2000  # test images for FGSM curves; None = all 10,000 (clean accuracy always uses all)
    n_pgd_test: int = 500  # test images for PGD curves
    sweep_epsilons: list = field(default_factory=lambda: list(SWEEP_EPSILONS))
    grid_epsilons: list = field(default_factory=lambda: list(GRID_EPSILONS))
    grid_digit: int = 5  # the seed's grids show ten test images of class '5'
    # adversarial training (static: examples generated once against the baseline)
    adv_n_train: int | None = 10000  # benign images the combined sets are built from; None = all 60,000
    adv_epsilons: list = field(default_factory=lambda: list(ADV_EPSILONS))
    adv_epochs: int = 2  # seed: 50
    # PGD (the seed gives no settings; Madry et al. use 40 steps at eps 0.3)
    pgd_steps: int = 10  # PGD steps for the evaluation curves
    pgd_train_steps: int = 7  # PGD steps when crafting the PGD combined set
    pgd_alpha_factor: float = 2.5  # step size alpha = factor * eps / steps
    pgd_restarts: int = 1
    # adversarial training on the fly (notebook 05): examples crafted against the current weights
    otf_eps: float = 0.3  # eps of on-the-fly training and of the robust evaluation
    fast_epochs: int = 5  # FGSM from a random start (Wong et al. 2020)
    fast_alpha_factor: float = 1.25  # its step size alpha = factor * eps
    fast_ramp_epochs: float = 2.0  # eps rises linearly from 0 over this many epochs
    fast_pgd_epochs: int = 4  # PGD training with a few large steps; 0 = not trained (see bench/otf_frontier.py)
    fast_pgd_steps: int = 3
    fast_pgd_alpha: float = 0.1  # step size at eps 0.3 (scaled with eps during the ramp)
    fast_pgd_ramp_epochs: float = 2.0
    madry_epochs: int = 0  # PGD training (Madry et al.); 0 = not trained (a GPU job)
    madry_steps: int = 40
    madry_alpha: float = 0.01
    madry_ramp_epochs: float = 2.0
    guard_n: int = 500  # held-out training images watched for catastrophic overfitting
    guard_steps: int = 10  # PGD steps of that check, after every epoch
    guard_apgd_steps: int = 20  # and APGD-CE steps: an image counts if it survives both (0 = PGD only)
    guard_drop: float = 0.2  # roll back when held-out PGD accuracy falls this far below its best
    capacity_widths: list = field(default_factory=list)  # widths (x channels and units) of the capacity study
    # the stronger evaluation: per-image worst case over FGSM, PGD (cross-entropy, restarts), APGD-CE
    # and APGD-T (AutoAttack's core; APGD-T on APGD-CE's survivors), optionally PGD on the CW margin
    robust_n: int = 1000  # test images
    robust_steps: int = 40
    robust_restarts: int = 2  # random restarts of the cross-entropy PGD (APGD does the heavy lifting)
    robust_cw_restarts: int = 0  # random restarts of the CW-margin PGD (0 = left out)
    apgd_steps: int = 100  # APGD iterations per run (AutoAttack: 100)
    apgd_restarts: int = 1  # APGD-CE restarts, and restarts per target class of APGD-T
    apgd_targets: int = 3  # APGD-T's target classes, the most likely wrong ones (AutoAttack: 9)
    baseline_seeds: list = field(default_factory=list)  # seeds whose baselines give the clean-accuracy spread
    sanity_n: int = 500  # test images for each model's sanity checks
    sanity_steps: int = 10

    def __post_init__(self):
        validate(self)

    def replace(self, **changes) -> Config:
        """A copy with ``changes`` applied; unknown names and out-of-range values are an error."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise AdvlabError(f"unknown parameter(s) {sorted(unknown)}; known: {', '.join(field_names())}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class ConfigError(AdvlabError):
    """A Config field outside its allowed range; ``field`` names it."""

    def __init__(self, name: str, value, allowed: str):
        super().__init__(f"{name}={value!r}: must be {allowed}")
        self.field = name


# --- validation: one rule per field, checked whenever a Config is made (config(), replace(), run_all) ---


def _number(value, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) if integer else math.isfinite(value)


def _interval(lo, hi, lo_open=False, hi_open=False) -> str:
    if hi is None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _inside(v, lo, hi, lo_open, hi_open) -> bool:
    return (v > lo if lo_open else v >= lo) and (hi is None or (v < hi if hi_open else v <= hi))


def _scalar(integer: bool, lo, hi=None, lo_open=False, hi_open=False, none: str | None = None):
    """A rule for a number in an interval; ``none`` (what None means) allows None."""
    allowed = f"{'an integer' if integer else 'a number'} {_interval(lo, hi, lo_open, hi_open)}"
    if none:
        allowed += f", or null ({none})"

    def check(v):
        if v is None:
            return none is not None
        return _number(v, integer) and _inside(v, lo, hi, lo_open, hi_open)

    return check, allowed


def _numbers(integer: bool, lo, hi=None, lo_open=False, may_be_empty=False):
    """A rule for an ascending list of distinct numbers in an interval."""
    what = "integers" if integer else "numbers"
    allowed = (
        f"{'an' if may_be_empty else 'a non-empty'} ascending list of distinct {what} {_interval(lo, hi, lo_open)}"
    )

    def check(v):
        return (
            isinstance(v, list)
            and (may_be_empty or len(v) > 0)
            and all(_number(e, integer) and _inside(e, lo, hi, lo_open, False) for e in v)
            and all(a < b for a, b in zip(v, v[1:]))
        )

    return check, allowed


def _choice(options):
    return (lambda v: v in options), f"one of {', '.join(map(str, options))}"


COUNT = _scalar(True, 1)
EPS = _scalar(False, 0, 1)
RULES = {
    "profile": (lambda v: v in PROFILES, "a profile name (smoke, quick or paper)"),
    "device": _choice(DEVICES),
    "seed": _scalar(True, 0),
    "force": (lambda v: isinstance(v, bool), "true or false"),
    "pretrained": (lambda v: isinstance(v, bool), "true or false"),
    "n_train": _scalar(True, 1, N_TRAIN_IMAGES, none="all"),
    "epochs": COUNT,
    "batch_size": COUNT,
    "lr": _scalar(False, 0, lo_open=True),
    "n_test": _scalar(True, 1, N_TEST_IMAGES, none="all"),
    "n_pgd_test": _scalar(True, 1, N_TEST_IMAGES),
    "sweep_epsilons": _numbers(False, 0, 1),
    "grid_epsilons": _numbers(False, 0, 1),
    "grid_digit": _scalar(True, 0, 9),
    "adv_n_train": _scalar(True, 1, N_TRAIN_IMAGES, none="all"),
    "adv_epsilons": _numbers(False, 0, 1, lo_open=True),
    "adv_epochs": COUNT,
    "pgd_steps": COUNT,
    "pgd_train_steps": COUNT,
    "pgd_alpha_factor": _scalar(False, 0, lo_open=True),
    "pgd_restarts": COUNT,
    "otf_eps": _scalar(False, 0, 1, lo_open=True),
    "fast_epochs": COUNT,
    "fast_alpha_factor": _scalar(False, 0, lo_open=True),
    "fast_ramp_epochs": _scalar(False, 0),
    "fast_pgd_epochs": _scalar(True, 0),
    "fast_pgd_steps": COUNT,
    "fast_pgd_alpha": _scalar(False, 0, 1, lo_open=True),
    "fast_pgd_ramp_epochs": _scalar(False, 0),
    "madry_epochs": _scalar(True, 0),
    "madry_steps": COUNT,
    "madry_alpha": _scalar(False, 0, 1, lo_open=True),
    "madry_ramp_epochs": _scalar(False, 0),
    "guard_n": COUNT,
    "guard_steps": COUNT,
    "guard_apgd_steps": _scalar(True, 0),
    "guard_drop": _scalar(False, 0, 1, lo_open=True),
    "capacity_widths": _numbers(True, 1, may_be_empty=True),
    "robust_n": _scalar(True, 1, N_TEST_IMAGES),
    "robust_steps": COUNT,
    "robust_restarts": COUNT,
    "robust_cw_restarts": _scalar(True, 0),
    "apgd_steps": COUNT,
    "apgd_restarts": COUNT,
    "apgd_targets": _scalar(True, 1, 9),
    "baseline_seeds": _numbers(True, 0, may_be_empty=True),
    "sanity_n": _scalar(True, 1, N_TEST_IMAGES),
    "sanity_steps": COUNT,
}


def validate(cfg: Config) -> Config:
    """Raise ConfigError (one line: the field, its value, the allowed range) for the first bad field."""
    for name in field_names():
        check, allowed = RULES[name]
        if not check(getattr(cfg, name)):
            raise ConfigError(name, getattr(cfg, name), allowed)
    half = (cfg.n_train or N_TRAIN_IMAGES) // 2  # notebook 05 holds guard_n training images out
    if cfg.guard_n >= half:
        raise ConfigError(
            "guard_n",
            cfg.guard_n,
            f"below half the training images ({half} with n_train={cfg.n_train}): lower guard_n or raise n_train",
        )
    return cfg


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


# The three presets side by side, one row per field: (smoke, quick, paper); every other field keeps its Config
# default. ``python -m advlab.profiles <profile>`` says what each chapter runs with them.
# fmt: off
PRESETS: dict[str, tuple] = {
    "n_train":              (5000,   None,   None),
    "epochs":               (2,      6,      50),
    "n_test":               (300,    2000,   None),
    "n_pgd_test":           (100,    500,    10000),
    "adv_n_train":          (600,    10000,  None),
    "adv_epochs":           (1,      2,      50),
    "pgd_steps":            (3,      10,     40),
    "pgd_train_steps":      (3,      7,      40),
    "fast_epochs":          (2,      5,      20),
    "fast_ramp_epochs":     (1.0,    2.0,    2.0),
    "fast_pgd_epochs":      (2,      4,      20),
    "fast_pgd_steps":       (2,      3,      3),
    "fast_pgd_alpha":       (0.15,   0.1,    0.1),
    "fast_pgd_ramp_epochs": (1.0,    2.0,    2.0),
    "madry_epochs":         (0,      0,      50),
    "guard_n":              (100,    500,    500),
    "guard_steps":          (3,      10,     10),
    "guard_apgd_steps":     (5,      20,     20),
    "capacity_widths":      ([1, 2], [],     [1, 2, 4]),
    "robust_n":             (100,    1000,   1000),
    "robust_steps":         (5,      40,     40),
    "robust_restarts":      (2,      2,      10),
    "robust_cw_restarts":   (1,      0,      1),
    "apgd_steps":           (10,     100,    100),
    "apgd_restarts":        (1,      1,      5),
    "apgd_targets":         (3,      3,      9),
    "baseline_seeds":       ([],     [],     [0, 1, 2]),
    "sanity_n":             (100,    500,    1000),
    "sanity_steps":         (3,      10,     10),
}
# fmt: on
PROFILES: dict[str, dict] = {
    name: {field: values[i] for field, values in PRESETS.items()} for i, name in enumerate(("smoke", "quick", "paper"))
}

PERFORMANCE_DOC = "docs/performance.md"
# A rough estimate per profile for run_all's banner and the report; measured times: PERFORMANCE_DOC.
EXPECTED_CPU_TIME = {
    "smoke": f"a few minutes (an estimate; measured times: {PERFORMANCE_DOC})",
    "quick": f"about a quarter of an hour (an estimate; measured times: {PERFORMANCE_DOC})",
    "paper": f"days; meant for a GPU (an estimate; measured times: {PERFORMANCE_DOC})",
}


def config(profile: str = "quick", **overrides) -> Config:
    """The Config of a profile, with ``overrides`` applied (unknown names are an error)."""
    if profile not in PROFILES:
        raise AdvlabError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    return Config(profile=profile).replace(**PROFILES[profile]).replace(**overrides)
