"""Test helpers shared across test folders: real Fashion-MNIST loading, small prepared datasets, running the CLI."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FMNIST = Path("/usr/share/datasets/fashion-mnist")
FMNIST_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def load_fmnist(split: str = "train", n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Real Fashion-MNIST as uint8 (N, 28, 28) images and int64 labels."""
    prefix = "t10k" if split == "test" else "train"
    if not (FMNIST / f"{prefix}-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
    with gzip.open(FMNIST / f"{prefix}-images-idx3-ubyte.gz") as f:
        imgs = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FMNIST / f"{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    if n is not None:
        imgs, labels = imgs[:n], labels[:n]
    return imgs, labels


def make_dataset(dest: Path, n: int = 512, pad_to: int = 32, name: str = "fmnist") -> Path:
    from ganctl.data.dataset import write_dataset

    imgs, labels = load_fmnist("train", n)
    p = (pad_to - 28) // 2
    imgs = np.pad(imgs, ((0, 0), (p, pad_to - 28 - p), (p, pad_to - 28 - p)))[:, None]
    write_dataset(dest, imgs, labels, {"name": name, "label_names": FMNIST_NAMES, "source": str(FMNIST)})
    return dest


def run_cli(*args, cwd=None, env=None, check=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -m ganctl ARGS` in a subprocess; `check` = expected exit code, asserted with output on failure."""
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "2")
    if env:
        e.update(env)
    proc = subprocess.run([sys.executable, "-m", "ganctl", *map(str, args)], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=timeout)
    if check is not None:
        assert proc.returncode == check, f"exit {proc.returncode} != {check}\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}"
    return proc


def count_params(module) -> int:
    """Parameters of a network (buffers such as spectral-norm vectors are not parameters)."""
    return sum(p.numel() for p in module.parameters())
