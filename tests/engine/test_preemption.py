"""Preemption safety: wall-clock checkpoints (train.snapshot_minutes) change nothing the run computes, and a run
killed before its first checkpoint resumes from step 0 in its own directory, ending bit-identical to an
uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint, list_checkpoints

ARGS = ["--preset", "vanilla-mnist", "model.hidden=[64]", "model.d_hidden=[64]", "model.z_dim=16", "train.batch=16",
        "train.tick_kimg=0.064", "train.grid_size=4", "train.image_snapshot_ticks=1000", "--seed", "9"]
KIMG = "0.256"


# Float results depend on the intra-op thread count: every run compared here uses one thread, as the killed ones do.
ONE = {"OMP_NUM_THREADS": "1"}


def _spawn(*args):
    return subprocess.Popen([sys.executable, "-m", "ganctl", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _same(a: Path, b: Path) -> None:
    x, y = load_file(str(latest_checkpoint(a / "checkpoints"))), load_file(str(latest_checkpoint(b / "checkpoints")))
    assert x.keys() == y.keys()
    for k in x:
        assert torch.equal(x[k], y[k]), k


def test_snapshot_minutes_checkpoints_mid_tick_without_changing_the_run(tmp_path, fmnist28, cli):
    ref = Path(cli("train", *ARGS, "--data", fmnist28, "--kimg", KIMG, "--outdir", tmp_path / "ref", env=ONE, check=0).stdout.strip())
    # One tick for the whole run, tick cadence never reached: only the wall clock (every ~1 ms, so after almost every
    # step however fast the machine) can checkpoint.
    timed = Path(cli("train", *ARGS, "--data", fmnist28, "--kimg", KIMG, "--outdir", tmp_path / "t",
                     "train.tick_kimg=100", "train.snapshot_ticks=1000", "train.snapshot_minutes=0.00002",
                     "train.keep_checkpoints=0", env=ONE, check=0).stdout.strip())
    names = list_checkpoints(timed / "checkpoints")
    assert len(names) >= 3, names  # several wall-clock checkpoints before the final one
    _same(ref, timed)
    # Resuming from a mid-tick wall-clock checkpoint still ends where the uninterrupted run ends.
    mid = names[len(names) // 2]
    cli("resume", timed, "--kimg", KIMG, "--checkpoint", mid.name, env=ONE, check=0)
    _same(ref, timed)


def test_kill_before_first_checkpoint_then_random_kill_then_resume_is_exact(tmp_path, fmnist28, cli):
    ref = Path(cli("train", *ARGS, "--data", fmnist28, "--kimg", KIMG, "--outdir", tmp_path / "ref", env=ONE, check=0).stdout.strip())
    proc = _spawn("train", *ARGS, "--data", fmnist28, "--kimg", KIMG, "--outdir", tmp_path / "k")
    run = None
    deadline = time.time() + 120
    while time.time() < deadline and run is None:  # the run directory exists: kill before any checkpoint
        found = list((tmp_path / "k").glob("*/*/config.yaml"))
        run = found[0].parent if found else None
        time.sleep(0.01)
    assert run is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list((run / "checkpoints").glob("state-*.safetensors")), "killed too late for this test"
    # Resume from nothing, then kill again at a random moment after a first checkpoint exists.
    proc = _spawn("resume", run, "--kimg", KIMG, "train.snapshot_ticks=1")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and latest_checkpoint(run / "checkpoints") is None:
        time.sleep(0.02)
    time.sleep(random.Random(7).uniform(0.0, 0.5))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    cli("resume", run, "--kimg", KIMG, env=ONE, check=0)
    _same(ref, run)
