"""The trainings a run needs, as a task graph, and the body of one training task.

Every training of the course is a get-or-build call that writes the keyed cache atomically
(``advlab.course.pipeline``): the baseline; the combined sets crafted on it (FGSM, PGD); the static
models trained on those sets; the on-the-fly models; the capacity widths; the baseline again at each of
``baseline_seeds``. :func:`trainings` lists them for a profile and the training seeds of a run, each
after the ones it needs, identified by its cache key (two seeds that need the same artifact share one
task). ``advlab.runtime.scheduler`` runs them (on Ray, or here in order), then each seed's notebooks,
which find every model in the cache.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from pathlib import Path

import torch

from advlab.core.io import atomic_path
from advlab.course import artifacts, pipeline
from advlab.course.profiles import Config
from advlab.course.registry import MODELS, model_key, on_the_fly_models, on_the_fly_name, set_params, static_spec

# What each notebook trains (or reads): 01 and 02 the baseline; 03 the FGSM models; 04 all five static
# models; 05 every model of the profile.
STATIC_NEEDS = {
    "01_baseline": ["baseline"],
    "02_fgsm_attack": ["baseline"],
    "03_adversarial_training": ["baseline", "fgsm_retrained", "fgsm_untrained"],
    "04_generalization": MODELS,
}


@dataclasses.dataclass(frozen=True)
class Training:
    """One training task: ``kind`` is ``model`` (``name`` a model) or ``set`` (``name`` ``fgsm_set`` or
    ``pgd_set``); ``seed`` the run's training seed it serves (for messages); ``needs`` the keys of the
    tasks that must finish first."""

    key: str
    kind: str
    name: str
    seed: int
    cfg: Config
    needs: tuple[str, ...] = ()

    def label(self) -> str:
        return f"{self.name} (seed {self.seed})"


def models_for(cfg: Config, notebooks: list[str]) -> list[str]:
    """The models the given notebooks use under ``cfg``, in the course's order."""
    names: list[str] = []
    for nb in notebooks:
        if nb in STATIC_NEEDS:
            names += STATIC_NEEDS[nb]
        else:  # chapter 05: every model of the profile (pretrained_cli.profile_models)
            otf = on_the_fly_models(cfg)
            names += MODELS + otf + [on_the_fly_name(otf[-1], w) for w in cfg.capacity_widths]
    return list(dict.fromkeys(names))


def _model_tasks(cfg: Config, name: str, seed: int) -> list[Training]:
    """The task of model ``name`` under ``cfg``, after the set (and baseline) it needs."""
    if name == "baseline" or name not in MODELS:
        return [Training(model_key(cfg, name), "model", name, seed, cfg)]
    attack, _ = static_spec(name)
    base = model_key(cfg, "baseline")
    set_key = artifacts.key(f"{attack}set", set_params(cfg, attack))
    return [
        Training(base, "model", "baseline", seed, cfg),
        Training(set_key, "set", f"{attack}_set", seed, cfg, (base,)),
        Training(model_key(cfg, name), "model", name, seed, cfg, (set_key, base)),
    ]


def trainings(cfg: Config, notebooks: list[str], seeds: list[int]) -> list[Training]:
    """Every training the notebooks need for each seed, each after the tasks it needs; none with
    ``cfg.pretrained`` (the shipped weights are loaded, not trained)."""
    if cfg.pretrained:
        return []
    tasks: dict[str, Training] = {}
    for seed in seeds:
        c = cfg.replace(seed=seed)
        wanted = [(c, name) for name in models_for(c, notebooks)]
        if "05_on_the_fly_adversarial_training" in notebooks:  # the baseline's spread over baseline_seeds
            wanted += [(c.replace(seed=int(s)), "baseline") for s in c.baseline_seeds]
        for task_cfg, name in wanted:
            for task in _model_tasks(task_cfg, name, seed):
                tasks.setdefault(task.key, task)
    return list(tasks.values())


# --- one task -------------------------------------------------------------------------------------

RUNNING = "running"  # artifacts/running/<key>.pid: which process trains what, while it does


def pid_file(key: str) -> Path:
    return artifacts.path(f"{RUNNING}/{key}", ".pid")


def train(task: Training, root: str, threads: int, *after) -> dict:
    """Build one task's artifact (or find it cached), with ``threads`` CPU threads; returns
    ``{"key", "seconds", "pid"}``. While it runs, ``artifacts/running/<key>.pid`` holds ``host pid``.
    ``after``: the results of the tasks it needs (on Ray, their ObjectRefs make it wait for them)."""
    os.chdir(root)  # data/ and artifacts/ are relative to the repository root
    torch.set_num_threads(max(1, int(threads)))
    marker = pid_file(task.key)
    with atomic_path(marker) as tmp:
        tmp.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    start = time.perf_counter()
    try:
        if task.kind == "set":
            pipeline.adversarial_set(task.cfg, task.name.split("_")[0])
        else:
            pipeline.get_model(task.cfg, task.name)
    finally:
        marker.unlink(missing_ok=True)
    return {"key": task.key, "seconds": time.perf_counter() - start, "pid": os.getpid()}
