"""Real torch.distributed: 2 CPU processes (gloo) match 1 process with the same global batch, and resume works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from _procs import ONE_THREAD, checkpoint_state, torchrun_train
from ganctl.engine.checkpoint import latest_checkpoint

# No dropout or batch norm: every operation is per-sample, so a split batch computes the same gradients.
TINY = ["model.hidden=[32]", "model.d_hidden=[32]", "model.z_dim=8", "model.dropout=0", "train.batch=16",
        "train.batch_gpu=8", "train.tick_kimg=0.032", "train.grid_size=4", "model.mbstd_group=4"]


def test_two_processes_match_one(tmp_path, fmnist28, cli):
    one = Path(cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.064", "--outdir", tmp_path / "one",
                   *TINY, check=0).stdout.strip())
    p = torchrun_train("--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.064", "--outdir", tmp_path / "two", *TINY)
    runs = list((tmp_path / "two").glob("*/*/checkpoints"))
    assert len(runs) == 1, "only rank 0 creates a run directory"
    two = runs[0].parent
    assert p.stdout.strip().splitlines()[-1] == str(two)
    a, b = checkpoint_state(one), checkpoint_state(two)
    for k in a:
        if k.startswith(("G/", "D/", "G_ema/")):
            assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6), k

    # The logged losses cover the whole batch (all ranks' shares), like the one-process run's.
    sa = [json.loads(x) for x in (one / "stats.jsonl").read_text().splitlines()]
    sb = [json.loads(x) for x in (two / "stats.jsonl").read_text().splitlines()]
    assert len(sa) == len(sb) >= 2
    for ra, rb in zip(sa, sb):
        losses = [k for k in ra if k.startswith(("Loss/", "Scores/"))]
        assert losses and set(losses) <= set(rb)
        for k in losses:
            assert abs(ra[k] - rb[k]) <= 1e-4 * max(1.0, abs(ra[k])), (k, ra[k], rb[k])

    # Resume the 2-process run to a longer budget under 2 processes; it continues from its checkpoint.
    env = dict(os.environ, **ONE_THREAD)
    r = subprocess.run([sys.executable, "-m", "ganctl", "resume", str(two), "--kimg", "0.096", "--gpus", "2"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "state-000000000096" in latest_checkpoint(two / "checkpoints").name
