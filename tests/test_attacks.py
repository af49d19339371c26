"""Attacks against their definitions and against an independent implementation (torchattacks)."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import advlab
from advlab.core.attacks import (
    apgd,
    apgd_checkpoints,
    fgsm,
    fgsm_signs,
    fgsm_sweep,
    fgsm_sweep_predictions,
    per_sample_loss,
    pgd,
    project,
    run_batches,
    step_size,
    targeted_dlr,
)

ROOT = Path(__file__).resolve().parents[1]


class PerSample(torch.nn.Module):
    """``model`` applied to one image at a time. Each image's logits and input gradient are then computed by
    the same kernels on the same shapes whatever batch the image arrives in, so how an attack batches its work
    can be compared exactly (torch.equal), on any CPU and thread count."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, x):
        return torch.cat([self.model(x[i : i + 1]) for i in range(len(x))])


@pytest.fixture(scope="module")
def smoke_model():
    from advlab.course import pretrained

    return pretrained.load("smoke", "baseline", root=ROOT / "pretrained")


def reference_fgsm(model, x, y, eps):
    """FGSM written out from its definition, one image at a time (the seed's way)."""
    model.eval()
    out = []
    for i in range(len(x)):
        xi = x[i : i + 1].clone().requires_grad_(True)
        loss = F.cross_entropy(model(xi), y[i : i + 1])
        loss.backward()
        out.append((xi + eps * xi.grad.sign()).clamp(0, 1).detach())
    model.zero_grad(set_to_none=True)
    return torch.cat(out)


def test_fgsm_matches_definition(trained_model, test_batch):
    """One image at a time FGSM computes exactly what the definition does. In a batch the model's sums may be
    rounded differently, which can flip the sign of a gradient entry that is ~0: at most a few pixels differ."""
    x, y = test_batch[0][:64], test_batch[1][:64]
    for eps in (0.0, 0.1, 0.3):
        expected = reference_fgsm(trained_model, x, y, eps)
        assert torch.equal(fgsm(trained_model, x, y, eps, batch_size=1), expected)
        assert (fgsm(trained_model, x, y, eps) != expected).float().mean() <= 1e-3


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "apgd", "apgd_t"])
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_attack_invariants(trained_model, test_batch, attack, eps):
    x, y = test_batch[0][:200], test_batch[1][:200]
    model = trained_model
    model.train()  # the caller's mode must come back
    if attack == "fgsm":
        x_adv = fgsm(model, x, y, eps, batch_size=64)
    elif attack == "apgd":
        x_adv = apgd(model, x, y, eps, steps=10, restarts=2, batch_size=64)
    elif attack == "apgd_t":
        x_adv = apgd(model, x, y, eps, steps=10, loss="dlr", targeted=True, n_target_classes=3, batch_size=64)
    else:
        x_adv = pgd(model, x, y, eps, alpha=eps / 4, steps=5, restarts=2, batch_size=64, seed=0)
    assert model.training, "the attack did not restore train mode"
    model.eval()
    assert all(p.grad is None for p in model.parameters()), "the attack left gradients on parameters"
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(x_adv, x)
    # and the attack works: accuracy drops
    assert advlab.evaluate(model, x_adv, y) < advlab.evaluate(model, x, y)


def test_attacks_use_eval_mode(test_batch):
    """Dropout and batch statistics must not leak into the attack: a train-mode call gives the
    same adversarial examples as an eval-mode call."""
    torch.manual_seed(0)
    model = advlab.BaselineCNN()
    x, y = test_batch[0][:32], test_batch[1][:32]
    model.eval()
    expected = fgsm(model, x, y, 0.1)
    model.train()
    assert torch.equal(fgsm(model, x, y, 0.1), expected)


def test_fgsm_sweep_equals_per_eps_fgsm(trained_model, test_batch):
    """With the same batches, the sweep's predictions are exactly those of FGSM run at each eps."""
    x, y = test_batch
    eps = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.9]
    preds = fgsm_sweep_predictions(trained_model, x, y, eps, batch_size=128)
    single = torch.stack(
        [advlab.predict(trained_model, fgsm(trained_model, x, y, e, batch_size=128), batch_size=128) for e in eps]
    )
    assert torch.equal(preds, single)
    sweep = fgsm_sweep(trained_model, x, y, eps, batch_size=128)
    assert sweep == (single == y).float().mean(1).tolist()
    assert sweep[0] > 0.85 and sweep[3] < sweep[0]


def test_fgsm_sweep_predictions_shape(trained_model, test_batch):
    x, y = test_batch[0][:50], test_batch[1][:50]
    preds = fgsm_sweep_predictions(trained_model, x, y, [0, 0.2])
    assert preds.shape == (2, 50) and preds.dtype == torch.long


def test_fgsm_equals_torchattacks(trained_model, test_batch):
    import torchattacks  # test-only dependency, installed by `make venv`

    x, y = test_batch
    for eps in (0.1, 0.25):
        ours = fgsm(trained_model, x, y, eps, batch_size=len(x))
        theirs = torchattacks.FGSM(trained_model, eps=eps)(x, y)
        # Their loss is the batch mean, ours the sum: the gradients differ by a factor and in rounding, which can
        # flip the sign only of an entry that is ~0, so at most a few pixels may differ.
        assert ((ours - theirs).abs() > 1e-5).float().mean() <= 1e-3


def assert_not_weaker(model, y, ours, theirs):
    """Our examples fool ``model`` at least as often as theirs, up to chance. Both attacks draw random starts, so
    which of the images only one attack fools depends on the draw. Were the attacks equally strong, each such
    image would be a fair coin between them: with ``b`` images that only ours leaves classified correctly and
    ``c`` that only theirs does, ``b - c`` would have mean 0 and standard deviation ``sqrt(b + c)``. An attack
    weaker than theirs shows as ``b - c`` above 3 standard deviations."""
    ours_ok, theirs_ok = advlab.predict(model, ours) == y, advlab.predict(model, theirs) == y
    b, c = int((ours_ok & ~theirs_ok).sum()), int((theirs_ok & ~ours_ok).sum())
    assert b - c <= 3 * (b + c) ** 0.5, (b, c, ours_ok.float().mean().item(), theirs_ok.float().mean().item())


def test_pgd_at_least_as_strong_as_torchattacks(trained_model, test_batch):
    import torchattacks  # test-only dependency, installed by `make venv`

    x, y = test_batch
    eps, alpha, steps = 0.15, 0.015, 20
    torch.manual_seed(0)
    theirs = torchattacks.PGD(trained_model, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)
    ours = pgd(trained_model, x, y, eps, alpha, steps, seed=0)
    assert_not_weaker(trained_model, y, ours, theirs)
    assert advlab.evaluate(trained_model, ours, y) < 0.9 * advlab.evaluate(trained_model, x, y)


def test_pgd_stronger_than_fgsm(trained_model, test_batch):
    x, y = test_batch
    for eps in (0.1, 0.2):
        acc_fgsm = advlab.evaluate(trained_model, fgsm(trained_model, x, y, eps), y)
        acc_pgd = advlab.evaluate(trained_model, pgd(trained_model, x, y, eps, eps / 8, 20, seed=0), y)
        assert acc_pgd <= acc_fgsm, (eps, acc_pgd, acc_fgsm)


def test_pgd_without_random_start_and_one_step_is_fgsm(trained_model, test_batch):
    """With no random start and one step of size eps, PGD reduces to FGSM (where FGSM fools, or is the
    final iterate); the sample set it fools is FGSM's, at least."""
    x, y = test_batch
    eps = 0.1
    x_fgsm = fgsm(trained_model, x, y, eps)
    x_pgd = pgd(trained_model, x, y, eps, alpha=eps, steps=1, random_start=False)
    fooled_fgsm = advlab.predict(trained_model, x_fgsm) != y
    fooled_pgd = advlab.predict(trained_model, x_pgd) != y
    assert torch.equal(
        x_pgd[fooled_fgsm & (advlab.predict(trained_model, x) == y)],
        x_fgsm[fooled_fgsm & (advlab.predict(trained_model, x) == y)],
    )
    assert bool((fooled_pgd | ~fooled_fgsm).all())


def test_pgd_more_restarts_never_weaker(trained_model, test_batch):
    x, y = test_batch
    one = pgd(trained_model, x, y, 0.1, 0.01, 10, restarts=1, seed=3)
    three = pgd(trained_model, x, y, 0.1, 0.01, 10, restarts=3, seed=3)  # its first restart is `one`
    fooled_one = advlab.predict(trained_model, one) != y
    fooled_three = advlab.predict(trained_model, three) != y
    assert bool((fooled_three | ~fooled_one).all())


def test_pgd_is_seeded(trained_model, test_batch):
    x, y = test_batch[0][:64], test_batch[1][:64]
    assert torch.equal(pgd(trained_model, x, y, 0.2, 0.02, 3, seed=7), pgd(trained_model, x, y, 0.2, 0.02, 3, seed=7))


def test_cw_loss_is_margin():
    logits = torch.tensor([[2.0, 1.0, 0.5], [0.0, 3.0, 1.0]])
    y = torch.tensor([0, 2])
    assert per_sample_loss(logits, y, "cw").tolist() == [-1.0, 2.0]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_eps_is_a_clear_error(trained_model, test_batch, bad):
    x, y = test_batch[0][:4], test_batch[1][:4]
    with pytest.raises(ValueError, match="eps"):
        fgsm(trained_model, x, y, bad)
    with pytest.raises(ValueError, match="epsilon"):
        fgsm_sweep(trained_model, x, y, [0.1, bad])


def test_bad_shapes_are_clear_errors(trained_model):
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        fgsm(trained_model, torch.zeros(28, 28), torch.zeros(1, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match="label"):
        fgsm(trained_model, torch.zeros(3, 1, 28, 28), torch.zeros(2, dtype=torch.long), 0.1)


def test_standard_pgd_equals_torchattacks_with_the_same_start(trained_model, test_batch):
    """With the random start drawn from the same global RNG state, ``early_stop=False`` PGD is
    torchattacks' PGD step for step."""
    import torchattacks

    x, y = test_batch[0][:200], test_batch[1][:200]
    torch.manual_seed(42)
    theirs = torchattacks.PGD(trained_model, eps=0.2, alpha=0.02, steps=10, random_start=True)(x, y)
    torch.manual_seed(42)
    ours = pgd(trained_model, x, y, 0.2, 0.02, 10, early_stop=False, batch_size=len(x))
    # Float rounding (their mean loss, our summed loss) can flip the sign of a near-zero gradient
    # component, after which one image's path diverges; nearly every image must match exactly.
    same = ((ours - theirs).abs().flatten(1).amax(1) <= 1e-5).float().mean().item()
    assert same >= 0.98, same
    # only the images whose paths diverged (at most 2%) can change the accuracy
    assert abs(advlab.evaluate(trained_model, ours, y) - advlab.evaluate(trained_model, theirs, y)) <= 0.02


def test_early_stop_is_never_weaker(trained_model, test_batch):
    x, y = test_batch
    full = pgd(trained_model, x, y, 0.1, 0.01, 15, seed=1, early_stop=False)
    early = pgd(trained_model, x, y, 0.1, 0.01, 15, seed=1, early_stop=True)
    fooled_full = advlab.predict(trained_model, full) != y
    fooled_early = advlab.predict(trained_model, early) != y
    assert bool((fooled_early | ~fooled_full).all())
    assert (early - x).abs().max() <= 0.1 + 1e-6


def plain_pgd(model, x, y, eps, alpha, steps, starts, loss="ce", early_stop=True):
    """PGD written out one image at a time. From each start ``(x + starts[r]).clamp(0, 1)`` (no restart after a
    fooling one), ``steps`` steps ``z <- clamp(proj_eps(z + alpha * sign(grad)), 0, 1)``. With ``early_stop``
    every iterate is scored and the first that fools the model is returned, else the highest-loss iterate; without
    it only the final iterates are scored (a single run returns its final iterate)."""
    out = []
    for n in range(len(x)):
        x0, yn = x[n : n + 1], y[n : n + 1]
        best, best_loss, fooled = x0, torch.tensor(-float("inf")), False

        def offer(z, logits, f):
            nonlocal best, best_loss, fooled
            wrong = bool(logits.argmax(1) != yn)
            if wrong or f > best_loss:
                best, best_loss, fooled = z, f, wrong

        for start in starts:
            if fooled:
                break
            z = (x0 + start[n : n + 1]).clamp(0, 1)
            for _ in range(steps):
                zg = z.clone().requires_grad_(True)
                logits = model(zg)
                f = per_sample_loss(logits, yn, loss)
                grad = torch.autograd.grad(f.sum(), zg)[0]
                if early_stop:
                    offer(z, logits.detach(), f.detach())
                    if fooled:
                        break
                z = torch.min(torch.max(z + alpha * grad.sign(), x0 - eps), x0 + eps).clamp(0, 1)
            if fooled:
                break
            if len(starts) == 1 and not early_stop:
                best = z
            else:
                with torch.no_grad():
                    logits = model(z)
                    offer(z, logits, per_sample_loss(logits, yn, loss))
        out.append(best)
    return torch.cat(out)


@pytest.mark.parametrize("early_stop,restarts,loss", [(True, 3, "ce"), (False, 1, "ce"), (False, 3, "cw")])
def test_pgd_equals_its_definition(early_stop, restarts, loss):
    """On a small random network (labels: its own predictions) applied one image at a time, the batched PGD
    (restarts, early stop, scoring) returns exactly what the written-out one does from the same random starts."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.Tanh(), torch.nn.Linear(12, 5)
    ).eval()
    x = torch.rand(60, 1, 4, 4)
    y = model(x).argmax(1)
    eps, steps, seed = 0.04, 8, 3
    gen = torch.Generator().manual_seed(seed)
    starts = [torch.empty(x.shape).uniform_(-eps, eps, generator=gen) for _ in range(restarts)]
    ours = pgd(
        PerSample(model),
        x,
        y,
        eps,
        step_size(eps, steps),
        steps,
        True,
        restarts,
        loss=loss,
        seed=seed,
        early_stop=early_stop,
        batch_size=16,
    )
    expected = plain_pgd(model, x, y, eps, step_size(eps, steps), steps, starts, loss, early_stop)
    fooled = advlab.predict(model, expected) != y
    assert 0 < fooled.sum() < len(x), "the case should have fooled and robust images"
    assert torch.equal(ours, expected)


def test_batching_changes_no_example(smoke_model, test_batch):
    """On a shipped model applied one image at a time, every attack gives identical tensors whatever the batch size:
    random starts are drawn for all images at once, and samples are attacked, scored and dropped independently."""
    model = PerSample(smoke_model)
    x, y = test_batch[0][:16], test_batch[1][:16]
    attacks = {
        "fgsm": lambda bs: fgsm(model, x, y, 0.1, batch_size=bs),
        "fgsm_sweep_predictions": lambda bs: fgsm_sweep_predictions(model, x, y, [0.0, 0.05, 0.2], batch_size=bs),
        "pgd": lambda bs: pgd(model, x, y, 0.1, step_size(0.1, 3), 3, restarts=2, seed=4, batch_size=bs),
        "pgd_standard": lambda bs: pgd(
            model, x, y, 0.1, 0.02, 3, restarts=2, seed=4, loss="cw", early_stop=False, batch_size=bs
        ),
        "apgd": lambda bs: apgd(model, x, y, 0.1, 4, seed=2, batch_size=bs),
        "apgd_t": lambda bs: apgd(model, x, y, 0.1, 4, "dlr", targeted=True, n_target_classes=2, seed=2, batch_size=bs),
    }
    for name, attack in attacks.items():
        assert torch.equal(attack(5), attack(len(x))), name


def test_run_batches_covers_every_image_once_in_eval_mode(smoke_model):
    x, y = torch.rand(23, 1, 28, 28), torch.arange(23) % 10
    seen = []

    def attack(s, xb, yb):
        assert not smoke_model.training
        seen.append((s.start, s.stop))
        return 2 * xb, yb + 1

    smoke_model.train()
    try:
        out = run_batches(smoke_model, x, y, attack, batch_size=5, out=(torch.empty_like(x), torch.empty_like(y)))
        assert smoke_model.training, "the caller's mode must come back"
    finally:
        smoke_model.eval()
    assert seen == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    assert torch.equal(out[0], 2 * x) and torch.equal(out[1], y + 1)


def test_step_size_and_projection():
    assert step_size(0.3, 10) == 2.5 * 0.3 / 10 and step_size(0.3, 0) == 2.5 * 0.3 and step_size(0.5, 4, 1.0) == 0.125
    x0 = torch.tensor([0.0, 0.5, 0.875, 0.5])
    z = torch.tensor([-0.5, 1.0, 1.5, 0.625])
    assert torch.equal(project(z, x0, 0.25), torch.tensor([0.0, 0.75, 1.0, 0.625]))


# --- APGD ------------------------------------------------------------------------------------------


def test_apgd_checkpoints_follow_the_paper():
    """p_0 = 0, p_1 = 0.22, p_(j+1) = p_j + max(p_j - p_(j-1) - 0.03, 0.06), times the steps."""
    p = [0.0, 0.22]
    while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    assert apgd_checkpoints(100) == [round(100 * v) for v in p[1:]] == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(10) == [2, 3, 4, 5, 6, 7, 8, 9, 10]


def plain_apgd(model, x, y, eps, steps, loss_fn, start, rho=0.75):
    """APGD written out from Croce & Hein (2020), Algorithm 1, one image at a time: returns the first
    iterate that fools the model, else the highest-loss one."""
    checkpoints = apgd_checkpoints(steps)
    out = []
    for n in range(len(x)):
        x0, yn = x[n : n + 1], y[n : n + 1]

        def f_and_grad(z):
            z = z.clone().requires_grad_(True)
            f = loss_fn(model(z), yn, n).sum()
            return f.item(), torch.autograd.grad(f, z)[0]

        def proj(z):
            return torch.min(torch.max(z, x0 - eps), x0 + eps).clamp(0, 1)

        eta = 2 * eps
        xs, fs = [start[n : n + 1]], []
        f, g = f_and_grad(xs[0])
        fs.append(f)
        if model(xs[0]).argmax(1) != yn:
            out.append(xs[0])
            continue
        x_max, f_max, g_max = xs[0], f, g
        last, halved_last, f_max_last = 0, True, f
        cur, cur_g = xs[0], g
        prev = xs[0]
        for k in range(1, steps + 1):
            a = 1.0 if k == 1 else 0.75
            z = proj(cur + eta * cur_g.sign())
            nxt = proj(cur + a * (z - cur) + (1 - a) * (cur - prev))
            f, g = f_and_grad(nxt)
            fs.append(f)
            prev, cur, cur_g = cur, nxt, g
            if model(nxt).argmax(1) != yn:
                x_max = nxt
                break
            if f > f_max:
                x_max, f_max, g_max = nxt, f, g
            if k in checkpoints:
                rises = sum(fs[i + 1] > fs[i] for i in range(last, k))
                halve = rises <= rho * (k - last) or (not halved_last and f_max <= f_max_last)
                if halve:
                    eta /= 2
                    cur, cur_g = x_max, g_max
                halved_last, f_max_last, last = halve, f_max, k
        out.append(x_max)
    return torch.cat(out)


@pytest.mark.parametrize("loss", ["ce", "dlr", "dlr_targeted"])
def test_apgd_equals_its_definition(loss):
    """On a small random network (labels: its own predictions) applied one image at a time, the batched APGD with
    early stop must return exactly what the plain one does: some images fooled, some not, and the step halved and
    the iterate reset along the way (the test fails when either is left out)."""
    torch.manual_seed(0)
    model = (
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 12), torch.nn.Tanh(), torch.nn.Linear(12, 5))
        .double()
        .eval()
    )
    x = torch.rand(40, 1, 4, 4, dtype=torch.float64)
    y = model(x).argmax(1)
    eps, steps, seed = 0.05, 20, 5
    t = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    start = (x + eps * t / t.flatten(1).abs().amax(1)[:, None, None, None]).clamp(0, 1)
    if loss == "dlr_targeted":
        target = model(x).argsort(1, descending=True)[:, 1]
        ours = apgd(PerSample(model), x, y, eps, steps, "dlr", targeted=True, n_target_classes=1, seed=seed)
        expected = plain_apgd(model, x, y, eps, steps, lambda z, yy, n: targeted_dlr(z, yy, target[n : n + 1]), start)
    else:
        ours = apgd(PerSample(model), x, y, eps, steps, loss, seed=seed)
        expected = plain_apgd(model, x, y, eps, steps, lambda z, yy, n: per_sample_loss(z, yy, loss), start)
    fooled = advlab.predict(model, expected) != y
    assert 0 < fooled.sum() < len(x), "the case should have fooled and robust images"
    # the model sees one image at a time in both, so every floating-point operation is the same
    assert torch.equal(ours, expected)


class GatedLinear(torch.nn.Module):
    """A linear model that ignores the pixels of images darker than 0.5 on average (their logits are the
    bias alone: a gradient of exactly zero), and counts the forward passes that autograd records."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(16, 5).double()
        self.graded_calls = 0

    def forward(self, x):
        self.graded_calls += torch.is_grad_enabled() and x.requires_grad
        gate = (x.flatten(1).mean(1, keepdim=True) > 0.5).to(x.dtype)
        return self.linear(x.flatten(1) * gate)


def test_apgd_skips_images_whose_gradient_is_zero():
    """An image with a zero gradient at its random start cannot move (no step, no momentum): APGD returns
    the start without running the steps, exactly what the definition returns after all of them."""
    torch.manual_seed(0)
    model = GatedLinear().eval()
    x = torch.cat(
        [
            torch.rand(20, 1, 4, 4, dtype=torch.float64) * 0.4,  # dark: gradient zero
            0.6 + torch.rand(20, 1, 4, 4, dtype=torch.float64) * 0.4,
        ]
    )  # bright: attacked
    y = model(x).argmax(1)
    eps, steps, seed = 0.05, 20, 5
    t = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    start = (x + eps * t / t.flatten(1).abs().amax(1)[:, None, None, None]).clamp(0, 1)
    ours = apgd(PerSample(model), x, y, eps, steps, "ce", seed=seed)
    expected = plain_apgd(model, x, y, eps, steps, lambda z, yy, n: per_sample_loss(z, yy, "ce"), start)
    assert torch.equal(ours[:20], start[:20]) and torch.equal(ours, expected)
    assert (ours[20:] != start[20:]).any(), "the bright images are attacked"
    model.graded_calls = 0
    apgd(model, x[:20], y[:20], eps, steps, "ce", seed=seed)
    assert model.graded_calls == 1, f"{model.graded_calls} gradient passes for images that cannot move"


def test_dlr_losses_by_hand():
    z = torch.tensor([[4.0, 3.0, 1.0, 0.0, -1.0], [1.0, 5.0, 2.0, 0.0, -2.0]])
    y = torch.tensor([0, 0])
    # untargeted: -(z_y - max_{j != y} z_j) / (z_(1) - z_(3))
    assert per_sample_loss(z, y, "dlr").tolist() == pytest.approx([-(4 - 3) / (4 - 1), -(1 - 5) / (5 - 1)])
    # targeted: -(z_y - z_t) / (z_(1) - (z_(3) + z_(4)) / 2)
    t = torch.tensor([2, 1])
    assert targeted_dlr(z, y, t).tolist() == pytest.approx([-(4 - 1) / (4 - 0.5), -(1 - 5) / (5 - 0.5)])


def apgd_vs_torchattacks(model, x, y, eps, steps=50, targets=3):
    """Our APGD-CE and APGD-T are not weaker than torchattacks' (same steps and number of target classes; fewer
    than AutoAttack's 100 and 9 to keep the test fast); returns the accuracy under our APGD-CE."""
    import torchattacks

    ours_ce = apgd(model, x, y, eps, steps, "ce", seed=0)
    assert_not_weaker(model, y, ours_ce, torchattacks.APGD(model, eps=eps, steps=steps, seed=0, loss="ce")(x, y))
    ours_t = apgd(model, x, y, eps, steps, "dlr", targeted=True, n_target_classes=targets, seed=0)
    theirs_t = torchattacks.APGDT(model, eps=eps, steps=steps, seed=0, n_classes=targets + 1)(x, y)
    assert_not_weaker(model, y, ours_t, theirs_t)
    return advlab.evaluate(model, ours_ce, y)


def test_apgd_at_least_as_strong_as_torchattacks_on_the_baseline(trained_model, test_batch):
    x, y = test_batch[0][:200], test_batch[1][:200]
    ours_ce = apgd_vs_torchattacks(trained_model, x, y, 0.1)
    # APGD-CE leaves about 0.4 of the images against about 0.96 clean; an attack that barely moves leaves ~0.9
    assert ours_ce < 0.6 * advlab.evaluate(trained_model, x, y)


def test_apgd_at_least_as_strong_as_torchattacks_on_a_robust_model(robust_model, robust_eps, test_batch):
    x, y = test_batch[0][:300], test_batch[1][:300]
    # at the eps the model was trained for (at 0.3 this small model keeps under 1%: nothing to compare)
    ours_ce = apgd_vs_torchattacks(robust_model, x, y, robust_eps)
    # the model is robust (the comparison means something: about 0.4 survive) and APGD beats fixed-step PGD-10
    # on it (about 0.54)
    pgd10 = advlab.evaluate(robust_model, pgd(robust_model, x, y, robust_eps, step_size(robust_eps, 10), 10, seed=0), y)
    assert ours_ce > 0.2 and ours_ce <= pgd10, (ours_ce, pgd10)


def test_apgd_restarts_and_seed(trained_model, test_batch):
    x, y = test_batch[0][:100], test_batch[1][:100]
    a = apgd(trained_model, x, y, 0.05, 10, seed=1)
    assert torch.equal(a, apgd(trained_model, x, y, 0.05, 10, seed=1))
    one = advlab.predict(trained_model, a) != y
    three = advlab.predict(trained_model, apgd(trained_model, x, y, 0.05, 10, restarts=3, seed=1)) != y
    assert bool((three | ~one).all()), "the first restart is the single run: more restarts never weaker"


def test_apgd_does_not_depend_on_the_batch_size(trained_model, test_batch):
    # Random starts drawn for all images per run, and samples attacked independently: the batch size
    # (advlab.core.inference.default_batch differs between a CPU and a GPU) changes no example, exactly when the
    # model computes each image alone (test_batching_changes_no_example). Here the model's sums over a batch may
    # round differently with its size, flipping a near-zero gradient sign and one image's path: nearly all match.
    x, y = test_batch[0][:300], test_batch[1][:300]
    for kwargs in ({"loss": "ce", "restarts": 2}, {"loss": "dlr", "targeted": True, "n_target_classes": 2}):
        a = apgd(trained_model, x, y, 0.05, 10, seed=3, batch_size=64, **kwargs)
        b = apgd(trained_model, x, y, 0.05, 10, seed=3, batch_size=300, **kwargs)
        assert (a == b).flatten(1).all(1).float().mean().item() >= 0.95, kwargs


def test_apgd_bad_arguments(trained_model, test_batch):
    x, y = test_batch[0][:4], test_batch[1][:4]
    with pytest.raises(ValueError, match="loss"):
        apgd(trained_model, x, y, 0.1, loss="cw")
    with pytest.raises(ValueError, match="targeted"):
        apgd(trained_model, x, y, 0.1, loss="ce", targeted=True)
    with pytest.raises(ValueError, match="steps"):
        apgd(trained_model, x, y, 0.1, steps=0)


# --- grad mode ---------------------------------------------------------------------------------------


def all_attacks(model, x, y):
    from advlab.core.adversarial_training import fgsm_rs

    return {
        "fgsm": lambda: fgsm(model, x, y, 0.1),
        "fgsm_signs": lambda: fgsm_signs(model, x, y),
        "fgsm_sweep": lambda: fgsm_sweep(model, x, y, [0.0, 0.1]),
        "fgsm_sweep_predictions": lambda: fgsm_sweep_predictions(model, x, y, [0.1]),
        "pgd": lambda: pgd(model, x, y, 0.1, 0.02, 3, seed=0),
        "apgd": lambda: apgd(model, x, y, 0.1, 5, seed=0),
        "apgd_t": lambda: apgd(model, x, y, 0.1, 5, "dlr", targeted=True, n_target_classes=2, seed=0),
        "fgsm_rs": lambda: (torch.manual_seed(0), fgsm_rs(model, x, y, 0.1, 0.125))[1],
    }


def test_attacks_work_under_no_grad(trained_model, test_batch):
    x, y = test_batch[0][:40], test_batch[1][:40]
    expected = {name: run() for name, run in all_attacks(trained_model, x, y).items()}
    with torch.no_grad():
        for name, run in all_attacks(trained_model, x, y).items():
            got = run()
            assert torch.equal(torch.as_tensor(got), torch.as_tensor(expected[name])), name
    assert all(p.grad is None for p in trained_model.parameters())


def test_attacks_refuse_inference_mode_clearly(trained_model, test_batch):
    x, y = test_batch[0][:8], test_batch[1][:8]
    with torch.inference_mode():
        for name, run in all_attacks(trained_model, x, y).items():
            with pytest.raises(advlab.AdvlabError, match="inference_mode"):
                run()


def test_attacks_accept_inference_tensors(trained_model, test_batch):
    """Images made under inference_mode (e.g. by a data pipeline) are fine once outside it."""
    with torch.inference_mode():
        x, y = test_batch[0][:8].clone(), test_batch[1][:8].clone()
    assert x.is_inference()
    assert (fgsm(trained_model, x, y, 0.1) - x).abs().max() <= 0.1 + 1e-6
    assert (apgd(trained_model, x, y, 0.1, 3) - x).abs().max() <= 0.1 + 1e-6


def test_pgd_does_not_depend_on_the_batch_size(trained_model, test_batch):
    # The random starts are drawn for all images at once, so how the images are split into batches
    # (advlab.core.inference.default_batch differs between a CPU and a GPU) changes no example: exactly when the
    # model computes each image alone (test_batching_changes_no_example), for nearly all images here (see the
    # APGD test above).
    x, y = test_batch[0][:300], test_batch[1][:300]
    a = pgd(trained_model, x, y, 0.2, 0.05, 5, restarts=2, seed=11, batch_size=64)
    b = pgd(trained_model, x, y, 0.2, 0.05, 5, restarts=2, seed=11, batch_size=300)
    assert (a == b).flatten(1).all(1).float().mean().item() >= 0.95
    assert advlab.core.inference.default_batch("cpu") == advlab.core.inference.CPU_BATCH
    assert advlab.core.inference.default_batch("cuda") == advlab.core.inference.ACCELERATOR_BATCH
