"""What holds fast adversarial training back: one run of FGSM-from-a-random-start training with one
setting changed, PGD-40 accuracy (40 steps of 0.01, 1 restart, 1,000 test images, eps 0.3) printed
after every epoch.
Run by hand (time: docs/performance.md), never as a test:

    .venv/bin/python bench/fast_adv_ablation.py craft=eval                # the library's way: 75.6% after 6 epochs
    .venv/bin/python bench/fast_adv_ablation.py craft=train               # dropout and batch statistics in the attack:
                                                                          # 64.0%
    .venv/bin/python bench/fast_adv_ablation.py craft=eval dropout=0.0    # no dropout in the model at all: 71.0%
    .venv/bin/python bench/fast_adv_ablation.py craft=eval alpha=1.0      # step 1.0 eps instead of 1.25 eps: 78.2%

Settings (key=value): epochs, alpha (step / eps), eps, ramp (epochs of linear eps warm-up), craft
(eval | train: the model's mode while crafting), dropout, width, n (training images), lr, bs.
"""

import sys
import time
from pathlib import Path

import torch

import advlab
from advlab.core.attacks import input_gradient, pgd
from advlab.core.data import load_mnist, subset
from advlab.core.inference import predict
from advlab.core.models import BaselineCNN

DATA = Path(__file__).resolve().parents[1] / "data"
o = dict(epochs=6, alpha=1.25, eps=0.3, ramp=2.0, craft="eval", dropout=0.5, width=1, n=60000, lr=1e-3, bs=128)
for arg in sys.argv[1:]:
    key, _, value = arg.partition("=")
    if key not in o:
        sys.exit(f"unknown setting {key!r}: use one of {', '.join(o)}")
    o[key] = type(o[key])(value)
print(o, flush=True)

x, y = load_mnist(DATA)
x, y = x[: o["n"]], y[: o["n"]]
xt, yt = subset(*load_mnist(DATA, train=False), 1000, seed=1)
torch.manual_seed(0)
model = BaselineCNN(width=o["width"])
for m in model.modules():
    if isinstance(m, torch.nn.Dropout):
        m.p = o["dropout"]
n_batches = (len(x) + o["bs"] - 1) // o["bs"]
step = {"i": 0}


def adversary(net, xb, yb):
    """FGSM from a uniform random start, eps ramped linearly over the first `ramp` epochs."""
    eps = o["eps"] * min(1.0, step["i"] / max(1, o["ramp"] * n_batches)) if o["ramp"] > 0 else o["eps"]
    step["i"] += 1
    if o["craft"] == "eval":
        net.eval()  # fit() puts the model back in train mode for the step
    xa = (xb + torch.empty_like(xb).uniform_(-eps, eps)).clamp(0, 1)
    grad, _, _ = input_gradient(net, xa, yb)
    return (xb + (xa - xb + o["alpha"] * eps * grad.sign()).clamp(-eps, eps)).clamp(0, 1).detach()


def report(epoch, loss, seconds):
    x_adv = pgd(model, xt, yt, 0.3, 0.01, 40, True, 1, seed=0)  # Madry's PGD-40 of 0.01, one restart
    robust = (predict(model, x_adv) == yt).float().mean().item()
    print(
        f"epoch {epoch + 1} loss {loss:.3f} {seconds:.0f}s clean {advlab.evaluate(model, xt, yt):.4f} "
        f"pgd40 {robust:.3f}",
        flush=True,
    )


start = time.time()
advlab.fit(
    model, x, y, o["epochs"], batch_size=o["bs"], lr=o["lr"], adversary=adversary, on_epoch_end=report, progress=False
)
print(f"total {time.time() - start:.0f} s")
