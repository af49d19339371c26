"""Does the quick baseline's clean accuracy hinge on a lucky seed? Trains the baseline exactly as
``pipeline.get_model(cfg, "baseline")`` does (same data, initialisation and training seed) for seeds
0, 1, 2 and prints its accuracy on all 10,000 test images after every epoch (the model after epoch k
of this run is the model a k-epoch run would save: nothing in training depends on the total).
Run by hand (time per epoch: docs/performance.md), never as a test:

    .venv/bin/python bench/baseline_seeds.py            # seeds 0 1 2, 8 epochs
    .venv/bin/python bench/baseline_seeds.py 6 0 1 2    # epochs, then seeds

Measured on this project's 2-core machine under heavy load, one process per seed with
OMP_NUM_THREADS=1 (a 2-thread run sums in another order: epoch-1 loss 0.4033 instead of 0.4061 for
seed 0, so its accuracies differ by a few tenths):

    epoch   seed 0   seed 1   seed 2
      4     98.69%   98.96%   98.66%
      5     98.87%   98.95%   98.58%
      6     98.88%   98.76%   98.89%    <- the quick profile's epochs
"""

import sys
import time

import torch

import advlab
from advlab.core.models import BaselineCNN
from advlab.course import pipeline
from advlab.course.profiles import config

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
seeds = [int(s) for s in sys.argv[2:]] or [0, 1, 2]
pipeline.chdir_root()
table = {}
for seed in seeds:
    cfg = config("quick", seed=seed, epochs=epochs, device="cpu")
    x, y = pipeline.train_data(cfg)
    xt, yt = pipeline.test_data(cfg)
    torch.manual_seed(cfg.seed)  # as pipeline.get_model does for the baseline
    model = BaselineCNN()
    accs = []

    def after(epoch, loss, seconds):
        accs.append(advlab.evaluate(model, xt, yt))
        print(
            f"seed {seed} epoch {epoch + 1}: loss {loss:.4f}, clean accuracy {100 * accs[-1]:.2f}% ({seconds:.1f} s)",
            flush=True,
        )

    start = time.perf_counter()
    advlab.fit(
        model, x, y, epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, on_epoch_end=after, progress=False
    )
    table[seed] = accs
print("epoch  " + "  ".join(f"seed {s}" for s in seeds))
for e in range(epochs):
    print(f"{e + 1:5d}  " + "  ".join(f"{100 * table[s][e]:5.2f}%" for s in seeds))
