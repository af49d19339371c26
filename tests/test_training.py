import pytest
import torch

import advlab
from advlab.core.checkpoint import load_model, save_model
from advlab.core.data import subset
from advlab.core.errors import AdvlabError
from advlab.core.inference import predict_logits
from advlab.core.models import BaselineCNN, count_parameters


def test_model_matches_the_seed_table():
    model = BaselineCNN()
    assert count_parameters(model) == 116266
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128]
    assert all(c.kernel_size == (2, 2) and c.stride == (1, 1) for c in convs)
    assert [m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)] == [128, 64]
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    assert len([m for m in model.modules() if isinstance(m, torch.nn.Linear)]) == 3
    assert model.eval()(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert count_parameters(BaselineCNN(width=2)) > 3 * 116266


def test_fit_is_reproducible_and_learns(mnist_train, mnist_test):
    x, y = subset(*mnist_train, 3000, seed=5)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = BaselineCNN()
        losses = advlab.fit(model, x, y, epochs=2, seed=11, progress=False)
        runs.append((losses, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    assert runs[0][0][1] < runs[0][0][0]
    xt, yt = subset(*mnist_test, 2000, seed=0)
    assert advlab.evaluate(model, xt, yt) > 0.8  # chance is 0.1


def test_fit_restores_global_rng():
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    torch.manual_seed(0)
    model = BaselineCNN()
    advlab.fit(model, x, y, epochs=1, progress=False)
    after_fit = torch.rand(3)
    torch.manual_seed(0)
    BaselineCNN()
    assert torch.equal(after_fit, torch.rand(3))


def test_fit_on_epoch_end_can_stop(mnist_train):
    x, y = subset(*mnist_train, 512, seed=0)
    seen = []
    losses = advlab.fit(
        BaselineCNN(),
        x,
        y,
        epochs=5,
        progress=False,
        on_epoch_end=lambda e, loss, s: seen.append((e, loss, s)) or e == 1,
    )
    assert len(losses) == 2 and [e for e, _, _ in seen] == [0, 1] and all(s > 0 for _, _, s in seen)


def test_checkpoint_roundtrip(tmp_path, trained_model, test_batch):
    path = save_model(trained_model, tmp_path / "m.pt", meta={"epochs": 1, "note": "test"})
    loaded = load_model(path)
    x, _ = test_batch
    assert torch.equal(advlab.predict(loaded, x), advlab.predict(trained_model, x))
    assert not loaded.training
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, trained_model):
    path = save_model(trained_model, tmp_path / "m.pt")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(AdvlabError, match=r"m\.pt is corrupt.*delete it and rerun"):
        load_model(path)
    with pytest.raises(AdvlabError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_mismatched_checkpoint_is_a_clear_error(tmp_path, trained_model):
    path = save_model(trained_model, tmp_path / "m.pt")
    with pytest.raises(AdvlabError, match="does not match the model"):
        load_model(path, model=BaselineCNN(width=2))


def _agree_unless_near_tie(logits_a, logits_b):
    """Argmax agreement of two logit tensors that differ by at most ``d`` per entry: the predictions can differ
    only where the top two logits are within ``2 d`` of each other, so everywhere else they must agree."""
    d = (logits_a - logits_b).abs().max()
    top2 = logits_b.topk(2, 1).values
    near_tie = top2[:, 0] - top2[:, 1] <= 2 * d
    return bool(((logits_a.argmax(1) == logits_b.argmax(1)) | near_tie).all())


def test_fast_model_matches_plain_eager(trained_model, mnist_test):
    """The fast layout (pool before ReLU, channels-last weights) changes no prediction and agrees with
    the literal Conv -> ReLU -> Pool model to float tolerance, attacks and one training step included."""
    plain = BaselineCNN(fast=False)
    plain.load_state_dict(trained_model.state_dict())
    plain.eval()
    x, y = mnist_test
    logits_fast, logits_plain = predict_logits(trained_model, x), predict_logits(plain, x)
    # The layouts sum the same products in different orders: the logits agree to float32 rounding (a few 1e-6
    # on logits of size ~10; 1e-4 leaves a wide margin), and so do the predictions except at near-ties.
    assert torch.allclose(logits_fast, logits_plain, atol=1e-4)
    assert _agree_unless_near_tie(logits_fast, logits_plain)
    xs, ys = x[:300], y[:300]
    adv_fast = advlab.fgsm(trained_model, xs, ys, 0.2)
    adv_plain = advlab.fgsm(plain, xs, ys, 0.2)
    assert (adv_fast != adv_plain).float().mean() < 1e-3  # a sign can flip only where the gradient is ~0
    assert _agree_unless_near_tie(predict_logits(trained_model, adv_fast), predict_logits(plain, adv_fast))
    fast = BaselineCNN()
    fast.load_state_dict(trained_model.state_dict())
    grads = []
    for m in (fast, plain):  # one training step's loss and gradients (same seeded dropout masks)
        m.train()
        torch.manual_seed(0)
        loss = torch.nn.functional.cross_entropy(m(xs), ys)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in m.parameters()]))
        m.eval()
    # Cross-entropy moves by at most twice the largest change of a logit, and the logits differ by rounding only.
    assert grads[0][0] == pytest.approx(grads[1][0], abs=2e-4)
    # Each gradient entry is a float32 sum of many products (300 images x 729 positions for the first layer),
    # summed in another order by each layout: its rounding error scales with the size of the products, not of
    # the sum. An entry that nearly cancels can differ by several percent of itself, and the gradient of a bias
    # followed by BatchNorm is 0 up to rounding, so a tolerance relative to each entry (rtol) fails depending on
    # the CPU and thread count. The tolerance is relative to the scale of the whole gradient, its largest
    # entry: rounding differences stay around 1e-4 of it or below, and a layout that computed another function
    # would differ by the order of the scale itself; 1e-2 of it separates the two with a wide margin.
    scale = max(g.abs().max() for g in grads[1][1])
    for (name, _), a, b in zip(fast.named_parameters(), grads[0][1], grads[1][1]):
        assert (a - b).abs().max() <= 1e-2 * scale, name
