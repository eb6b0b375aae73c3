"""Interrupts and divergence: Ctrl-C / SIGTERM save resumable state and exit 130; non-finite values stop cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint

TINY = ["model.hidden=[32]", "model.d_hidden=[32]", "model.z_dim=8", "train.batch=16", "train.tick_kimg=0.016",
        "train.grid_size=4", "train.snapshot_ticks=1000", "train.image_snapshot_ticks=1000"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_and_exits_130(tmp_path, fmnist28, cli, sig):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "ganctl", "train", "--preset", "vanilla-mnist", "--data", str(fmnist28),
                             "--kimg", "1000", "--outdir", str(tmp_path), *TINY], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    stats = None
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list(tmp_path.glob("*/*/stats.jsonl"))
        if found and found[0].read_text().count("\n") >= 2:
            stats = found[0]
            break
        time.sleep(0.2)
    assert stats is not None, "training never reached a tick"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "state saved" in err and "ganctl resume" in err and "Traceback" not in err
    run = stats.parent
    _, meta = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    kimg = meta["counters"]["cur_nimg"] / 1000
    assert kimg > 0
    cli("resume", run, "--kimg", f"{kimg + 0.032:.3f}", check=0)


def test_nonfinite_stops_with_clear_message(tmp_path, fmnist28, cli):
    p = cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.5", "--outdir", tmp_path, *TINY,
            "optim.g.lr=1e30", "optim.d.lr=1e30", "train.snapshot_ticks=1", check=1)
    assert "training diverged: non-finite" in p.stderr and "Traceback" not in p.stderr
    assert "train.nonfinite=skip" in p.stderr
    # Any checkpoint left behind is complete and loads (never a torn or non-finite-weights file).
    for ck in tmp_path.glob("*/*/checkpoints/state-*.safetensors"):
        tensors, _ = load_checkpoint(ck)


def test_failed_checkpoint_write_keeps_previous(tmp_path, fmnist28):
    """A write that fails midway (here: the target directory vanishes) leaves `latest` on the previous checkpoint."""
    import torch

    from ganctl.engine import checkpoint as ckpt

    d = tmp_path / "checkpoints"
    d.mkdir()
    first = ckpt.save_checkpoint(d / ckpt.checkpoint_name(1000), {"w": torch.ones(3)}, {"counters": {}})
    ckpt.point_latest(d, first)
    huge = {"w": torch.ones(3), "x": object()}  # not a tensor: the write fails inside save
    with pytest.raises(Exception):
        ckpt.save_checkpoint(d / ckpt.checkpoint_name(2000), huge, {"counters": {}})
    assert ckpt.latest_checkpoint(d) == first.resolve()
    assert not list(d.glob("*.tmp")) and not (d / ckpt.checkpoint_name(2000)).exists()
    tensors, _ = ckpt.load_checkpoint(ckpt.latest_checkpoint(d))
    assert torch.equal(tensors["w"], torch.ones(3))
