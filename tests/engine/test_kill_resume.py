"""Faults: SIGKILL at random moments never leaves a torn checkpoint, and kill + resume ends bit-identical to an
uninterrupted run; a checkpoint write that fails (file-size limit, as on a full disk) keeps the previous one."""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint

ARGS = ["--preset", "vanilla-mnist", "model.hidden=[64]", "model.d_hidden=[64]", "model.z_dim=16", "train.batch=16",
        "train.tick_kimg=0.016", "train.snapshot_ticks=1", "train.grid_size=4", "train.image_snapshot_ticks=1000",
        "--seed", "5"]
KIMG = "0.32"


# Float results depend on the intra-op thread count: every run compared here uses one thread, as the killed ones do.
ONE = {"OMP_NUM_THREADS": "1"}


def _spawn(*args, preexec=None):
    return subprocess.Popen([sys.executable, "-m", "ganctl", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), preexec_fn=preexec)


def test_sigkill_at_random_moments_then_resume_is_exact(tmp_path, fmnist28, cli):
    ref = Path(cli("train", *ARGS, "--data", fmnist28, "--kimg", KIMG, "--outdir", tmp_path / "ref", env=ONE, check=0).stdout.strip())
    rng = random.Random(1234)
    proc = _spawn("train", *ARGS, "--data", fmnist28, "--kimg", KIMG, "--outdir", tmp_path / "k")
    kills = 0
    run = None
    for trial in range(3):
        # Wait for a first checkpoint, then kill after a random extra delay (mid-step, mid-write, mid-anything).
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            found = list((tmp_path / "k").glob("*/*/checkpoints/latest"))
            if found:
                run = found[0].parent.parent
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        assert run is not None
        # Whatever `latest` points at is complete and passes its integrity check.
        load_checkpoint(latest_checkpoint(run / "checkpoints"))
        proc = _spawn("resume", run, "--kimg", KIMG)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert kills >= 1
    a = load_file(str(latest_checkpoint(ref / "checkpoints")))
    b = load_file(str(latest_checkpoint(run / "checkpoints")))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not list((run / "checkpoints").glob("*.tmp"))
    # The log has no duplicated ticks from the killed stretches.
    import json

    kimgs = [json.loads(x)["Progress/kimg"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert kimgs == sorted(set(kimgs))


def test_failed_checkpoint_write_keeps_previous_for_resume(tmp_path, fmnist28, cli):
    run = Path(cli("train", *ARGS, "--data", fmnist28, "--kimg", "0.032", "--outdir", tmp_path, env=ONE, check=0).stdout.strip())
    good = latest_checkpoint(run / "checkpoints")
    size = good.stat().st_size

    def limit():  # files may not grow past half a checkpoint: the next checkpoint write fails like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, size // 2))

    p = _spawn("resume", run, "--kimg", "0.064", preexec=limit)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1, err
    assert "could not write checkpoint" in err and "intact" in err and "Traceback" not in err
    assert latest_checkpoint(run / "checkpoints") == good.resolve()
    assert not list((run / "checkpoints").glob("*.tmp"))
    cli("resume", run, "--kimg", "0.064", env=ONE, check=0)
    assert latest_checkpoint(run / "checkpoints") != good.resolve()
