"""Progressive GAN on the schedule-driven engine, on CPU: resume anywhere (mid-fade, exactly at a phase boundary,
mid-stabilise, after a SIGKILL during a fade) ends bit-identical to the uninterrupted run, with batch sizes and
learning rates changing per resolution; stats carry the stage; samples say their resolution and alpha; 2 gloo
processes equal 1 process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint

# 32x32 data: 4 (stabilise) -> 8 (fade, stabilise) -> 16 (fade, stabilise) -> 32 (fade, stabilise), 64 images a phase,
# with a different batch (and learning rate) per resolution.
TINY = ["--preset", "progan-tiny", "model.z_dim=16", "model.fmap_base=64", "model.fmap_max=16", "train.batch=16",
        "progressive.phase_kimg=0.064", "progressive.fade_kimg=0.064", "progressive.batch={4: 16, 8: 8, 16: 16, 32: 8}",
        "progressive.batch_gpu={}", "progressive.lr={8: 0.003}", "train.tick_kimg=0.032", "train.snapshot_ticks=1",
        "train.grid_size=4", "train.image_snapshot_ticks=1000", "--seed", "4"]
END = "0.48"  # into the 32x32 stabilise phase


# Float results depend on the intra-op thread count: every run compared here uses one thread, as the killed ones do.
ONE = {"OMP_NUM_THREADS": "1"}


def _state(run: Path) -> dict:
    return load_file(str(latest_checkpoint(run / "checkpoints")))


def _same(a: Path, b: Path) -> None:
    x, y = _state(a), _state(b)
    assert x.keys() == y.keys()
    for k in x:
        assert torch.equal(x[k], y[k]), k


def _stage(run: Path) -> dict:
    return load_checkpoint(latest_checkpoint(run / "checkpoints"))[1]["stage"]


def test_resume_mid_fade_at_boundary_and_mid_stabilise_is_exact(tmp_path, fmnist32, cli):
    straight = Path(cli("train", *TINY, "--data", fmnist32, "--kimg", END, "--outdir", tmp_path / "a", env=ONE, check=0).stdout.strip())
    assert _stage(straight)["resolution"] == 32 and _stage(straight)["kind"] == "stabilise"
    stats = [json.loads(x) for x in (straight / "stats.jsonl").read_text().splitlines()]
    assert {s["Schedule/resolution"] for s in stats} == {4, 8, 16, 32}
    assert any(0 < s["Schedule/alpha"] < 1 for s in stats) and {s["Schedule/lr_g"] for s in stats} >= {0.003}

    run = Path(cli("train", *TINY, "--data", fmnist32, "--kimg", "0.096", "--outdir", tmp_path / "b", env=ONE, check=0).stdout.strip())
    st = _stage(run)
    assert (st["kind"], st["resolution"]) == ("fade", 8) and 0 < st["alpha"] < 1  # stopped mid-fade
    cli("resume", run, "--kimg", "0.128", env=ONE, check=0)  # exactly at the fade -> stabilise boundary (optimizers reset next)
    # The networks last ran at the fade's final step (alpha 56/64); the next step starts the stabilise phase.
    assert _stage(run)["kind"] == "fade" and _stage(run)["alpha"] == 0.875
    cli("resume", run, "--kimg", "0.176", env=ONE, check=0)  # mid-stabilise at 8x8
    assert (_stage(run)["kind"], _stage(run)["resolution"]) == ("stabilise", 8)
    cli("resume", run, "--kimg", END, env=ONE, check=0)
    _same(straight, run)

    # Samples from both are identical and say where in the schedule the network is.
    outs = []
    for r in (straight, run):
        p = cli("sample", r, "--seeds", "0-3", "--grid", "--json", "--no-provenance", "--outdir", tmp_path / f"s{len(outs)}",
                env=ONE, check=0)
        outs.append(json.loads(p.stdout))
    assert outs[0]["resolution"] == 32 and outs[0]["alpha"] == 1.0
    assert Path(outs[0]["files"][0]).read_bytes() == Path(outs[1]["files"][0]).read_bytes()




def test_sigkill_during_a_fade_then_resume_is_exact(tmp_path, fmnist32, cli):
    straight = Path(cli("train", *TINY, "--data", fmnist32, "--kimg", END, "--outdir", tmp_path / "a", env=ONE, check=0).stdout.strip())
    proc = subprocess.Popen([sys.executable, "-m", "ganctl", "train", *TINY, "--data", str(fmnist32), "--kimg", END,
                             "--outdir", str(tmp_path / "k"), "train.keep_checkpoints=0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    run, killed_in = None, None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "k").glob("*/*/checkpoints/latest"))
        if found:
            run = found[0].parent.parent
            st = _stage(run)
            if st["kind"] == "fade" and st["resolution"] == 16:
                proc.send_signal(signal.SIGKILL)
                killed_in = st
                break
        time.sleep(0.01)
    proc.wait()
    assert killed_in is not None, "the run ended before the 16x16 fade-in"
    # A mid-fade checkpoint samples at its own resolution and alpha.
    p = cli("sample", run, "--seeds", "0-1", "--json", "--outdir", tmp_path / "mid", env=ONE, check=0)
    info = json.loads(p.stdout)
    assert info["resolution"] == 16 and 0 <= info["alpha"] < 1
    stage = json.loads(cli("info", run, "--json", env=ONE, check=0).stdout)["stage"]
    assert stage == _stage(run) and stage["resolution"] == info["resolution"]
    cli("resume", run, "--kimg", END, env=ONE, check=0)
    _same(straight, run)


@pytest.mark.slow  # 2 gloo processes; the 2-process engine path is covered by the default distributed tests
def test_two_processes_match_one(tmp_path, fmnist32, cli):
    args = [*TINY, "progressive.batch_gpu={4: 8, 8: 4, 16: 8, 32: 4}", "--data", fmnist32, "--kimg", "0.256"]
    one = Path(cli("train", *args, "--outdir", tmp_path / "one", env=ONE, check=0).stdout.strip())
    p = subprocess.run([sys.executable, "-m", "ganctl", "train", "--gpus", "2", *map(str, args), "--outdir", str(tmp_path / "two")],
                       capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert p.returncode == 0, p.stderr
    two = Path(p.stdout.strip().splitlines()[-1])
    a, b = _state(one), _state(two)
    for k in a:
        if k.startswith(("G/", "D/", "G_ema/")):
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
