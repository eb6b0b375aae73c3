"""Resume must be exact: N steps straight == N/2 steps + resume + N/2 steps, bit for bit, on CPU."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint

TINY = ["model.hidden=[64]", "model.d_hidden=[64]", "model.z_dim=16", "model.dropout=0.2", "train.batch=16",
        "train.tick_kimg=0.032", "train.grid_size=8", "train.snapshot_ticks=1", "model.mbstd_group=4"]


def _final_state(run_dir: Path) -> dict:
    return load_file(str(latest_checkpoint(run_dir / "checkpoints")))


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs"


def test_resume_is_bit_identical(tmp_path, fmnist28, cli):
    straight = cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.128", "--outdir", tmp_path / "a",
                   "--seed", "3", *TINY, check=0).stdout.strip()
    half = cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.064", "--outdir", tmp_path / "b",
               "--seed", "3", *TINY, check=0).stdout.strip()
    cli("resume", half, "--kimg", "0.128", check=0)
    a, b = _final_state(Path(straight)), _final_state(Path(half))
    _assert_same(a, b)
    # Every part of the state is there: networks, EMA, both optimizers' moments, RNG.
    for prefix in ("G/", "D/", "G_ema/", "opt_G/state/", "opt_D/state/", "rng/torch"):
        assert any(k.startswith(prefix) for k in a), prefix
    # Samples from both runs are identical too (byte for byte without the provenance statement, which names each run's
    # own checkpoint file by sha256).
    sa = cli("sample", straight, "--seeds", "0-7", "--grid", "--no-provenance", "--outdir", tmp_path / "sa", check=0).stdout.strip()
    sb = cli("sample", half, "--seeds", "0-7", "--grid", "--no-provenance", "--outdir", tmp_path / "sb", check=0).stdout.strip()
    assert Path(sa).read_bytes() == Path(sb).read_bytes()


def test_resume_conditional_dcgan_with_accumulation(tmp_path, fmnist32, cli):
    """BatchNorm buffers, class labels and batch_gpu accumulation survive a resume exactly too."""
    args = ["--preset", "cgan-fashion-mnist", "--data", fmnist32, "--seed", "1", "model.g_channels=8", "model.d_channels=8",
            "train.batch=16", "train.batch_gpu=8", "train.tick_kimg=0.032", "train.grid_size=4"]
    straight = cli("train", *args, "--kimg", "0.096", "--outdir", tmp_path / "a", check=0).stdout.strip()
    half = cli("train", *args, "--kimg", "0.048", "--outdir", tmp_path / "b", check=0).stdout.strip()
    cli("resume", half, "--kimg", "0.096", check=0)
    _assert_same(_final_state(Path(straight)), _final_state(Path(half)))


def test_resume_refuses_meaning_changing_override(tmp_path, fmnist28, cli):
    run = cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.032", "--outdir", tmp_path, *TINY, check=0).stdout.strip()
    p = cli("resume", run, "optim.g.lr=0.1", check=2)
    assert "resume cannot change optim.g.lr" in p.stderr
    assert "Traceback" not in p.stderr
    cli("resume", run, "train.kimg=0.048", check=0)


def test_corrupt_checkpoint_is_refused_and_previous_offered(tmp_path, fmnist28, cli):
    run = Path(cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.064", "--outdir", tmp_path, *TINY,
                   check=0).stdout.strip())
    latest = latest_checkpoint(run / "checkpoints")
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2])  # truncated
    p = cli("resume", run, "--kimg", "0.128", check=1)
    assert "truncated" in p.stderr or "unreadable" in p.stderr
    assert "previous checkpoint" in p.stderr and "Traceback" not in p.stderr
    # A flipped byte in the payload (same size) fails the integrity check.
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    latest.write_bytes(bytes(flipped))
    p = cli("resume", run, "--kimg", "0.128", check=1)
    assert "integrity" in p.stderr
    # The offered previous checkpoint works.
    prev = sorted((run / "checkpoints").glob("state-*.safetensors"))[-2]
    cli("resume", run, "--kimg", "0.128", "--checkpoint", prev.name, check=0)
