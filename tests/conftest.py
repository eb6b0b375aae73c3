"""Shared fixtures: small real datasets (Fashion-MNIST from the Debian package) and a helper to run the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _testdata import make_dataset, run_cli  # noqa: E402


@pytest.fixture(scope="session")
def fmnist32(tmp_path_factory) -> Path:
    """512 real Fashion-MNIST images padded to 32x32, labelled, as a prepared dataset."""
    return make_dataset(tmp_path_factory.mktemp("fm32") / "fmnist32", 512, 32, "fmnist32")


@pytest.fixture(scope="session")
def fmnist28(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("fm28") / "fmnist28", 512, 28, "fmnist28")


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def tiny_cgan_run(tmp_path_factory, fmnist32) -> Path:
    """A tiny conditional DCGAN trained for a few steps through the real CLI; shared by sampling tests."""
    out = tmp_path_factory.mktemp("runs")
    p = run_cli("train", "--preset", "cgan-fashion-mnist", "--data", fmnist32, "--kimg", "0.064", "--outdir", out,
                "model.g_channels=8", "model.d_channels=8", "train.batch=16", "train.tick_kimg=0.032", "train.grid_size=16",
                check=0)
    return Path(p.stdout.strip())


@pytest.fixture(scope="module")
def one_cpu_thread():
    """Tiny tensors: intra-op threads only add synchronisation overhead, which explodes on a busy 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_style_run(tmp_path_factory, fmnist32) -> Path:
    """A tiny StyleGAN2 (stylegan-tiny) trained for a few steps through the real CLI; for W-space tools (style-mix, ppl)."""
    out = tmp_path_factory.mktemp("style_runs")
    p = run_cli("train", "--preset", "stylegan-tiny", "--data", fmnist32, "--kimg", "0.016", "--outdir", out,
                "train.batch=8", "train.tick_kimg=0.016", "train.grid_size=4", "train.threads=1", check=0)
    return Path(p.stdout.strip())


@pytest.fixture
def run_main(capsys):
    """`run_main(*args) -> (exit code, stdout, stderr)` through ganctl.cli.app.main in this process: a subprocess
    start costs seconds of torch import, so most CLI checks use this and only a few pay for the `cli` fixture."""
    from ganctl.cli.app import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return e.value.code, out.out, out.err

    return run
