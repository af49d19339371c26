"""The course's pipeline as "get or build" calls: each returns a cached artifact when one exists
for the same parameters, and otherwise builds it with the same library code the notebooks teach.
So every notebook runs on its own, and nothing is computed twice.

Model names: ``baseline``, ``fgsm_retrained``, ``fgsm_untrained``, ``pgd_retrained``, ``pgd_untrained``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from advlab.core.adversarial_training import train_on_the_fly
from advlab.core.attacks import fgsm_signs, pgd, step_size
from advlab.core.checkpoint import load_cached_model, load_checkpoint, save_model
from advlab.core.data import load_mnist, subset
from advlab.core.errors import AdvlabError
from advlab.core.models import BaselineCNN
from advlab.core.training import fit
from advlab.course import artifacts, pretrained
from advlab.course.profiles import Config
from advlab.course.registry import (  # noqa: F401 (MODELS ... NOTEBOOKS: the notebooks read them here)
    ATTACKS,
    FIGURES,
    MODELS,
    NOTEBOOKS,
    ON_THE_FLY,
    THREATS,
    model_key,
    model_params,
    on_the_fly_models,
    on_the_fly_name,
    on_the_fly_params,
    on_the_fly_spec,
    set_params,
    static_spec,
    trained_key,
)

DATA_ROOT = Path("data")

# Artifacts rebuilt in this process under ``force``: ``force`` recomputes each artifact once per
# process, not at every call that needs it (a model used by two later steps is trained once).
_REBUILT: set[str] = set()


def _force_rebuild(cfg: Config, name) -> bool:
    """Rebuild this artifact now? Under ``force``: once per process; and when run_all --force sets
    ADVLAB_FORCE_SINCE, not if an earlier notebook of the same run already rebuilt it."""
    if not cfg.force or str(name) in _REBUILT:
        return False
    since = os.environ.get("ADVLAB_FORCE_SINCE")
    if since:
        for p in (Path(name), artifacts.path(str(name), ".pt"), artifacts.path(str(name), ".json")):
            if p.is_file():
                return p.stat().st_mtime < float(since)
    return True


def cached_json(cfg: Config, folder: str, kind: str, params: dict, build):
    """A small result cached as JSON under ``<folder>/<kind>-<key>``, rebuilt under ``force`` once per run."""
    name = f"{folder}/{artifacts.key(kind, params)}"
    value = artifacts.cached_json(name, params, build, _force_rebuild(cfg, name))
    if cfg.force:
        _REBUILT.add(name)
    return value


def cached(cfg: Config, kind: str, params: dict, build):
    """A notebook's own small JSON result, computed by ``build()`` once and then read from
    ``artifacts/demos/``: ``params`` must name everything the result depends on (models by their
    :func:`model_key`, settings, and the source of any code defined in the notebook)."""
    return cached_json(cfg, "demos", kind, params, build)


def chdir_root(start=None) -> Path:
    """Make the repository root (the folder holding pyproject.toml) the working directory, so that
    data/, artifacts/, figures/ and report/ resolve the same from notebooks/ (JupyterLab) and from
    the root (run_all.py). Returns the root."""
    here = Path(start or Path.cwd()).resolve()
    package_root = Path(__file__).resolve().parents[3]  # lib/advlab/course/pipeline.py -> repository root
    for folder in [here, *here.parents, package_root]:
        if (folder / "pyproject.toml").is_file() and (folder / "lib" / "advlab").is_dir():
            os.chdir(folder)
            return folder
    raise AdvlabError(
        f"cannot find the AdvLab repository root (a folder with pyproject.toml and lib/advlab) "
        f"above {here}: start Jupyter inside the repository."
    )


# --- devices and data -------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; asking for one that is not there is an error."""
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if name == "auto":
        return torch.device("cuda" if available["cuda"] else "mps" if available["mps"] else "cpu")
    if name not in available:
        raise AdvlabError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    if not available[name]:
        raise AdvlabError(f"device {name!r} is not available on this machine: use --device auto or cpu")
    return torch.device(name)


@functools.lru_cache(maxsize=4)
def _mnist(train: bool):
    return load_mnist(DATA_ROOT, train=train)


def train_data(cfg: Config, n: int | None = "n_train"):
    """The baseline's training images (a seeded subset of ``cfg.n_train``, or ``n``)."""
    n = cfg.n_train if n == "n_train" else n
    return subset(*_mnist(True), n, seed=cfg.seed)


def test_data(cfg: Config, n: int | None = None):
    """The first ``n`` images of a seeded shuffle of the test set (all 10,000 when n is None)."""
    return subset(*_mnist(False), n, seed=cfg.seed + 1)


# --- models -----------------------------------------------------------------------------------


def on_the_fly_data(cfg: Config):
    """Training images of the on-the-fly models and the held-out ones their guard watches: a seeded
    shuffle of ``n_train`` training images (all 60k by default), whose first ``guard_n`` are held out."""
    x, y = train_data(cfg)
    g = cfg.guard_n
    if not 0 < g < len(x) // 2:
        raise AdvlabError(f"guard_n={g} must be between 1 and half the training images ({len(x)})")
    return (x[g:], y[g:]), (x[:g], y[:g])


def _train_on_the_fly(cfg: Config, name: str, device, checkpoint=None):
    kind, width = on_the_fly_spec(name)
    p = on_the_fly_params(cfg, name)
    (x, y), guard = on_the_fly_data(cfg)
    torch.manual_seed(cfg.seed + 2)
    model = BaselineCNN(width=width).to(device)
    if kind == "fast_adv":
        extra = dict(alpha_factor=p["alpha_factor"])
    else:
        extra = dict(steps=p["steps"], pgd_alpha=p["alpha"])
    history = train_on_the_fly(
        model,
        x,
        y,
        p["method"],
        p["eps"],
        p["epochs"],
        ramp_epochs=p["ramp"],
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        guard=guard,
        guard_steps=cfg.guard_steps,
        guard_drop=cfg.guard_drop,
        guard_apgd_steps=cfg.guard_apgd_steps,
        desc=name,
        checkpoint=checkpoint,
        **extra,
    )
    return model, history


def get_model(cfg: Config, name: str) -> torch.nn.Module:
    """The trained model ``name``: the shipped weights with ``cfg.pretrained``; else from the cache, or
    trained now (with everything it needs). An interrupted training resumes from its checkpoint
    (``artifacts/models/<key>.ckpt``, written after every epoch) at the next call, unless forced."""
    device = resolve_device(cfg.device)
    if cfg.pretrained:
        return pretrained.load(cfg.profile, name, key=trained_key(cfg, name), device=device)
    p = artifacts.path(f"models/{model_key(cfg, name)}", ".pt")
    forced = _force_rebuild(cfg, p)
    if p.exists() and not forced:
        width = on_the_fly_spec(name)[1] if on_the_fly_spec(name) else 1
        model = load_cached_model(p, BaselineCNN(width=width), device)  # None: unreadable, moved aside
        if model is not None:
            return model
    ckpt = p.with_suffix(".ckpt")
    if forced:
        ckpt.unlink(missing_ok=True)
    model, meta = _train(cfg, name, device, ckpt)
    save_model(model, p, meta)
    artifacts.write_json(p.with_suffix(".json"), meta)
    _REBUILT.add(str(p))
    return model.eval()


def _train(cfg: Config, name: str, device, ckpt: Path) -> tuple[torch.nn.Module, dict]:
    """Train model ``name`` (resuming from ``ckpt``); returns it and the metadata saved with it."""
    history = None
    if on_the_fly_spec(name):
        model, history = _train_on_the_fly(cfg, name, device, ckpt)
        losses = [row["loss"] for row in history["epochs"]]
        seconds = sum(row["seconds"] + row.get("guard_seconds", 0.0) for row in history["epochs"])
    else:
        model, losses, seconds = _train_on_a_set(cfg, name, device, ckpt)
    meta = {
        "name": name,
        "params": model_params(cfg, name),
        "losses": losses,
        "train_seconds": seconds,
        "device": str(device),
        "width": model.width,
    }
    if history is not None:
        meta["history"] = history
    return model, meta


def _train_on_a_set(cfg: Config, name: str, device, ckpt: Path):
    """The baseline on clean images, or a static model on its combined set: ``(model, losses, seconds)``."""
    if name == "baseline":
        x, y = train_data(cfg)
        torch.manual_seed(cfg.seed)
        model = BaselineCNN().to(device)
        epochs, desc = cfg.epochs, "baseline"
    else:
        attack, init = static_spec(name)
        x, y = adversarial_set(cfg, attack)
        if init == "retrained":
            model = get_model(cfg.replace(force=False), "baseline")  # fine-tune a copy of the baseline
        else:
            torch.manual_seed(cfg.seed + 1)
            model = BaselineCNN().to(device)
        epochs, desc = cfg.adv_epochs, name
    clock = {"seconds": 0.0}  # training seconds (not building a set), epochs before an interruption included
    losses = fit(
        model,
        x,
        y,
        epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        desc=desc,
        checkpoint=ckpt,
        state={"clock": clock},
        on_epoch_end=lambda epoch, loss, s: clock.update(seconds=clock["seconds"] + s),
    )
    return model, losses, clock["seconds"]


def model_info(cfg: Config, name: str) -> dict:
    """The metadata saved with a trained model (losses, training time); trains it if needed."""
    if cfg.pretrained:
        return pretrained.info(cfg.profile, name, key=trained_key(cfg, name))
    p = artifacts.path(f"models/{model_key(cfg, name)}", ".pt")
    if p.exists() and not _force_rebuild(cfg, p):
        try:
            return load_checkpoint(p)["meta"]
        except AdvlabError:
            pass  # get_model moves the unreadable checkpoint aside and rebuilds it
    get_model(cfg, name)
    return load_checkpoint(p)["meta"]


def get_models(cfg: Config, names=MODELS) -> dict:
    return {name: get_model(cfg, name) for name in names}


# --- adversarial training sets ----------------------------------------------------------------


def pgd_settings(cfg: Config, eps: float, steps: int | None = None) -> dict:
    """PGD's settings at ``eps``: ``steps`` (default ``cfg.pgd_steps``) of alpha = factor * eps / steps."""
    steps = cfg.pgd_steps if steps is None else steps
    return {
        "eps": eps,
        "alpha": step_size(eps, steps, cfg.pgd_alpha_factor),
        "steps": steps,
        "random_start": True,
        "restarts": cfg.pgd_restarts,
    }


def combined_set(model, x, y, attack: str, epsilons, pgd_kwargs=None):
    """``x`` followed by one adversarial copy per eps, crafted against ``model``: ``(1 + len(epsilons)) * N``
    images. Filled in place, so the peak memory is the set plus its source. FGSM reuses one gradient;
    PGD is the standard attack (all steps, final iterate) with ``pgd_kwargs(eps)``'s settings."""
    n, k = len(x), len(epsilons)
    xs = torch.empty((n * (1 + k),) + tuple(x.shape[1:]), dtype=x.dtype)
    xs[:n] = x
    if attack == "fgsm":
        sign = fgsm_signs(model, x, y)
        for i, eps in enumerate(epsilons, start=1):
            torch.clamp(x + eps * sign, 0, 1, out=xs[i * n : (i + 1) * n])
    elif attack == "pgd":
        for i, eps in enumerate(epsilons, start=1):
            kw = pgd_kwargs(eps)
            xs[i * n : (i + 1) * n] = pgd(
                model,
                x,
                y,
                kw["eps"],
                kw["alpha"],
                kw["steps"],
                kw["random_start"],
                kw["restarts"],
                seed=kw.get("seed", 0) + i - 1,
                early_stop=False,
                progress=f"PGD set eps={eps}",
            )
    else:
        raise AdvlabError(f"unknown attack {attack!r}: choose one of {', '.join(ATTACKS)}")
    return xs, y.repeat(1 + k)


def _is_set(blob) -> bool:
    return (
        isinstance(blob, dict)
        and isinstance(blob.get("x"), torch.Tensor)
        and isinstance(blob.get("y"), torch.Tensor)
        and blob["x"].ndim == 4
        and len(blob["x"]) == len(blob["y"])
    )


def adversarial_set(cfg: Config, attack: str):
    """The seed's "combined" set: ``adv_n_train`` benign images plus one adversarial copy of each per
    eps in ``adv_epsilons`` (6 x 60k = 360k in the paper), crafted once against the baseline."""
    if attack not in ATTACKS:
        raise AdvlabError(f"unknown attack {attack!r}: choose one of {', '.join(ATTACKS)}")
    params = set_params(cfg, attack)

    def build():
        baseline = get_model(cfg.replace(force=False), "baseline")
        x, y = train_data(cfg, cfg.adv_n_train)
        xs, ys = combined_set(
            baseline,
            x,
            y,
            attack,
            cfg.adv_epsilons,
            pgd_kwargs=lambda eps: {**pgd_settings(cfg, eps, cfg.pgd_train_steps), "seed": cfg.seed},
        )
        return {"x": xs, "y": ys}

    name = f"sets/{artifacts.key(attack + 'set', params)}"
    blob = artifacts.cached_tensors(name, params, build, _force_rebuild(cfg, name), check=_is_set)
    if cfg.force:
        _REBUILT.add(name)
    return blob["x"], blob["y"]
