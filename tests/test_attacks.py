"""Attacks against their definitions and against an independent implementation (torchattacks)."""
import pytest
import torch
import torch.nn.functional as F

import advlab
from advlab.attacks import fgsm, fgsm_sweep, fgsm_sweep_predictions, pgd, per_sample_loss


def reference_fgsm(model, x, y, eps):
    """FGSM written out from its definition, one image at a time (the seed's way)."""
    model.eval()
    out = []
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        loss = F.cross_entropy(model(xi), y[i:i + 1])
        loss.backward()
        out.append((xi + eps * xi.grad.sign()).clamp(0, 1).detach())
    model.zero_grad(set_to_none=True)
    return torch.cat(out)


def test_fgsm_matches_definition(trained_model, test_batch):
    x, y = test_batch[0][:64], test_batch[1][:64]
    for eps in (0.0, 0.1, 0.3):
        assert torch.allclose(fgsm(trained_model, x, y, eps), reference_fgsm(trained_model, x, y, eps), atol=1e-6)


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_attack_invariants(trained_model, test_batch, attack, eps):
    x, y = test_batch[0][:200], test_batch[1][:200]
    model = trained_model
    model.train()  # the caller's mode must come back
    if attack == "fgsm":
        x_adv = fgsm(model, x, y, eps, batch_size=64)
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
    x, y = test_batch
    eps = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.9]
    sweep = fgsm_sweep(trained_model, x, y, eps, batch_size=128)
    single = [advlab.evaluate(trained_model, fgsm(trained_model, x, y, e), y) for e in eps]
    assert sweep == pytest.approx(single, abs=1e-9)
    assert sweep[0] == pytest.approx(advlab.evaluate(trained_model, x, y))
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
        assert torch.allclose(ours, theirs, atol=1e-5)


def test_pgd_at_least_as_strong_as_torchattacks(trained_model, test_batch):
    import torchattacks  # test-only dependency, installed by `make venv`
    x, y = test_batch
    eps, alpha, steps = 0.15, 0.015, 20
    torch.manual_seed(0)
    theirs = torchattacks.PGD(trained_model, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)
    ours = pgd(trained_model, x, y, eps, alpha, steps, seed=0)
    acc_theirs = advlab.evaluate(trained_model, theirs, y)
    acc_ours = advlab.evaluate(trained_model, ours, y)
    assert acc_ours <= acc_theirs + 0.01, (acc_ours, acc_theirs)
    assert acc_ours < 0.9 * advlab.evaluate(trained_model, x, y)


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
    assert torch.equal(x_pgd[fooled_fgsm & (advlab.predict(trained_model, x) == y)],
                       x_fgsm[fooled_fgsm & (advlab.predict(trained_model, x) == y)])
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
    assert abs(advlab.evaluate(trained_model, ours, y) - advlab.evaluate(trained_model, theirs, y)) <= 0.01


def test_early_stop_is_never_weaker(trained_model, test_batch):
    x, y = test_batch
    full = pgd(trained_model, x, y, 0.1, 0.01, 15, seed=1, early_stop=False)
    early = pgd(trained_model, x, y, 0.1, 0.01, 15, seed=1, early_stop=True)
    fooled_full = advlab.predict(trained_model, full) != y
    fooled_early = advlab.predict(trained_model, early) != y
    assert bool((fooled_early | ~fooled_full).all())
    assert (early - x).abs().max() <= 0.1 + 1e-6
