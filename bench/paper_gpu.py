"""Time the `paper` profile's stages on a GPU and extrapolate the whole run (used on a lent GPU
machine that has PyTorch but no Jupyter stack: it calls the library directly, not the notebooks).

    PYTHONPATH=lib python bench/paper_gpu.py --out results.json [--budget 420]

Runs, in order and while the time budget lasts: the baseline (50 epochs on 60k), the FGSM combined
set (360k), 2 epochs of fine-tuning on it (timed per epoch), the PGD-40 combined set, and the
baseline's FGSM and PGD-40 curves on the full test set. Prints and writes a JSON of stage times,
accuracies and the extrapolated time of the full profile.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

os.environ.setdefault("ADVLAB_PROGRESS", "0")

from advlab import evaluate, fit  # noqa: E402
from advlab.course import curves, pipeline, profiles  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="paper_gpu.json")
    ap.add_argument("--budget", type=float, default=420, help="seconds; later stages are skipped past it")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    start = time.perf_counter()
    cfg = profiles.config("paper", device=args.device)
    device = pipeline.resolve_device(cfg.device)
    r = {
        "device": str(device),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "torch": torch.__version__,
        "stages": {},
    }

    def stage(name, fn):
        if time.perf_counter() - start > args.budget:
            r["stages"][name] = "skipped (time budget)"
            return None
        t = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        r["stages"][name] = round(time.perf_counter() - t, 2)
        print(f"{name}: {r['stages'][name]} s", flush=True)
        with open(args.out, "w") as f:
            json.dump(r, f, indent=2)
        return out

    x_test, y_test = pipeline.test_data(cfg)
    base = stage("baseline_50_epochs", lambda: pipeline.get_model(cfg, "baseline"))
    if base is not None:
        r["baseline_clean_acc"] = evaluate(base, x_test, y_test)
        r["baseline_losses_first_last"] = [pipeline.model_info(cfg, "baseline")["losses"][i] for i in (0, -1)]
    xs = stage("fgsm_combined_set_360k", lambda: pipeline.adversarial_set(cfg, "fgsm"))
    if xs is not None and base is not None:
        import copy

        model = copy.deepcopy(base)
        epoch_times = []
        stage(
            "fgsm_retrain_2_epochs",
            lambda: fit(model, xs[0], xs[1], 2, seed=0, on_epoch_end=lambda e, loss, s: epoch_times.append(s)),
        )
        r["epoch_seconds_on_360k"] = epoch_times
        r["fgsm_retrained_2_epochs_clean_acc"] = evaluate(model, x_test, y_test)
    stage("pgd40_combined_set_360k", lambda: pipeline.adversarial_set(cfg, "pgd"))
    c1 = stage("fgsm_curve_baseline_10k", lambda: curves.curve(cfg, "baseline", "fgsm", "whitebox"))
    c2 = stage("pgd40_curve_baseline_10k", lambda: curves.curve(cfg, "baseline", "pgd", "whitebox"))
    r["curves"] = [c for c in (c1, c2) if c]
    s = r["stages"]
    if isinstance(s.get("baseline_50_epochs"), float) and r.get("epoch_seconds_on_360k"):
        epoch = min(r["epoch_seconds_on_360k"])
        sets = sum(v for k, v in s.items() if "combined_set" in k and isinstance(v, float))
        r["paper_estimate_seconds"] = {
            "training": s["baseline_50_epochs"] + 4 * 50 * epoch,
            "combined_sets": sets,
            "note": "plus evaluation curves for 5 models x 2 attacks x 2 threats, and notebook overhead",
        }
    with open(args.out, "w") as f:
        json.dump(r, f, indent=2)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
