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

from advlab.course import artifacts
from advlab.core.attacks import fgsm_signs, fgsm_sweep_predictions, pgd
from advlab.core.checkpoint import load_cached_model, load_checkpoint, save_model
from advlab.core.data import load_mnist, subset
from advlab.core.errors import AdvlabError
from advlab.core.inference import predict
from advlab.core.io import write_json
from advlab.core.models import ARCH, BaselineCNN
from advlab.course.profiles import Config
from advlab.core.training import fit

MODELS = ["baseline", "fgsm_retrained", "fgsm_untrained", "pgd_retrained", "pgd_untrained"]
# notebook 05's models and their methods: fast FGSM training (the lesson in over-reporting), PGD
# training with a few large steps (the most robust one a CPU trains in minutes), Madry's PGD-40
ON_THE_FLY = {"fast_adv": "fgsm_rs", "fast_pgd_adv": "pgd", "madry_adv": "pgd"}
ATTACKS = ["fgsm", "pgd"]
THREATS = ["whitebox", "transfer"]
DATA_ROOT = Path("data")

# Every figure the course makes (figures/<profile>/<name>.png): the seed's figures, plus the
# prediction heatmap that tests its "collapse onto a single class" claim.
FIGURES = {
    "01_baseline_loss": "Training loss of the baseline CNN per epoch",
    "02_fgsm_baseline_accuracy": "Accuracy vs epsilon, FGSM on the baseline (seed: adv-1)",
    "02_fgsm_baseline_grid": "Ten test images of class 5 under FGSM, baseline predictions (seed: adv-2)",
    "02_fgsm_baseline_predictions": "Where adversarial predictions land: share of each predicted class per epsilon",
    "03_training_loss": "Training loss per epoch, FGSM retrained vs untrained (seed: adv-3)",
    "03_fgsm_accuracy_three_models": "FGSM accuracy vs epsilon: baseline, retrained, untrained (seed: adv-4)",
    "04_pgd_attack_accuracy": "PGD attack on the baseline, FGSM-trained and PGD-trained models (seed: adv-6)",
    "04_fgsm_attack_accuracy": "FGSM attack on the baseline, FGSM-trained and PGD-trained models (seed: adv-5)",
    "04_grid_baseline": "FGSM examples and predictions, baseline (seed: adv-7a)",
    "04_grid_fgsm_retrained": "FGSM examples and predictions, FGSM-retrained model (seed: adv-4 grid)",
    "04_grid_pgd_retrained": "FGSM examples and predictions, PGD-retrained model (seed: adv-7b)",
    "05_pgd_static_vs_on_the_fly": "PGD: static adversarial training against training on the fly (beyond the seed)",
    "05_cost_vs_robustness": "Training time against white-box robustness, worst case over attacks",
    "05_frontier": "On-the-fly training methods: training cost against robust accuracy under APGD-CE + APGD-T",
    "05_capacity": "Clean and robust accuracy of the on-the-fly model at widths x1, x2, x4 (paper profile)",
}
NOTEBOOKS = ["01_baseline", "02_fgsm_attack", "03_adversarial_training", "04_generalization",
             "05_on_the_fly_adversarial_training"]

# Artifacts rebuilt in this process under ``force``: ``force`` recomputes each artifact once per
# process, not at every call that needs it (a model used by two later steps is trained once).
_REBUILT: set[str] = set()


def _forced(cfg: Config, name) -> bool:
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


def _cached_json(cfg: Config, folder: str, kind: str, params: dict, build):
    """A small result cached as JSON under ``<folder>/<kind>-<key>``, rebuilt under ``force`` once per run."""
    name = f"{folder}/{artifacts.key(kind, params)}"
    value = artifacts.cached_json(name, params, build, _forced(cfg, name))
    if cfg.force:
        _REBUILT.add(name)
    return value


def cached(cfg: Config, kind: str, params: dict, build):
    """A notebook's own small JSON result, computed by ``build()`` once and then read from
    ``artifacts/demos/``: ``params`` must name everything the result depends on (models by their
    :func:`model_key`, settings, and the source of any code defined in the notebook)."""
    return _cached_json(cfg, "demos", kind, params, build)


def chdir_root(start=None) -> Path:
    """Make the repository root (the folder holding pyproject.toml) the working directory, so that
    data/, artifacts/, figures/ and report/ resolve the same from notebooks/ (JupyterLab) and from
    the root (run_all.py). Returns the root."""
    here = Path(start or Path.cwd()).resolve()
    package_root = Path(__file__).resolve().parents[3]   # lib/advlab/course/pipeline.py -> repository root
    for folder in [here, *here.parents, package_root]:
        if (folder / "pyproject.toml").is_file() and (folder / "lib" / "advlab").is_dir():
            os.chdir(folder)
            return folder
    raise AdvlabError(f"cannot find the AdvLab repository root (a folder with pyproject.toml and lib/advlab) "
                      f"above {here}: start Jupyter inside the repository.")


# --- devices and data -------------------------------------------------------------------------

def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; asking for one that is not there is an error."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
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

def _baseline_params(cfg: Config) -> dict:
    return {"n_train": cfg.n_train, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "seed": cfg.seed, "arch": ARCH}


def _set_params(cfg: Config, attack: str) -> dict:
    params = {"baseline": model_key(cfg, "baseline"), "attack": attack,
              "adv_n_train": cfg.adv_n_train, "adv_epsilons": cfg.adv_epsilons, "seed": cfg.seed}
    if attack == "pgd":
        params.update(pgd_steps=cfg.pgd_train_steps, pgd_alpha_factor=cfg.pgd_alpha_factor)
    return params


def _model_params(cfg: Config, name: str) -> dict:
    if name == "baseline":
        return _baseline_params(cfg)
    if _otf(name):
        return _otf_params(cfg, name)
    attack, init = _split(name)
    return {"set": artifacts.key(f"{attack}set", _set_params(cfg, attack)), "init": init,
            "epochs": cfg.adv_epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed}


def _otf(name: str):
    """``(kind, width)`` of an on-the-fly model name (``fast_adv``, ``fast_pgd_adv``, ``madry_adv``, or one
    of them with a width suffix such as ``madry_adv_w2``), else None."""
    base, _, w = name.partition("_adv")
    kind = base + "_adv"
    if kind not in ON_THE_FLY or (w and not (w.startswith("_w") and w[2:].isdigit() and int(w[2:]) >= 1)):
        return None
    return kind, int(w[2:]) if w else 1


def otf_name(kind: str, width: int = 1) -> str:
    return kind if width == 1 else f"{kind}_w{width}"


def otf_models(cfg: Config) -> list[str]:
    """The on-the-fly models this profile trains: ``fast_adv``, ``fast_pgd_adv`` when fast_pgd_epochs > 0,
    and ``madry_adv`` when madry_epochs > 0."""
    return (["fast_adv"] + (["fast_pgd_adv"] if cfg.fast_pgd_epochs > 0 else [])
            + (["madry_adv"] if cfg.madry_epochs > 0 else []))


def _otf_params(cfg: Config, name: str) -> dict:
    kind, width = _otf(name)
    params = {"method": ON_THE_FLY[kind], "eps": cfg.otf_eps, "width": width, "n_train": cfg.n_train,
              "guard": [cfg.guard_n, cfg.guard_steps, cfg.guard_drop] + ([cfg.guard_apgd_steps] if cfg.guard_apgd_steps else []), "batch_size": cfg.batch_size,
              "lr": cfg.lr, "seed": cfg.seed, "arch": ARCH}
    if kind == "fast_adv":
        params.update(epochs=cfg.fast_epochs, alpha_factor=cfg.fast_alpha_factor, ramp=cfg.fast_ramp_epochs)
    elif kind == "fast_pgd_adv":
        params.update(epochs=cfg.fast_pgd_epochs, steps=cfg.fast_pgd_steps, alpha=cfg.fast_pgd_alpha,
                      ramp=cfg.fast_pgd_ramp_epochs)
    else:
        params.update(epochs=cfg.madry_epochs, steps=cfg.madry_steps, alpha=cfg.madry_alpha,
                      ramp=cfg.madry_ramp_epochs)
    return params


def otf_data(cfg: Config):
    """Training images of the on-the-fly models and the held-out ones their guard watches: a seeded
    shuffle of ``n_train`` training images (all 60k by default), whose first ``guard_n`` are held out."""
    x, y = train_data(cfg)
    g = cfg.guard_n
    if not 0 < g < len(x) // 2:
        raise AdvlabError(f"guard_n={g} must be between 1 and half the training images ({len(x)})")
    return (x[g:], y[g:]), (x[:g], y[:g])


def _train_otf(cfg: Config, name: str, device, checkpoint=None):
    from advlab.core.adversarial_training import train_on_the_fly
    kind, width = _otf(name)
    p = _otf_params(cfg, name)
    (x, y), guard = otf_data(cfg)
    torch.manual_seed(cfg.seed + 2)
    model = BaselineCNN(width=width).to(device)
    if kind == "fast_adv":
        extra = dict(alpha_factor=p["alpha_factor"])
    else:
        extra = dict(steps=p["steps"], pgd_alpha=p["alpha"])
    history = train_on_the_fly(model, x, y, p["method"], p["eps"], p["epochs"], ramp_epochs=p["ramp"],
                               batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, guard=guard,
                               guard_steps=cfg.guard_steps, guard_drop=cfg.guard_drop,
                               guard_apgd_steps=cfg.guard_apgd_steps, desc=name,
                               checkpoint=checkpoint, **extra)
    return model, history


def _split(name: str):
    if name not in MODELS or name == "baseline":
        raise AdvlabError(f"unknown model {name!r}: choose one of {', '.join(MODELS + list(ON_THE_FLY))}")
    attack, init = name.split("_")
    return attack, init


def model_key(cfg: Config, name: str) -> str:
    """The cache key of model ``name``. With ``cfg.pretrained``, the shipped weights' key: what is computed
    from them (sets, curves, evaluations) is cached apart from what a local training gives."""
    key = trained_key(cfg, name)
    if cfg.pretrained:
        from advlab.course.pretrained import entry
        key = artifacts.key(name, {"trained": key, "sha256": entry(cfg.profile, name, key)["sha256"]})
    return key


def trained_key(cfg: Config, name: str) -> str:
    """The key of model ``name`` as trained by this pipeline (also the key shipped weights carry)."""
    return artifacts.key(name, _model_params(cfg.replace(pretrained=False) if cfg.pretrained else cfg, name))


def get_model(cfg: Config, name: str) -> torch.nn.Module:
    """The trained model ``name``: the shipped weights with ``cfg.pretrained``; else from the cache, or
    trained now (with everything it needs). An interrupted training resumes from its checkpoint
    (``artifacts/models/<key>.ckpt``, written after every epoch) at the next call, unless forced."""
    device = resolve_device(cfg.device)
    if cfg.pretrained:
        from advlab.course.pretrained import load
        return load(cfg.profile, name, key=trained_key(cfg, name), device=device)
    p = artifacts.path(f"models/{model_key(cfg, name)}", ".pt")
    forced = _forced(cfg, p)
    if p.exists() and not forced:
        width = _otf(name)[1] if _otf(name) else 1
        model = load_cached_model(p, BaselineCNN(width=width), device)   # None: unreadable, moved aside
        if model is not None:
            return model
    ckpt = p.with_suffix(".ckpt")
    if forced:
        ckpt.unlink(missing_ok=True)
    history = None
    if _otf(name):
        model, history = _train_otf(cfg, name, device, ckpt)
        losses = [row["loss"] for row in history["epochs"]]
        seconds = sum(row["seconds"] + row.get("guard_seconds", 0.0) for row in history["epochs"])
    elif name == "baseline":
        x, y = train_data(cfg)
        torch.manual_seed(cfg.seed)
        model = BaselineCNN().to(device)
        epochs, desc = cfg.epochs, "baseline"
    else:
        attack, init = _split(name)
        x, y = adversarial_set(cfg, attack)
        if init == "retrained":
            model = get_model(cfg.replace(force=False), "baseline")   # fine-tune a copy of the baseline
        else:
            torch.manual_seed(cfg.seed + 1)
            model = BaselineCNN().to(device)
        epochs, desc = cfg.adv_epochs, name
    if history is None:
        clock = {"seconds": 0.0}   # training seconds (not building a set), epochs before an interruption included
        losses = fit(model, x, y, epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, desc=desc,
                     checkpoint=ckpt, state={"clock": clock},
                     on_epoch_end=lambda epoch, loss, s: clock.update(seconds=clock["seconds"] + s))
        seconds = clock["seconds"]
    meta = {"name": name, "params": _model_params(cfg, name), "losses": losses,
            "train_seconds": seconds, "device": str(device), "width": model.width}
    if history is not None:
        meta["history"] = history
    save_model(model, p, meta)
    artifacts.write_json(p.with_suffix(".json"), meta)
    _REBUILT.add(str(p))
    return model.eval()


def model_info(cfg: Config, name: str) -> dict:
    """The metadata saved with a trained model (losses, training time); trains it if needed."""
    if cfg.pretrained:
        from advlab.course.pretrained import info
        return info(cfg.profile, name, key=trained_key(cfg, name))
    p = artifacts.path(f"models/{model_key(cfg, name)}", ".pt")
    if p.exists() and not _forced(cfg, p):
        try:
            return load_checkpoint(p)["meta"]
        except AdvlabError:
            pass   # get_model moves the unreadable checkpoint aside and rebuilds it
    get_model(cfg, name)
    return load_checkpoint(p)["meta"]


def get_models(cfg: Config, names=MODELS) -> dict:
    return {name: get_model(cfg, name) for name in names}


# --- adversarial training sets ----------------------------------------------------------------

def pgd_settings(cfg: Config, eps: float, steps: int | None = None) -> dict:
    """PGD's settings at ``eps``: ``steps`` (default ``cfg.pgd_steps``) of alpha = factor * eps / steps."""
    steps = cfg.pgd_steps if steps is None else steps
    return {"eps": eps, "alpha": cfg.pgd_alpha_factor * eps / max(steps, 1), "steps": steps,
            "random_start": True, "restarts": cfg.pgd_restarts}


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
            torch.clamp(x + eps * sign, 0, 1, out=xs[i * n:(i + 1) * n])
    elif attack == "pgd":
        for i, eps in enumerate(epsilons, start=1):
            kw = pgd_kwargs(eps)
            xs[i * n:(i + 1) * n] = pgd(model, x, y, kw["eps"], kw["alpha"], kw["steps"], kw["random_start"],
                                        kw["restarts"], seed=kw.get("seed", 0) + i - 1, early_stop=False,
                                        progress=f"PGD set eps={eps}")
    else:
        raise AdvlabError(f"unknown attack {attack!r}: choose one of {', '.join(ATTACKS)}")
    return xs, y.repeat(1 + k)


def _is_set(blob) -> bool:
    return (isinstance(blob, dict) and isinstance(blob.get("x"), torch.Tensor) and isinstance(blob.get("y"), torch.Tensor)
            and blob["x"].ndim == 4 and len(blob["x"]) == len(blob["y"]))


def adversarial_set(cfg: Config, attack: str):
    """The seed's "combined" set: ``adv_n_train`` benign images plus one adversarial copy of each per
    eps in ``adv_epsilons`` (6 x 60k = 360k in the paper), crafted once against the baseline."""
    if attack not in ATTACKS:
        raise AdvlabError(f"unknown attack {attack!r}: choose one of {', '.join(ATTACKS)}")
    params = _set_params(cfg, attack)

    def build():
        baseline = get_model(cfg.replace(force=False), "baseline")
        x, y = train_data(cfg, cfg.adv_n_train)
        xs, ys = combined_set(baseline, x, y, attack, cfg.adv_epsilons,
                              pgd_kwargs=lambda eps: {**pgd_settings(cfg, eps, cfg.pgd_train_steps), "seed": cfg.seed})
        return {"x": xs, "y": ys}

    name = f"sets/{artifacts.key(attack + 'set', params)}"
    blob = artifacts.cached_tensors(name, params, build, _forced(cfg, name), check=_is_set)
    if cfg.force:
        _REBUILT.add(name)
    return blob["x"], blob["y"]


# --- accuracy curves --------------------------------------------------------------------------

def curve(cfg: Config, model: str, attack: str, threat: str, epsilons=None) -> dict:
    """Accuracy of ``model`` under ``attack`` at each eps, with examples crafted on the model itself
    (``whitebox``) or on the baseline (``transfer``). Every test image counts."""
    if attack not in ATTACKS or threat not in THREATS:
        raise AdvlabError(f"attack must be one of {ATTACKS} and threat one of {THREATS}, got {attack!r}, {threat!r}")
    epsilons = list(cfg.sweep_epsilons if epsilons is None else epsilons)
    n = cfg.n_test if attack == "fgsm" else cfg.n_pgd_test
    source = model if threat == "whitebox" else "baseline"
    params = {"model": model_key(cfg, model), "source": model_key(cfg, source), "attack": attack,
              "eps": epsilons, "n": n, "seed": cfg.seed}
    if attack == "pgd":
        params.update(steps=cfg.pgd_steps, alpha_factor=cfg.pgd_alpha_factor, restarts=cfg.pgd_restarts,
                      early_stop=threat == "whitebox")

    def build():
        target = get_model(cfg.replace(force=False), model)
        x, y = test_data(cfg, n)
        if attack == "fgsm" and source == model:
            correct = fgsm_sweep_predictions(target, x, y, epsilons) == y[None]
        else:
            examples = adversarial_examples(cfg, source, attack, epsilons, n, early_stop=threat == "whitebox")
            correct = torch.stack([predict(target, x_adv) == y for _, x_adv in examples])
        out = {"model": model, "attack": attack, "threat": threat, "eps": epsilons,
               "acc": correct.float().mean(1).tolist(), "n_images": len(x)}
        m = cfg.n_pgd_test
        if attack == "fgsm" and m and m < len(x):  # the PGD curves' images are the first m of these
            out["subset"] = {"n_images": m, "acc": correct[:, :m].float().mean(1).tolist()}
        return out

    value = _cached_json(cfg, "curves", "curve", params, build)
    # The baseline's white-box and transfer curves share one cache entry (same examples): label it.
    return {**value, "threat": threat}


def adversarial_examples(cfg: Config, source: str, attack: str, epsilons, n: int | None,
                         early_stop: bool = True):
    """Yield ``(eps, x_adv)`` for the first ``n`` test images, crafted on model ``source``.

    PGD with ``early_stop`` (white-box evaluation) stops at the first iterate that fools ``source``;
    examples meant to transfer to other models use ``early_stop=False`` (all steps), since an example
    that only just fools its source transfers poorly."""
    src = get_model(cfg.replace(force=False), source)
    x, y = test_data(cfg, n)
    if attack == "fgsm":
        sign = fgsm_signs(src, x, y)
        for eps in epsilons:
            yield eps, (x + eps * sign).clamp_(0, 1)
    else:
        for eps in epsilons:
            s = pgd_settings(cfg, eps)
            memo = (model_key(cfg, source), n, cfg.seed, early_stop, tuple(sorted(s.items())))
            if memo not in _PGD_MEMO:  # the baseline's examples serve every transfer curve
                _PGD_MEMO[memo] = pgd(src, x, y, s["eps"], s["alpha"], s["steps"], s["random_start"],
                                      s["restarts"], seed=cfg.seed + 100 + round(1000 * eps),
                                      early_stop=early_stop)
            yield eps, _PGD_MEMO[memo]


_PGD_MEMO: dict = {}  # PGD test examples computed in this process, by (model, n, seed, settings)


# --- the stronger evaluation (notebook 05, used by every notebook's final numbers) ---------------

def robust_settings(cfg: Config) -> dict:
    from advlab.evaluation.robust import attack_suite
    return attack_suite(cfg.otf_eps, cfg.robust_steps, restarts=cfg.robust_restarts,
                        cw_restarts=cfg.robust_cw_restarts, apgd_steps=cfg.apgd_steps,
                        apgd_restarts=cfg.apgd_restarts, apgd_targets=cfg.apgd_targets)


def robust_eval(cfg: Config, name: str) -> dict:
    """Model ``name``'s accuracy at ``otf_eps`` under FGSM, PGD (cross-entropy, restarts), APGD-CE and
    APGD-T on the first ``robust_n`` test images, and the per-image worst case over them
    (``robust_acc``; :func:`advlab.evaluation.robust.robust_eval`). Cached."""
    from advlab.evaluation.robust import robust_eval as evaluate_robustly
    params = _robust_params(cfg, name)

    def build():
        x, y = test_data(cfg, cfg.robust_n)
        return evaluate_robustly(get_model(cfg.replace(force=False), name), x, y, cfg.otf_eps, params["attacks"],
                                 seed=cfg.seed, progress=f"robust eval {name}")

    return _cached_json(cfg, "robust", "robust", params, build)


def _robust_params(cfg: Config, name: str) -> dict:
    return {"model": model_key(cfg, name), "eps": cfg.otf_eps, "n": cfg.robust_n, "attacks": robust_settings(cfg),
            "seed": cfg.seed}


def cached_robust_eval(cfg: Config, name: str) -> dict | None:
    """``robust_eval(cfg, name)`` if it is already cached, else None (computes nothing)."""
    params = _robust_params(cfg, name)
    return artifacts.load_json(f"robust/{artifacts.key('robust', params)}", params)


def model_sanity(cfg: Config, name: str) -> dict:
    """``advlab.evaluation.sanity.check_model`` for model ``name`` on the first ``sanity_n`` test images at
    ``otf_eps``: ``{check: {"passed", "detail"}}``. Cached."""
    from advlab.evaluation.sanity import check_model
    params = {"model": model_key(cfg, name), "eps": cfg.otf_eps, "n": cfg.sanity_n, "steps": cfg.sanity_steps,
              "undefended": name == "baseline", "seed": cfg.seed, "version": 2}
    apgd_robust = None
    if cfg.sanity_n <= cfg.robust_n and cfg.apgd_steps and cfg.apgd_targets:
        # APGD-CE then APGD-T on the same images: the robust evaluation's first sanity_n images
        r = robust_eval(cfg, name)
        apgd_robust = torch.tensor(r["per_attack"]["apgd_t"]["per_image_robust"][:cfg.sanity_n])
        params["apgd"] = r["settings"]["apgd_t"]

    def build():
        x, y = test_data(cfg, cfg.sanity_n)
        return check_model(get_model(cfg.replace(force=False), name), x, y, cfg.otf_eps, steps=cfg.sanity_steps,
                           undefended=name == "baseline", seed=cfg.seed, apgd_robust=apgd_robust)

    return _cached_json(cfg, "sanity", "sanity", params, build)


def evaluate_models(cfg: Config, names) -> dict:
    """``{name: {"clean_acc", "n_images", "seeds", "robust_eval", "sanity"}}`` for each model: what a
    notebook records as its final numbers (``clean_acc`` on all 10,000 test images, one training seed);
    the baseline also gets ``seed_spread`` when ``cfg.baseline_seeds`` is set."""
    from advlab.core.inference import evaluate
    x, y = test_data(cfg)
    out = {}
    for name in names:
        out[name] = {"clean_acc": evaluate(get_model(cfg.replace(force=False), name), x, y), "n_images": len(x),
                     "seeds": [cfg.seed], "robust_eval": robust_eval(cfg, name), "sanity": model_sanity(cfg, name)}
        if name == "baseline" and cfg.baseline_seeds:
            out[name]["seed_spread"] = baseline_seed_spread(cfg)
    return out


def baseline_seed_spread(cfg: Config) -> dict:
    """The baseline trained with each seed of ``cfg.baseline_seeds`` (each cached like the seed-``cfg.seed``
    one, which is reused): ``{"seeds", "clean_acc" (one per seed, all 10,000 test images), "n_images"}``."""
    from advlab.core.inference import evaluate
    x, y = test_data(cfg)
    accs = [evaluate(get_model(cfg.replace(seed=int(s), force=False), "baseline"), x, y) for s in cfg.baseline_seeds]
    return {"seeds": [int(s) for s in cfg.baseline_seeds], "clean_acc": accs, "n_images": len(x)}


def attack_settings(cfg: Config) -> dict:
    return {
        "norm": "Linf", "pixel_range": [0, 1], "loss": "cross-entropy on logits", "model_mode": "eval",
        "fgsm": {"eps": cfg.sweep_epsilons, "n_images": cfg.n_test or 10000,
                 "gradient": "one per image, reused for every eps"},
        "pgd": {"eps": cfg.sweep_epsilons, "n_images": cfg.n_pgd_test, "steps": cfg.pgd_steps,
                "alpha": f"{cfg.pgd_alpha_factor} * eps / steps", "random_start": True,
                "restarts": cfg.pgd_restarts,
                "whitebox": "early stop: per sample, the first iterate that fools the model, else the highest-loss one",
                "transfer": "standard PGD on the baseline (all steps, final iterate), then shown to the model"},
        "combined_sets": {"benign": cfg.adv_n_train or 60000, "eps": cfg.adv_epsilons,
                          "pgd_steps": cfg.pgd_train_steps,
                          "size": (cfg.adv_n_train or 60000) * (1 + len(cfg.adv_epsilons)),
                          "crafted_on": "baseline (static adversarial training)"},
        "transfer": "examples crafted on the baseline with the same attack and eps",
    }


# --- results and figures ----------------------------------------------------------------------

def report_dir(cfg: Config) -> Path:
    return Path("report") / cfg.profile


def figures_dir(cfg: Config) -> Path:
    return Path("figures") / cfg.profile


def record(cfg: Config, notebook: str, results: dict) -> Path:
    """Save a notebook's numbers as ``report/<profile>/parts/<notebook>.json`` (the report merges them)."""
    p = report_dir(cfg) / "parts" / f"{notebook}.json"
    write_json(p, {"notebook": notebook, "config": cfg.as_dict(), "device": str(resolve_device(cfg.device)),
                   **results})
    return p
