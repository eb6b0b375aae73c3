"""Helpers for tests that drive ganctl in real subprocesses: `--gpus N` (torchrun, gloo) launches, background spawns,
and the SIGKILL-at-random-moments + `ganctl resume` loop. Every process runs with one intra-op thread, because float
results depend on the thread count and these tests compare runs bit for bit."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def spawn(*args, preexec=None) -> subprocess.Popen:
    """`python -m ganctl ARGS` in the background, one thread."""
    return subprocess.Popen([sys.executable, "-m", "ganctl", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, **ONE_THREAD), preexec_fn=preexec)


def torchrun_train(*args, nproc: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    """`ganctl train --gpus NPROC ARGS` (torch.distributed, gloo on CPU); asserts exit 0; returns the process."""
    p = subprocess.run([sys.executable, "-m", "ganctl", "train", "--gpus", str(nproc), *map(str, args)],
                       capture_output=True, text=True, env=dict(os.environ, **ONE_THREAD), timeout=timeout)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def checkpoint_state(run: Path) -> dict:
    """Every tensor of a run's latest checkpoint (G, G_ema, D, optimizer state, ...)."""
    from safetensors.torch import load_file

    from ganctl.engine.checkpoint import latest_checkpoint

    return load_file(str(latest_checkpoint(Path(run) / "checkpoints")))


def kill_and_resume(train_args: list, outdir: Path, kimg: str, trials: int = 3, seed: int = 1234) -> tuple[Path, int]:
    """Start `ganctl train TRAIN_ARGS --outdir OUTDIR --kimg KIMG`; `trials` times: wait for a first checkpoint, SIGKILL
    the process after a random extra delay (mid-step, mid-write, mid-anything), check that `latest` loads, and
    `ganctl resume` it. Returns (run directory, number of kills) once the last resume has finished with exit 0."""
    import signal

    from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint

    rng = random.Random(seed)
    proc = spawn("train", *train_args, "--kimg", kimg, "--outdir", outdir)
    kills, run = 0, None
    for _ in range(trials):
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            found = list(Path(outdir).glob("*/*/checkpoints/latest"))
            if found:
                run = found[0].parent.parent
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        assert run is not None, proc.stderr.read() if proc.poll() is not None else "no checkpoint in 120 s"
        load_checkpoint(latest_checkpoint(run / "checkpoints"))  # whatever `latest` points at is complete
        proc = spawn("resume", run, "--kimg", kimg)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return run, kills


def metric_worker_records(run: Path, tmp_path: Path, weights: Path, metrics: str, seed: int, port: int) -> dict:
    """tests/engine/metric_eval_worker.py on RUN under torchrun with 1 and then 2 gloo processes (offline, one thread):
    {1: [rank 0's result], 2: [rank 0's, rank 1's]}, each the JSON the worker wrote."""
    import json

    worker = Path(__file__).parent / "engine" / "metric_eval_worker.py"
    env = dict(os.environ, GANCTL_OFFLINE="1", **ONE_THREAD)
    outs = {}
    for n in (1, 2):
        out = Path(tmp_path) / f"np{n}"
        out.mkdir()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-port", str(port),
               str(worker), str(run), str(out), str(weights), metrics, str(seed)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        outs[n] = [json.loads((out / f"rank{k}.json").read_text()) for k in range(n)]
    return outs
