"""The frontier of on-the-fly adversarial training: training time against robust accuracy under
torchattacks' APGD-CE followed by APGD-T on the survivors (the report's acceptance measure), one row
per method and setting. Every run trains the quick profile's on-the-fly model (same data: 59.5k
training images, 500 held out for the catastrophic-overfitting guard; same initialisation and seed)
with ``advlab.core.adversarial_training.train_on_the_fly``, then evaluates it at eps 0.3 on the robust evaluation's
images (the first ``--n`` of the seeded test shuffle):

- clean accuracy on all 10,000 test images;
- PGD-40 (Madry's: 40 steps of 0.01, one random start);
- torchattacks 3.5.1 APGD (cross-entropy, 100 steps), then APGDT (targeted DLR, 100 steps, 9 target
  classes) on the images APGD did not fool; an image counts if it survives both;
- a 95% Wilson interval for each.

Results are merged into bench/otf_frontier.json (one entry per run name). The weights after every
epoch go to artifacts/otf_frontier/: training is the same up to epoch k whatever the number of epochs
(same seed, the eps ramp ends earlier, constant learning rate), so ``NAME@k`` evaluates the first k
epochs of run NAME as a run of its own, without training it again (``--eval-only``).
Run by hand, never as a test:

    python bench/otf_frontier.py --list                      # the runs and their settings
    python bench/otf_frontier.py pgd3_a0.1_e7                # train, then evaluate (minutes to hours)
    python bench/otf_frontier.py pgd3_a0.1_e7@5 --eval-only  # its first 5 epochs, evaluated
    python bench/otf_frontier.py pgd2_a0.15_e6 --train-only  # train only; evaluate NAME@k later

Training time: ``fit_seconds`` is fit's own wall time (epochs only; the guard's checks are
``guard_seconds``); ``cpu_seconds`` is the process's CPU time for the whole training. With
``--threads 1`` (the default) the CPU time is close to the wall time the run would take alone on one
core, so it does not depend on what else the machine runs; ``loadavg`` records how loaded it was.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
os.chdir(ROOT)
os.environ.setdefault("ADVLAB_PROGRESS", "0")

from advlab.core import adversarial_training  # noqa: E402
from advlab.core.adversarial_training import train_on_the_fly  # noqa: E402
from advlab.core.attacks import pgd  # noqa: E402
from advlab.core.inference import evaluate, predict  # noqa: E402
from advlab.core.io import write_json  # noqa: E402
from advlab.core.models import BaselineCNN  # noqa: E402
from advlab.course import pipeline, profiles  # noqa: E402
from advlab.evaluation.stats import wilson  # noqa: E402

OUT = ROOT / "bench" / "otf_frontier.json"
WEIGHTS = ROOT / "artifacts" / "otf_frontier"
EPS = 0.3

# name -> train_on_the_fly settings (method, epochs, and its keyword arguments); width is the model's.
RUNS = {
    "fgsm_rs_a1.25_e8": dict(method="fgsm_rs", epochs=8, alpha_factor=1.25, ramp_epochs=2.0),
    "fgsm_rs_a1.0_e8": dict(method="fgsm_rs", epochs=8, alpha_factor=1.0, ramp_epochs=2.0),
    "n_fgsm_k2_a1.0_e8": dict(method="n_fgsm", epochs=8, alpha_factor=1.0, noise_factor=2.0, ramp_epochs=2.0),
    "pgd2_a0.15_e8": dict(method="pgd", epochs=8, steps=2, pgd_alpha=0.15, ramp_epochs=2.0),
    "pgd2_a0.15_e6": dict(method="pgd", epochs=6, steps=2, pgd_alpha=0.15, ramp_epochs=2.0),
    "fgsm_rs_a1.25_e5": dict(method="fgsm_rs", epochs=5, alpha_factor=1.25, ramp_epochs=2.0),
    "pgd3_a0.1_e5": dict(method="pgd", epochs=5, steps=3, pgd_alpha=0.1, ramp_epochs=2.0),
    "pgd3_a0.1_e7": dict(method="pgd", epochs=7, steps=3, pgd_alpha=0.1, ramp_epochs=2.0),
    "pgd5_a0.075_e5": dict(method="pgd", epochs=5, steps=5, pgd_alpha=0.075, ramp_epochs=2.0),
    "pgd3_a0.1_e5_w2": dict(method="pgd", epochs=5, steps=3, pgd_alpha=0.1, ramp_epochs=2.0, width=2),
    # starting from the quick profile's baseline weights (01) instead of a fresh initialisation
    "pgd3_a0.1_e3_base_r1": dict(method="pgd", epochs=3, steps=3, pgd_alpha=0.1, ramp_epochs=1.0, init="baseline"),
}


def passes(settings: dict, history: dict) -> int:
    """Training cost in forward-backward passes over the training set: per batch the attack's gradient
    steps plus the training step, times the epochs actually trained (a rolled-back epoch was paid for)."""
    return len(history["epochs"]) * ((settings.get("steps", 40) if settings["method"] == "pgd" else 1) + 1)


def rate(mask: torch.Tensor) -> dict:
    k, n = int(mask.sum()), len(mask)
    return {"acc": k / n, "n_images": n, "wilson95": list(wilson(k, n))}


def train(name: str, cfg) -> tuple[torch.nn.Module, dict]:
    s = dict(RUNS[name])
    method, epochs, width, init = s.pop("method"), s.pop("epochs"), s.pop("width", 1), s.pop("init", None)
    (x, y), guard = pipeline.on_the_fly_data(cfg)
    torch.manual_seed(cfg.seed + 2)  # as pipeline._train_on_the_fly
    model = BaselineCNN(width=width)
    if init == "baseline":  # the quick profile's baseline (trained, or from the cache)
        model.load_state_dict(pipeline.get_model(cfg, "baseline").state_dict())
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    marks = [(time.process_time(), time.perf_counter())]
    check = adversarial_training.guard_accuracy

    def snapshot_then_check(net, *args, **kwargs):
        """The guard's check runs after every epoch: keep the weights and the CPU time so far first."""
        marks.append((time.process_time(), time.perf_counter()))
        torch.save({"state_dict": net.state_dict(), "width": width}, WEIGHTS / f"{name}@{len(marks) - 1}.pt")
        return check(net, *args, **kwargs)

    load = os.getloadavg()[0]
    adversarial_training.guard_accuracy = snapshot_then_check
    try:
        history = train_on_the_fly(
            model,
            x,
            y,
            method,
            EPS,
            epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            seed=cfg.seed,
            guard=guard,
            guard_steps=cfg.guard_steps,
            guard_apgd_steps=cfg.guard_apgd_steps,
            guard_drop=cfg.guard_drop,
            progress=True,
            desc=name,
            **s,
        )
    finally:
        adversarial_training.guard_accuracy = check
    timing = {
        "fit_seconds": sum(r["seconds"] for r in history["epochs"]),
        "guard_seconds": sum(r.get("guard_seconds", 0.0) for r in history["epochs"]),
        "wall_seconds": time.perf_counter() - marks[0][1],
        "cpu_seconds": time.process_time() - marks[0][0],
        "cpu_seconds_at_epoch_end": [m[0] - marks[0][0] for m in marks[1:]],
        "loadavg_1min": [load, os.getloadavg()[0]],
    }
    torch.save(
        {"state_dict": model.state_dict(), "width": width, "history": history, "timing": timing}, WEIGHTS / f"{name}.pt"
    )
    return model, {"history": history, **timing}


def first_epochs(name: str, k: int) -> tuple[torch.nn.Module, dict]:
    """Run NAME after its first k epochs, with the timing of those epochs (NAME must have been trained)."""
    saved = torch.load(WEIGHTS / f"{name}.pt", weights_only=False)
    model = BaselineCNN(width=saved["width"])
    model.load_state_dict(torch.load(WEIGHTS / f"{name}@{k}.pt", weights_only=False)["state_dict"])
    h, t = saved["history"], saved["timing"]
    if h["stopped"] or k > len(h["epochs"]):
        sys.exit(f"{name} has no clean epoch {k} (it ran {len(h['epochs'])}, stopped: {h['stopped']})")
    rows = h["epochs"][:k]
    history = {**h, "epochs": rows, "final_epoch": k}
    timing = {
        "fit_seconds": sum(r["seconds"] for r in rows),
        "guard_seconds": sum(r.get("guard_seconds", 0.0) for r in rows),
        "cpu_seconds": t["cpu_seconds_at_epoch_end"][k - 1],
        "loadavg_1min": t["loadavg_1min"],
        "first_epochs_of": name,
    }
    return model, {"history": history, **timing}


def apgd_ce_then_t(model, x, y, seed: int = 0) -> torch.Tensor:
    """Per image: correct clean, under torchattacks' APGD-CE, and under APGD-T on APGD-CE's survivors."""
    import torchattacks

    model.eval()
    ok = predict(model, x) == y
    idx = ok.nonzero().squeeze(1)
    x_adv = torchattacks.APGD(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, loss="ce", seed=seed)(
        x[idx], y[idx]
    )
    ok[idx] = predict(model, x_adv) == y[idx]
    idx = ok.nonzero().squeeze(1)
    x_adv = torchattacks.APGDT(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, n_classes=10, seed=seed)(
        x[idx], y[idx]
    )
    ok[idx] = predict(model, x_adv) == y[idx]
    return ok


def evaluate_run(model, cfg, n: int) -> dict:
    model.eval()
    x_all, y_all = pipeline.test_data(cfg)
    x, y = pipeline.test_data(cfg, n)
    start = time.perf_counter()
    pgd40 = predict(model, pgd(model, x, y, EPS, 0.01, 40, True, 1, seed=cfg.seed)) == y
    apgd = apgd_ce_then_t(model, x, y, seed=cfg.seed)
    return {
        "clean_acc": evaluate(model, x_all, y_all),
        "clean_n_images": len(x_all),
        "pgd40": rate(pgd40),
        "apgd_ce_t": rate(apgd),
        "eval_seconds": time.perf_counter() - start,
    }


def merge(name: str, entry: dict) -> None:
    """Read-modify-write bench/otf_frontier.json under a lock (several runs may finish at once)."""
    with open(OUT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(OUT.read_text()) if OUT.exists() else {"runs": {}}
        data["about"] = (
            "on-the-fly adversarial training at eps 0.3, quick profile data; measured with bench/otf_frontier.py"
        )
        data["runs"][name] = entry
        write_json(OUT, data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="run names (see --list)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--n", type=int, default=1000, help="test images of the robust evaluation (default 1000)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: see the docstring)")
    ap.add_argument("--eval-only", action="store_true", help="re-evaluate saved weights instead of training")
    ap.add_argument(
        "--train-only",
        action="store_true",
        help="train and save the weights of every epoch; evaluate later with NAME@k --eval-only",
    )
    args = ap.parse_args()
    if args.list or not args.runs:
        for name, s in RUNS.items():
            print(f"{name:>22}: {s}")
        return
    unknown = [r for r in args.runs if r.partition("@")[0] not in RUNS]
    if unknown:
        sys.exit(f"unknown run(s) {unknown}: see --list")
    torch.set_num_threads(args.threads)
    cfg = profiles.config("quick", device="cpu")
    for name in args.runs:
        base, _, k = name.partition("@")
        settings = dict(RUNS[base], **({"epochs": int(k)} if k else {}))
        if k:
            model, trained = first_epochs(base, int(k))
        elif args.eval_only:
            saved = torch.load(WEIGHTS / f"{name}.pt", weights_only=False)
            model = BaselineCNN(width=saved["width"])
            model.load_state_dict(saved["state_dict"])
            trained = {"history": saved["history"], **saved["timing"]}
        else:
            model, trained = train(name, cfg)
        print(f"{name}: trained, fit {trained['fit_seconds']:.0f} s, cpu {trained['cpu_seconds']:.0f} s", flush=True)
        if args.train_only:
            continue
        result = evaluate_run(model, cfg, args.n)
        entry = {
            "settings": settings,
            "passes": passes(settings, trained["history"]),
            **trained,
            **result,
            "threads": args.threads,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "torch": torch.__version__,
            "command": f"python bench/otf_frontier.py {name} --n {args.n} --threads {args.threads}",
        }
        merge(name, entry)
        print(
            f"{name}: clean {100 * result['clean_acc']:.2f}%  PGD-40 {100 * result['pgd40']['acc']:.1f}%  "
            f"APGD-CE+T {100 * result['apgd_ce_t']['acc']:.1f}% on {args.n} images",
            flush=True,
        )


if __name__ == "__main__":
    main()
