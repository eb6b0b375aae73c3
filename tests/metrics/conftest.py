"""Shared fixtures for the metric tests: a seeded random Inception weights file laid out where pytorch-fid looks
for it, and real images (Fashion-MNIST digits plus odd-sized RGB / RGBA / grayscale / palette / LA files).

Inception on 2 shared CPU cores does ~1-3 images/s, so the default sets are small (15 per side); the reference
tools' numbers are computed once per session.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_testdata import write_fmnist, write_odd_images  # noqa: E402
from random_inception import WEIGHTS_NAME, write_random_inception  # noqa: E402


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("torch_home")
    write_random_inception(home / "hub" / "checkpoints" / WEIGHTS_NAME, seed=0)
    return home


@pytest.fixture(scope="session")
def weights(torch_home) -> Path:
    return torch_home / "hub" / "checkpoints" / WEIGHTS_NAME


@pytest.fixture(scope="session")
def ref_env(torch_home):
    """pytorch-fid loads its weights from $TORCH_HOME/hub/checkpoints: point it at the random file for the session."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCH_HOME", str(torch_home))
    import torch

    torch.set_num_threads(2)
    yield torch_home
    mp.undo()


@pytest.fixture(scope="session")
def sets(tmp_path_factory) -> dict[str, Path]:
    """a: 10 Fashion-MNIST + 5 odd RGB/RGBA/L/P/LA files (mixed sizes); b: 15 other Fashion-MNIST images."""
    root = tmp_path_factory.mktemp("images")
    write_fmnist(root / "a", 0, 10)
    write_odd_images(root / "a")
    write_fmnist(root / "b", 1000, 15)
    return {"a": root / "a", "b": root / "b"}


@pytest.fixture(scope="session")
def vgg_home(tmp_path_factory) -> Path:
    """A TORCH_HOME holding seeded random torchvision-VGG16 weights as hub/checkpoints/vgg16-397923af.pth (~530 MB)."""
    from random_vgg16 import WEIGHTS_NAME as VGG_NAME, write_random_vgg16

    home = tmp_path_factory.mktemp("vgg_home")
    write_random_vgg16(home / "hub" / "checkpoints" / VGG_NAME, seed=0)
    return home


@pytest.fixture(scope="session")
def vgg_weights(vgg_home) -> Path:
    return vgg_home / "hub" / "checkpoints" / "vgg16-397923af.pth"
