"""Independent cross-check of the robust evaluation: our per-image worst case (robust.robust_eval with
the profile's settings) against torchattacks.AutoAttack (version "standard": APGD-CE, APGD-T, FAB-T,
Square) on the same test images of an on-the-fly model. Slow (AutoAttack's Square attack runs 5,000
queries per surviving image): minutes on a CPU.

    python bench/autoattack_check.py                     # fast_adv of the quick profile, 200 images
    python bench/autoattack_check.py --n 500 --model fast_adv --profile quick

Writes bench/autoattack.json and prints both accuracies with 95% Wilson intervals; the issue's bar is
our worst case within 2 points of AutoAttack's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from advlab import pipeline, robust  # noqa: E402
from advlab.evaluation import predict  # noqa: E402
from advlab.io import write_json  # noqa: E402
from advlab.profiles import config  # noqa: E402
from advlab.stats import wilson  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fast_adv")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=200, help="test images (the evaluation's first n)")
    ap.add_argument("--checkpoint", default=None, help="a saved model to use instead of the pipeline's")
    args = ap.parse_args(argv)
    import os
    os.chdir(ROOT)
    import torchattacks

    cfg = config(args.profile)
    if args.checkpoint:
        from advlab import load_model
        model = load_model(args.checkpoint, device="cpu").eval()
    else:
        model = pipeline.get_model(cfg, args.model).eval()
    x, y = pipeline.test_data(cfg, args.n)
    eps = cfg.otf_eps

    start = time.perf_counter()
    ours = robust.robust_eval(model, x, y, eps, pipeline.robust_settings(cfg), seed=cfg.seed)
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    aa = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=cfg.seed)
    theirs = predict(model, aa(x, y)) == y
    t_theirs = time.perf_counter() - start

    ours_mask = torch.tensor(ours["per_image_robust"])
    k_ours, k_theirs = int(ours_mask.sum()), int(theirs.sum())
    out = {"model": args.checkpoint or pipeline.model_key(cfg, args.model), "profile": args.profile,
           "n_images": args.n, "eps": eps, "evaluation": ours["evaluation"],
           "ours_robust_acc": k_ours / args.n, "ours_ci95": wilson(k_ours, args.n), "ours_seconds": t_ours,
           "ours_per_attack": {a: v["acc"] for a, v in ours["per_attack"].items()},
           "autoattack_robust_acc": k_theirs / args.n, "autoattack_ci95": wilson(k_theirs, args.n),
           "autoattack_seconds": t_theirs,
           "robust_for_us_not_for_autoattack": int((ours_mask & ~theirs).sum()),
           "robust_for_autoattack_not_for_us": int((~ours_mask & theirs).sum()),
           "within_2_points": k_ours / args.n <= k_theirs / args.n + 0.02}
    write_json(ROOT / "bench" / "autoattack.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
