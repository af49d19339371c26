"""AdvLab benchmarks: how fast the library is against what a user would otherwise write.

Every comparison runs in this one process, on the same model weights and the same data, and is
reported as a ratio (absolute times on a shared machine are noisy; ratios are what we quote). Each
timing is the best of ``--repeat`` runs. Writes bench/results.json and prints a Markdown table.

    make bench                          # everything (how long: docs/performance.md)
    python bench/run.py --skip-e2e      # only the in-process comparisons
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
os.chdir(ROOT)
os.environ.setdefault("ADVLAB_PROGRESS", "0")

import advlab  # noqa: E402
from advlab.core.attacks import fgsm_sweep, input_gradient, pgd  # noqa: E402
from advlab.core.data import load_mnist, subset  # noqa: E402
from advlab.core.inference import predict  # noqa: E402
from advlab.core.models import BaselineCNN  # noqa: E402

EPS10 = [i / 10 for i in range(10)]


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def trained_models():
    """A BaselineCNN trained 1 epoch on 20k images, as the fast model and as the plain eager model."""
    x, y = subset(*load_mnist("data", train=True), 20000, seed=0)
    torch.manual_seed(0)
    fast = BaselineCNN()
    advlab.fit(fast, x, y, epochs=1, seed=0, progress=False)
    plain = BaselineCNN(fast=False)
    plain.load_state_dict(fast.state_dict())
    return fast.eval(), plain.eval()


def bench_fgsm(model, plain, x, y, repeat, seed_images):
    import torchattacks

    def ours():
        return fgsm_sweep(model, x, y, EPS10, batch_size=1000)

    def theirs():
        accs = []
        for eps in EPS10:
            correct = 0
            for s in range(0, len(x), 1000):
                xb, yb = x[s : s + 1000], y[s : s + 1000]
                adv = torchattacks.FGSM(model, eps=eps)(xb, yb)
                with torch.no_grad():
                    correct += (model(adv).argmax(1) == yb).sum().item()
            accs.append(correct / len(x))
        return accs

    def seed_loop():  # the seed's (PyTorch tutorial's) loop: batch size 1, one attack per eps
        xs, ys = x[:seed_images], y[:seed_images]
        for eps in EPS10:
            for i in range(len(xs)):
                xi = xs[i : i + 1].clone().requires_grad_(True)
                out = model(xi)
                loss = F.nll_loss(F.log_softmax(out, 1), ys[i : i + 1])
                model.zero_grad()
                loss.backward()
                adv = (xi + eps * xi.grad.sign()).clamp(0, 1)
                model(adv).argmax(1)

    t_ours, acc_ours = best_time(ours, repeat)
    t_theirs, acc_theirs = best_time(theirs, repeat)
    fast_model, model = model, plain  # torchattacks as a user with the literal seed model runs it
    t_theirs_plain, _ = best_time(theirs, 1)
    model = fast_model
    t_seed, _ = best_time(seed_loop, 1)
    t_seed_full = t_seed * len(x) / seed_images
    model.zero_grad(set_to_none=True)
    return {
        "n_images": len(x),
        "epsilons": EPS10,
        "advlab_s": t_ours,
        "torchattacks_s": t_theirs,
        "torchattacks_plain_eager_model_s": t_theirs_plain,
        "speedup_vs_torchattacks_plain_eager_model": t_theirs_plain / t_ours,
        "seed_loop_s_extrapolated": t_seed_full,
        "seed_loop_measured_on": seed_images,
        "speedup_vs_torchattacks": t_theirs / t_ours,
        "speedup_vs_seed_loop": t_seed_full / t_ours,
        "max_acc_difference": max(abs(a - b) for a, b in zip(acc_ours, acc_theirs)),
        "acc_advlab": acc_ours,
    }


def bench_pgd(model, x, y, repeat):
    import torchattacks

    eps, alpha, steps = 0.3, 0.01, 40

    def theirs():
        torch.manual_seed(0)
        atk = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
        return torch.cat([atk(x[s : s + 1000], y[s : s + 1000]) for s in range(0, len(x), 1000)])

    t_theirs, adv_theirs = best_time(theirs, repeat)
    t_ours, adv_ours = best_time(lambda: pgd(model, x, y, eps, alpha, steps, seed=0), repeat)
    t_std, adv_std = best_time(lambda: pgd(model, x, y, eps, alpha, steps, seed=0, early_stop=False), repeat)

    def acc(a):
        return (predict(model, a) == y).float().mean().item()

    return {
        "n_images": len(x),
        "eps": eps,
        "alpha": alpha,
        "steps": steps,
        "advlab_s": t_ours,
        "advlab_no_early_stop_s": t_std,
        "torchattacks_s": t_theirs,
        "speedup_vs_torchattacks": t_theirs / t_ours,
        "speedup_no_early_stop": t_theirs / t_std,
        "robust_acc_advlab": acc(adv_ours),
        "robust_acc_advlab_no_early_stop": acc(adv_std),
        "robust_acc_torchattacks": acc(adv_theirs),
    }


@functools.lru_cache(maxsize=1)
def robust_model():
    """A briefly adversarially trained BaselineCNN (FGSM from a random start, eps 0.3, 2 epochs on 10k
    images): attacks must work on it, so early stopping helps less than on an undefended model."""
    from advlab.core.adversarial_training import train_on_the_fly

    x, y = subset(*load_mnist("data", train=True), 10000, seed=0)
    torch.manual_seed(0)
    model = BaselineCNN()
    train_on_the_fly(model, x, y, "fgsm_rs", 0.3, 2, ramp_epochs=1, seed=0, progress=False)
    return model.eval()


def bench_apgd(model, x, y, repeat, eps=0.3, steps=100):
    """APGD-CE and APGD-T (9 targets, on APGD-CE's survivors, as AutoAttack runs them) against
    torchattacks' APGD and APGDT, same steps, same model and images."""
    import torchattacks

    from advlab.core.attacks import apgd

    def correct(a, yy):
        return predict(model, a) == yy

    def theirs_ce(xx, yy):
        return torchattacks.APGD(model, eps=eps, steps=steps, seed=0)(xx, yy)

    def theirs_t(xx, yy):
        return torchattacks.APGDT(model, eps=eps, steps=steps, seed=0, n_classes=10)(xx, yy)

    res = {"n_images": len(x), "eps": eps, "steps": steps}
    for who, ce, t in (
        (
            "advlab",
            lambda xx, yy: apgd(model, xx, yy, eps, steps, seed=0),
            lambda xx, yy: apgd(model, xx, yy, eps, steps, "dlr", targeted=True, seed=0),
        ),
        ("torchattacks", theirs_ce, theirs_t),
    ):
        t_ce, adv = best_time(lambda: ce(x, y), repeat)
        ok = correct(adv, y)
        idx = ok.nonzero().squeeze(1)
        t_t, adv_t = best_time(lambda: t(x[idx], y[idx]), repeat)
        ok[idx] = correct(adv_t, y[idx])
        res[who] = {
            "apgd_ce_s": t_ce,
            "apgd_ce_acc": correct(adv, y).float().mean().item(),
            "apgd_t_s": t_t,
            "apgd_ce_then_t_acc": ok.float().mean().item(),
        }
    res["speedup_apgd_ce"] = res["torchattacks"]["apgd_ce_s"] / res["advlab"]["apgd_ce_s"]
    res["speedup_apgd_t"] = res["torchattacks"]["apgd_t_s"] / res["advlab"]["apgd_t_s"]
    return res


def bench_batch(model, x, y, repeat, sizes=(64, 128, 256, 512, 1000), steps=10):
    """Microseconds per image and PGD step at each attack batch size (same model, images and seed):
    what ``evaluation.CPU_BATCH`` is chosen from. Sizes alternate within each repeat, so a slow
    moment of a shared machine does not land on one size; the median of the repeats is kept."""
    import statistics

    times = {b: [] for b in sizes}
    for _ in range(max(repeat, 3)):
        for b in sizes:
            start = time.perf_counter()
            pgd(model, x, y, 0.3, 0.075, steps, seed=0, early_stop=False, batch_size=b)
            times[b].append((time.perf_counter() - start) / (len(x) * steps) * 1e6)
    per = {str(b): statistics.median(v) for b, v in times.items()}
    return {
        "n_images": len(x),
        "steps": steps,
        "us_per_image_step": per,
        "fastest": min(per, key=per.get),
        "threads": torch.get_num_threads(),
    }


ALLOCATOR_CHILD = """
import time, torch
import advlab, advlab.core.allocator as a
from advlab.core.adversarial_training import OnTheFly
torch.manual_seed(0)
m = advlab.BaselineCNN()
x, y = torch.rand(128 * 40, 1, 28, 28), torch.randint(0, 10, (128 * 40,))
adv = OnTheFly("pgd", 0.3, n_batches=40, steps=3, pgd_alpha=0.1, seed=0)
advlab.fit(m, x[:128 * 5], y[:128 * 5], adversary=adv, progress=False)        # warm-up: 5 batches
start = time.perf_counter()
advlab.fit(m, x[128 * 5:], y[128 * 5:], adversary=adv, progress=False)        # timed: 35 batches
print(a._applied, (time.perf_counter() - start) / 35)
"""


def bench_allocator(repeat):
    """A PGD-3 training step (batch 128) with advlab's malloc setting and with glibc's defaults
    (``ADVLAB_MALLOC=default``), each in a fresh process, alternating; medians of the repeats."""
    import statistics

    times = {"advlab": [], "glibc_default": []}
    for _ in range(max(repeat, 3)):
        for name in times:
            env = {**os.environ, "ADVLAB_MALLOC": "default" if name == "glibc_default" else ""}
            out = subprocess.run(
                [sys.executable, "-c", ALLOCATOR_CHILD], env=env, capture_output=True, text=True, check=True
            ).stdout.split()
            if (out[0] == "True") != (name == "advlab"):
                raise RuntimeError(f"allocator setting not as expected in the {name} run: {out}")
            times[name].append(float(out[1]))
    per = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {
        "ms_per_batch": per,
        "speedup": per["glibc_default"] / per["advlab"],
        "batch_size": 128,
        "attack": "PGD-3",
        "threads": torch.get_num_threads(),
    }


def bench_training(n_batches, repeat):
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    x, y = load_mnist("data", train=True)
    n = n_batches * 128

    def fit_ours(fast=True):
        torch.manual_seed(0)
        model = BaselineCNN(fast=fast)
        advlab.fit(model, x[:n], y[:n], epochs=1, seed=0, progress=False)

    def dataloader_loop(fast=False):
        torch.manual_seed(0)
        model = BaselineCNN(fast=fast)
        ds = Subset(datasets.MNIST("data", train=True, transform=transforms.ToTensor()), range(n))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        for xb, yb in DataLoader(ds, batch_size=128, shuffle=True):
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    t_ours, _ = best_time(fit_ours, repeat)
    t_loader, _ = best_time(dataloader_loop, repeat)
    t_ours_plain, _ = best_time(lambda: fit_ours(fast=False), repeat)
    t_loader_fast, _ = best_time(lambda: dataloader_loop(fast=True), repeat)
    return {
        "samples": n,
        "batch_size": 128,
        "advlab_fit_samples_per_s": n / t_ours,
        "dataloader_loop_samples_per_s": n / t_loader,
        "speedup": t_loader / t_ours,
        "in_memory_only_speedup (plain model)": t_loader / t_ours_plain,
        "fast_model_only_speedup (DataLoader)": t_loader / t_loader_fast,
    }


def bench_throughput(fast, plain, repeat, bf16=False):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1000, 1, 28, 28)
    y = torch.randint(0, 10, (1000,))
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            plain(x[:1])
    flops_per_image = counter.get_total_flops()

    def fwd(model):
        with torch.inference_mode():
            model(x)

    def grad(model):
        input_gradient(model, x, y)

    out = {"flops_forward_per_image": flops_per_image, "batch": len(x)}
    for name, fn in (("forward", fwd), ("input_gradient", grad)):
        fn(fast), fn(plain)  # warm-up
        t_fast, _ = best_time(lambda: fn(fast), repeat + 2)
        t_plain, _ = best_time(lambda: fn(plain), repeat + 2)
        factor = 1 if name == "forward" else 2  # backward to the input costs about one more forward
        out[name] = {
            "advlab_images_per_s": len(x) / t_fast,
            "plain_eager_images_per_s": len(x) / t_plain,
            "speedup": t_plain / t_fast,
            "advlab_gflops": factor * flops_per_image * len(x) / t_fast / 1e9,
            "plain_eager_gflops": factor * flops_per_image * len(x) / t_plain / 1e9,
        }
    if bf16:  # changes results: reported separately, never used by default

        def fwd_bf16():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                fast(x)

        fwd_bf16()
        t, _ = best_time(fwd_bf16, repeat + 2)
        out["forward_bf16_images_per_s (option, changes results)"] = len(x) / t
    return out


def bench_profile(n_batches):
    """Where the time goes, for the two targets that are hard to reach (measured, not asserted).

    FGSM: torchattacks runs a forward+backward per eps on the same model; the sweep runs one
    gradient and a forward per further eps, so its best possible ratio over torchattacks is
    n_eps * (g + f) / (g + (n_eps - 1) * f) for a gradient pass g and a forward pass f.
    Training: the reference loop's time splits into data loading D and a plain model step P; ours is
    a fast model step S. The ratio is (D + P) / S; torch.profiler says which operators fill S."""
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    xt, yt = load_mnist("data", train=False)
    x, y = xt[:2000], yt[:2000]
    torch.manual_seed(0)
    model = BaselineCNN().eval()
    for fn in (lambda: predict(model, x), lambda: input_gradient(model, x, y)):
        fn()
    f, _ = best_time(lambda: predict(model, x), 3)
    g, _ = best_time(lambda: input_gradient(model, x, y), 3)
    n_eps = len(EPS10)
    fgsm = {
        "forward_s_per_2000": f,
        "gradient_s_per_2000": g,
        "bound_vs_torchattacks_same_model": n_eps * (g + f) / (g + (n_eps - 1) * f),
    }

    xtr, ytr = load_mnist("data", train=True)
    n = n_batches * 128

    def steps(m, batches):
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        m.train()
        for xb, yb in batches:
            loss = F.cross_entropy(m(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    mem = [(xtr[i : i + 128], ytr[i : i + 128]) for i in range(0, n, 128)]
    ds = Subset(datasets.MNIST("data", train=True, transform=transforms.ToTensor()), range(n))
    loader_s, _ = best_time(lambda: [None for _ in DataLoader(ds, batch_size=128, shuffle=True)], 2)
    plain_s, _ = best_time(lambda: steps(BaselineCNN(fast=False), mem), 2)
    fast_s, _ = best_time(lambda: steps(BaselineCNN(), mem), 2)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        steps(BaselineCNN(), mem)
    groups = {
        "convolution backward": ("convolution_backward",),
        "convolution forward": ("mkldnn_convolution", "convolution_overrideable", "_convolution"),
        "max-pooling fwd+bwd": ("max_pool2d",),
        "batch norm fwd+bwd": ("batch_norm",),
        "linear (matmul) fwd+bwd": ("addmm", "mm"),
        "Adam update": ("_foreach", "adam"),
        "dropout, ReLU, loss, rest": (),
    }
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    shares = dict.fromkeys(groups, 0.0)
    for e in prof.key_averages():
        name = next((g for g, keys in groups.items() if any(k in e.key for k in keys)), "dropout, ReLU, loss, rest")
        shares[name] += e.self_cpu_time_total / total
    flops = 3 * 4333056 * n  # forward + backward (input and weight gradients) ~ 3 forwards
    return {
        "fgsm": fgsm,
        "training": {
            "samples": n,
            "dataloader_only_s": loader_s,
            "plain_step_s": plain_s,
            "fast_step_s": fast_s,
            "bound_ratio_(D+P)/S": (loader_s + plain_s) / fast_s,
            "fast_step_gflops": flops / fast_s / 1e9,
            "fast_step_shares": shares,
        },
    }


def run_e2e(profile):
    """Wall time and peak RSS of `run_all.py --profile <profile>` from an empty artifact cache."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ADVLAB_ARTIFACTS=tmp)
        script = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            f"rc = subprocess.call([sys.executable, 'run_all.py', '--profile', '{profile}'], "
            "stdout=subprocess.DEVNULL); "
            "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT)
        rc, seconds, maxrss_kb = out.stdout.split()[-3:]
    return {"returncode": int(rc), "seconds": float(seconds), "peak_rss_mb": int(maxrss_kb) / 1024}


def measure_set_memory():
    """Peak RSS of building the paper profile's FGSM combined set (60k -> 360k images) here."""
    script = (
        "import resource, torch, advlab; from advlab.core.data import load_mnist\n"
        "from advlab.course.pipeline import combined_set\n"
        "x, y = load_mnist('data'); torch.manual_seed(0); m = advlab.BaselineCNN().eval()\n"
        "xs, ys = combined_set(m, x, y, 'fgsm', [0.05, 0.1, 0.2, 0.25, 0.3])\n"
        "print(xs.shape[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    n, rss = out.stdout.split()[-2:]
    set_gb = int(n) * 784 * 4 / 1e9
    return {
        "images": int(n),
        "set_gb": set_gb,
        "peak_rss_gb_building_one_set": int(rss) / 1024 / 1024,
        "paper_estimate_gb": "two combined sets are never in memory at once; peak ~ one set + its source",
    }


def table(r):
    rows = [("Comparison", "advlab", "reference", "ratio", "target")]
    f = r.get("fgsm_sweep")
    if f:
        rows.append(
            (
                f"FGSM sweep, 10 eps x {f['n_images']} images",
                f"{f['advlab_s']:.1f} s",
                f"torchattacks {f['torchattacks_s']:.1f} s",
                f"{f['speedup_vs_torchattacks']:.1f}x",
                ">= 4x",
            )
        )
        rows.append(
            (
                "",
                "",
                f"torchattacks on the plain eager model {f['torchattacks_plain_eager_model_s']:.1f} s",
                f"{f['speedup_vs_torchattacks_plain_eager_model']:.1f}x",
                "",
            )
        )
        rows.append(
            (
                "",
                "",
                f"seed loop {f['seed_loop_s_extrapolated']:.0f} s (from {f['seed_loop_measured_on']} images)",
                f"{f['speedup_vs_seed_loop']:.0f}x",
                ">= 15x",
            )
        )
    p = r.get("pgd")
    if p:
        rows.append(
            (
                f"PGD-40 eps 0.3 x {p['n_images']} images",
                f"{p['advlab_s']:.1f} s (acc {100 * p['robust_acc_advlab']:.1f}%)",
                f"torchattacks {p['torchattacks_s']:.1f} s (acc {100 * p['robust_acc_torchattacks']:.1f}%)",
                f"{p['speedup_vs_torchattacks']:.1f}x",
                ">= 1.3x, acc <=",
            )
        )
        rows.append(
            (
                "  same, no early stop",
                f"{p['advlab_no_early_stop_s']:.1f} s (acc {100 * p['robust_acc_advlab_no_early_stop']:.1f}%)",
                "",
                f"{p['speedup_no_early_stop']:.1f}x",
                "",
            )
        )
    for key, what in (("apgd", "undefended model"), ("apgd_robust", "adversarially trained model")):
        a = r.get(key)
        if a:
            o, t = a["advlab"], a["torchattacks"]
            rows.append(
                (
                    f"APGD-CE-{a['steps']} eps {a['eps']:g} x {a['n_images']} images, {what}",
                    f"{o['apgd_ce_s']:.1f} s (acc {100 * o['apgd_ce_acc']:.1f}%)",
                    f"torchattacks {t['apgd_ce_s']:.1f} s (acc {100 * t['apgd_ce_acc']:.1f}%)",
                    f"{a['speedup_apgd_ce']:.1f}x",
                    ">= 1.5x, acc <=",
                )
            )
            rows.append(
                (
                    "  then APGD-T (9 targets) on the survivors",
                    f"{o['apgd_t_s']:.1f} s (acc {100 * o['apgd_ce_then_t_acc']:.1f}%)",
                    f"torchattacks {t['apgd_t_s']:.1f} s (acc {100 * t['apgd_ce_then_t_acc']:.1f}%)",
                    f"{a['speedup_apgd_t']:.1f}x",
                    "",
                )
            )
    b = r.get("batch")
    if b:
        per = b["us_per_image_step"]
        rows.append(
            (
                f"PGD step per image by attack batch size ({b['n_images']} images)",
                ", ".join(f"{k}: {v:.0f} us" for k, v in per.items()),
                "",
                f"fastest {b['fastest']}",
                "CPU_BATCH",
            )
        )
    al = r.get("allocator")
    if al:
        ms = al["ms_per_batch"]
        rows.append(
            (
                "PGD-3 training step, batch 128 (advlab.core.allocator)",
                f"{ms['advlab']:.0f} ms",
                f"glibc's malloc defaults {ms['glibc_default']:.0f} ms",
                f"{al['speedup']:.2f}x",
                "",
            )
        )
    t = r.get("training")
    if t:
        rows.append(
            (
                "Training (samples/s)",
                f"{t['advlab_fit_samples_per_s']:.0f}",
                f"DataLoader+ToTensor {t['dataloader_loop_samples_per_s']:.0f}",
                f"{t['speedup']:.2f}x",
                ">= 2x",
            )
        )
    th = r.get("throughput")
    if th:
        for name in ("forward", "input_gradient"):
            d = th[name]
            rows.append(
                (
                    f"{name} (images/s, GFLOP/s)",
                    f"{d['advlab_images_per_s']:.0f} ({d['advlab_gflops']:.0f})",
                    f"plain eager {d['plain_eager_images_per_s']:.0f} ({d['plain_eager_gflops']:.0f})",
                    f"{d['speedup']:.2f}x",
                    ">= 2x" if name == "forward" else "",
                )
            )
    for prof, e in r.get("e2e", {}).items():
        rows.append(
            (
                f"run_all.py --profile {prof}",
                f"{e['seconds']:.0f} s, peak RSS {e['peak_rss_mb']:.0f} MB",
                "",
                "",
                "01-04 <= 300 s, all <= 600 s" if prof == "quick" else "",
            )
        )
    m = r.get("memory")
    if m:
        rows.append(
            (
                "Paper FGSM combined set",
                f"{m['images']} images, {m['set_gb']:.2f} GB",
                f"peak RSS building it {m['peak_rss_gb_building_one_set']:.2f} GB",
                "",
                "<= 4 GB",
            )
        )
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    pr = r.get("profile")
    if pr:
        fg, tr = pr["fgsm"], pr["training"]
        lines += [
            "",
            "Where the time goes (targets that are hard to reach):",
            f"- FGSM sweep vs torchattacks on the same model: a gradient pass costs "
            f"{fg['gradient_s_per_2000'] / fg['forward_s_per_2000']:.1f} forward passes, so one gradient + 9 "
            f"forwards vs 10 x (gradient + forward) is at best {fg['bound_vs_torchattacks_same_model']:.1f}x.",
            f"- Training, {tr['samples']} samples: DataLoader alone {tr['dataloader_only_s']:.2f} s, plain model "
            f"step {tr['plain_step_s']:.2f} s, fast model step {tr['fast_step_s']:.2f} s "
            f"({tr['fast_step_gflops']:.0f} GFLOP/s): so (D + P) / S = {tr['bound_ratio_(D+P)/S']:.2f}x "
            "is what removing "
            f"data loading can give with this step (the training row measures the same end to end; runs vary by ~10%).",
            "  Fast step by operator (torch.profiler, self CPU time): "
            + ", ".join(
                f"{k} {100 * v:.0f}%" for k, v in sorted(tr["fast_step_shares"].items(), key=lambda kv: -kv[1])
            ),
        ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="timings are the best of this many runs")
    ap.add_argument("--pgd-images", type=int, default=2000)
    ap.add_argument("--apgd-images", type=int, default=1000)
    ap.add_argument("--seed-images", type=int, default=300, help="images the seed's per-image loop is timed on")
    ap.add_argument("--train-batches", type=int, default=150)
    ap.add_argument("--skip-e2e", action="store_true", help="skip run_all.py end-to-end timings")
    ap.add_argument("--e2e", default="smoke,quick", help="profiles to time end to end")
    ap.add_argument("--bf16", action="store_true", help="also time a bf16 forward (changes results)")
    ap.add_argument(
        "--only",
        default="",
        help="comma list of: fgsm,pgd,apgd,apgd_robust,batch,allocator,training,throughput,memory,profile,e2e",
    )
    args = ap.parse_args(argv)
    only = set(filter(None, args.only.split(",")))

    def want(name):
        return not only or name in only

    torch.manual_seed(0)
    results = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        }
    }
    fast, plain = trained_models()
    xt, yt = load_mnist("data", train=False)
    steps = [
        ("fgsm", lambda: bench_fgsm(fast, plain, xt, yt, args.repeat, args.seed_images)),
        ("pgd", lambda: bench_pgd(fast, xt[: args.pgd_images], yt[: args.pgd_images], 1)),
        ("apgd", lambda: bench_apgd(fast, xt[: args.apgd_images], yt[: args.apgd_images], 1)),
        ("apgd_robust", lambda: bench_apgd(robust_model(), xt[: args.apgd_images], yt[: args.apgd_images], 1)),
        ("batch", lambda: bench_batch(robust_model(), xt[:2000], yt[:2000], args.repeat)),
        ("allocator", lambda: bench_allocator(args.repeat)),
        ("training", lambda: bench_training(args.train_batches, args.repeat)),
        ("throughput", lambda: bench_throughput(fast, plain, args.repeat, args.bf16)),
        ("memory", measure_set_memory),
        ("profile", lambda: bench_profile(args.train_batches)),
    ]
    keys = {"fgsm": "fgsm_sweep"}
    for name, fn in steps:
        if want(name):
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            results[keys.get(name, name)] = fn()
    if want("e2e") and not args.skip_e2e:
        results["e2e"] = {}
        for prof in filter(None, args.e2e.split(",")):
            print(f"bench: run_all.py --profile {prof} ...", file=sys.stderr, flush=True)
            results["e2e"][prof] = run_e2e(prof)
    out = ROOT / "bench" / "results.json"
    if only and out.exists():  # a partial run updates the last full one
        previous = json.loads(out.read_text())
        results = {**previous, **results, "e2e": {**previous.get("e2e", {}), **results.get("e2e", {})}}
    from advlab.core.io import write_json

    write_json(out, results)
    print(table(results))
    print(f"\n(written to {out.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
