"""Resumable training: a run interrupted mid-epoch and resumed from its checkpoint ends with exactly the
weights (bit for bit, on the CPU) of an uninterrupted run, and really skips the epochs it had done."""

import pytest
import torch

import advlab
from advlab.core import adversarial_training
from advlab.core.data import subset
from advlab.core.errors import AdvlabError
from advlab.core.training import CHECKPOINT_FORMAT

N, BATCH = 300, 128  # 3 batches per epoch (the last one has 44 images)
BATCHES = 3


@pytest.fixture(scope="module")
def data(mnist_train):
    return subset(*mnist_train, N, seed=7)


def counting_model(stop_after=None):
    """A fresh, seeded model that counts its training-mode forward passes (attacks run in eval mode)
    and raises KeyboardInterrupt, like a Ctrl-C, at training forward number ``stop_after + 1``."""
    torch.manual_seed(0)
    model = advlab.BaselineCNN()
    model.forwards = 0

    def hook(module, args):
        if module.training:
            module.forwards += 1
            if stop_after is not None and module.forwards > stop_after:
                raise KeyboardInterrupt

    model.register_forward_pre_hook(hook)
    return model


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs"


def without_seconds(history):
    return {**history, "epochs": [{k: v for k, v in r.items() if "seconds" not in k} for r in history["epochs"]]}


def interrupted_then_resumed(train, ckpt, stop_after):
    """Run ``train(model, ckpt)`` until the interrupt, check the checkpoint, then resume on a fresh model."""
    model = counting_model(stop_after)
    with pytest.raises(KeyboardInterrupt):
        train(model, ckpt)
    blob = torch.load(ckpt, weights_only=True)
    assert blob["format"] == CHECKPOINT_FORMAT and blob["epochs_done"] == stop_after // BATCHES
    assert not list(ckpt.parent.glob("*.part")), "a temporary file was left behind"
    resumed = counting_model()
    out = train(resumed, ckpt)
    assert not ckpt.exists(), "the checkpoint was not removed when training completed"
    return resumed, out


@pytest.mark.parametrize("adversary", [None, "pgd"])
def test_fit_resumes_bit_identical(data, tmp_path, adversary):
    x, y = data

    def train(model, ckpt):
        adv = (
            None
            if adversary is None
            else adversarial_training.OnTheFly("pgd", 0.3, n_batches=BATCHES, steps=2, ramp_epochs=1.5)
        )
        return advlab.fit(model, x, y, 3, batch_size=BATCH, seed=3, adversary=adv, checkpoint=ckpt, progress=False)

    reference = counting_model()
    ref_losses = train(reference, None)
    ckpt = tmp_path / "run.ckpt"
    resumed, losses = interrupted_then_resumed(train, ckpt, stop_after=BATCHES + 2)  # in epoch 2
    assert resumed.forwards == 2 * BATCHES, "the resumed run did not start after epoch 1"
    assert losses == ref_losses
    assert_same_weights(resumed, reference)


def test_on_the_fly_with_guard_resumes_bit_identical(data, tmp_path):
    """FGSM from a random start (global RNG) with an eps ramp (the adversary's batch counter) and the
    guard's PGD check after each epoch: interrupted in epoch 3, resumed, identical weights and history."""
    x, y = data
    guard = (x[:50], y[:50])

    def train(model, ckpt):
        return adversarial_training.train_on_the_fly(
            model,
            x,
            y,
            "fgsm_rs",
            0.3,
            4,
            ramp_epochs=1.5,
            batch_size=BATCH,
            seed=1,
            guard=guard,
            guard_steps=2,
            guard_drop=1.0,
            progress=False,
            checkpoint=ckpt,
        )

    reference = counting_model()
    ref_history = train(reference, None)
    resumed, history = interrupted_then_resumed(train, tmp_path / "otf.ckpt", stop_after=2 * BATCHES + 1)
    assert resumed.forwards == 2 * BATCHES
    assert [r["epoch"] for r in history["epochs"]] == [1, 2, 3, 4]
    assert without_seconds(history) == without_seconds(ref_history)
    assert_same_weights(resumed, reference)


def test_guard_rollback_after_resume_uses_the_saved_best_weights(data, tmp_path, monkeypatch):
    """The guard's best weights travel in the checkpoint: a collapse after resuming rolls back to them."""
    x, y = data
    values = []
    monkeypatch.setattr(adversarial_training, "pgd_accuracy", lambda *a, **k: values.pop(0))

    def train(model, ckpt):
        return adversarial_training.train_on_the_fly(
            model,
            x,
            y,
            "fgsm_rs",
            0.3,
            4,
            batch_size=BATCH,
            seed=2,
            guard=(x[:10], y[:10]),
            progress=False,
            checkpoint=ckpt,
        )

    values[:] = [0.5, 0.6, 0.1]
    reference = counting_model()
    ref_history = train(reference, None)
    assert ref_history["best_epoch"] == 2 and "epoch 3" in ref_history["stopped"]
    values[:] = [0.5, 0.6]  # the interrupted run checks epochs 1 and 2 ...
    model = counting_model(stop_after=2 * BATCHES + 1)
    with pytest.raises(KeyboardInterrupt):
        train(model, tmp_path / "g.ckpt")
    values[:] = [0.1]  # ... the resumed one epoch 3 only, which collapses
    resumed = counting_model()
    history = train(resumed, tmp_path / "g.ckpt")
    assert without_seconds(history) == without_seconds(ref_history)
    assert_same_weights(resumed, reference)


def test_checkpoint_of_another_training_is_a_clear_error(data, tmp_path):
    x, y = data
    ckpt = tmp_path / "a.ckpt"
    with pytest.raises(KeyboardInterrupt):
        advlab.fit(counting_model(BATCHES + 1), x, y, 2, batch_size=BATCH, checkpoint=ckpt, progress=False)
    with pytest.raises(AdvlabError, match="belongs to another training.*delete it"):
        advlab.fit(counting_model(), x, y, 2, batch_size=64, checkpoint=ckpt, progress=False)


def test_unreadable_checkpoint_starts_afresh_and_folder_checkpoint(data, tmp_path, capsys):
    x, y = data[0][:200], data[1][:200]
    reference = counting_model()
    advlab.fit(reference, x, y, 2, seed=1, progress=False)
    (tmp_path / "mine.ckpt").write_bytes(b"not a checkpoint")
    model = counting_model()
    advlab.fit(model, x, y, 2, seed=1, progress=False, checkpoint=tmp_path, desc="mine")  # a folder
    assert "unreadable" in capsys.readouterr().out
    assert model.forwards == 2 * 2 and not (tmp_path / "mine.ckpt").exists()
    assert_same_weights(model, reference)


def test_pipeline_resumes_an_interrupted_training(tmp_path, monkeypatch):
    """get_model checkpoints to artifacts/models/<key>.ckpt: after an interruption the next call (a rerun of
    the same command) goes on from the last finished epoch and ends where an uninterrupted run does."""
    from pathlib import Path

    from advlab.course import artifacts, pipeline
    from advlab.course.profiles import config

    monkeypatch.setattr(pipeline, "DATA_ROOT", Path(__file__).resolve().parents[1] / "data")
    cfg = config("smoke", n_train=N, epochs=3, device="cpu")
    real_fit, epochs_run = pipeline.fit, []

    def spy(*args, on_epoch_end, stop_at=None, **kwargs):
        def end(epoch, loss, seconds):
            epochs_run.append(epoch)
            on_epoch_end(epoch, loss, seconds)
            if epoch == stop_at:
                raise KeyboardInterrupt

        return real_fit(*args, on_epoch_end=end, **kwargs)

    monkeypatch.setattr(artifacts, "ROOT", tmp_path / "a")
    monkeypatch.setattr(pipeline, "fit", lambda *a, **k: spy(*a, stop_at=1, **k))
    with pytest.raises(KeyboardInterrupt):
        pipeline.get_model(cfg, "baseline")
    ckpt = tmp_path / "a" / "models" / f"{pipeline.model_key(cfg, 'baseline')}.ckpt"
    assert torch.load(ckpt, weights_only=True)["epochs_done"] == 1  # epoch 2 ended but was not saved
    monkeypatch.setattr(pipeline, "fit", spy)
    epochs_run.clear()
    resumed = pipeline.get_model(cfg, "baseline")
    assert epochs_run == [1, 2] and not ckpt.exists()
    info = pipeline.model_info(cfg, "baseline")
    monkeypatch.setattr(artifacts, "ROOT", tmp_path / "b")
    reference = pipeline.get_model(cfg, "baseline")
    assert info["losses"] == pipeline.model_info(cfg, "baseline")["losses"] and info["train_seconds"] > 0
    assert_same_weights(resumed, reference)
