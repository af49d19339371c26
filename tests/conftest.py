import os
from pathlib import Path

import pytest
import torch

import advlab
from advlab.core.data import load_mnist, subset

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

os.environ.setdefault("ADVLAB_PROGRESS", "0")


@pytest.fixture(scope="session")
def mnist_train():
    return load_mnist(DATA, train=True)


@pytest.fixture(scope="session")
def mnist_test():
    return load_mnist(DATA, train=False)


@pytest.fixture(scope="session")
def trained_model(mnist_train):
    """A BaselineCNN briefly trained (1 epoch on 12k images): accurate enough for attacks to matter."""
    torch.manual_seed(0)
    model = advlab.BaselineCNN()
    x, y = subset(*mnist_train, 12000, seed=1)
    advlab.fit(model, x, y, epochs=1, seed=0, progress=False)
    model.zero_grad(set_to_none=True)  # tests check that attacks leave no gradient on parameters
    return model.eval()


@pytest.fixture(scope="session")
def test_batch(mnist_test):
    return subset(*mnist_test, 500, seed=2)


ROBUST_EPS = 0.2


@pytest.fixture(scope="session")
def robust_eps():
    """The eps ``robust_model`` was trained at."""
    return ROBUST_EPS


@pytest.fixture(scope="session")
def robust_model(mnist_train):
    """A small adversarially trained BaselineCNN (FGSM from a random start at eps 0.2, 2 epochs on
    6k images): robust enough that attacks must work for their numbers."""
    from advlab.core.adversarial_training import train_on_the_fly

    torch.manual_seed(0)
    model = advlab.BaselineCNN()
    x, y = subset(*mnist_train, 6000, seed=5)
    train_on_the_fly(model, x, y, "fgsm_rs", ROBUST_EPS, 2, ramp_epochs=1, seed=0, progress=False)
    model.zero_grad(set_to_none=True)
    return model.eval()
