"""Faults: SIGKILL at random moments never leaves a torn checkpoint, and kill + resume ends bit-identical to an
uninterrupted run; a checkpoint write that fails (file-size limit, as on a full disk) keeps the previous one."""

from __future__ import annotations

import json
import resource
import signal
from pathlib import Path

import torch

from _procs import ONE_THREAD as ONE, checkpoint_state, kill_and_resume, spawn
from ganctl.engine.checkpoint import latest_checkpoint

ARGS = ["--preset", "vanilla-mnist", "model.hidden=[64]", "model.d_hidden=[64]", "model.z_dim=16", "train.batch=16",
        "train.tick_kimg=0.016", "train.snapshot_ticks=1", "train.grid_size=4", "train.image_snapshot_ticks=1000",
        "--seed", "5"]
KIMG = "0.32"


def test_sigkill_at_random_moments_then_resume_is_exact(tmp_path, fmnist28, cli):
    ref = Path(cli("train", *ARGS, "--data", fmnist28, "--kimg", KIMG, "--outdir", tmp_path / "ref", env=ONE, check=0).stdout.strip())
    run, kills = kill_and_resume([*ARGS, "--data", fmnist28], tmp_path / "k", KIMG)
    assert kills >= 1
    a, b = checkpoint_state(ref), checkpoint_state(run)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not list((run / "checkpoints").glob("*.tmp"))
    # The log has no duplicated ticks from the killed stretches.
    kimgs = [json.loads(x)["Progress/kimg"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert kimgs == sorted(set(kimgs))


def test_failed_checkpoint_write_keeps_previous_for_resume(tmp_path, fmnist28, cli):
    run = Path(cli("train", *ARGS, "--data", fmnist28, "--kimg", "0.032", "--outdir", tmp_path, env=ONE, check=0).stdout.strip())
    good = latest_checkpoint(run / "checkpoints")
    size = good.stat().st_size

    def limit():  # files may not grow past half a checkpoint: the next checkpoint write fails like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, size // 2))

    p = spawn("resume", run, "--kimg", "0.064", preexec=limit)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1, err
    assert "could not write checkpoint" in err and "intact" in err and "Traceback" not in err
    assert latest_checkpoint(run / "checkpoints") == good.resolve()
    assert not list((run / "checkpoints").glob("*.tmp"))
    cli("resume", run, "--kimg", "0.064", env=ONE, check=0)
    assert latest_checkpoint(run / "checkpoints") != good.resolve()
