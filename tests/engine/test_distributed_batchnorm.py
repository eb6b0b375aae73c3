"""Cross-replica batch norm in the engine: a DCGAN (batch norm in G and D) trained by 2 gloo processes with half the
batch each equals the 1-process run whose single chunk is the whole batch. Without the conversion each process would
normalise its own half and the weights would differ after the first step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint

# The class-conditional DCGAN preset (a BN layer after every conv but D's first, embedding in G, projection in D);
# minibatch stddev off: its groups depend on how the batch is split, batch norm's statistics must not; DiffAugment off
# (the preset's since 2026-12-07): each process draws its own half's shifts and cutouts.
ARGS = ["--preset", "cgan-fashion-mnist", "--kimg", "0.048", "--seed", "5", "model.g_channels=4", "model.d_channels=4",
        "model.z_dim=8", "model.embed_dim=4", "model.mbstd_group=0", "augment.kind=none", "train.batch=16",
        "train.tick_kimg=0.016",
        "train.grid_size=4", "train.workers=0"]


def test_two_processes_with_batchnorm_match_one(tmp_path, fmnist32, cli):
    one = Path(cli("train", "--data", fmnist32, "--outdir", tmp_path / "one", *ARGS, "train.batch_gpu=16",
                   check=0).stdout.strip())
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "ganctl", "train", "--gpus", "2", "--data", str(fmnist32), "--outdir",
                        str(tmp_path / "two"), *ARGS, "train.batch_gpu=8"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    two = Path(p.stdout.strip().splitlines()[-1])
    a = load_file(str(latest_checkpoint(one / "checkpoints")))
    b = load_file(str(latest_checkpoint(two / "checkpoints")))
    bn_keys = [k for k in a if k.endswith("running_var")]
    assert any(k.startswith("G/") for k in bn_keys) and any(k.startswith("D/") for k in bn_keys)
    for k in a:
        if k.startswith(("G/", "D/", "G_ema/")):
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=2e-6, msg=k)
    # The runs really trained (3 steps of G and D moved the weights and the running statistics).
    assert int(a["D/body.3.num_batches_tracked"]) > 0
