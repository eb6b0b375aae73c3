"""Mixed precision: bf16 autocast and fp16 with dynamic loss scaling run (on CPU here), are recorded in the run,
and fp32 stays the CPU default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganctl.engine.checkpoint import latest_checkpoint, read_meta

TINY = ["model.g_channels=8", "model.d_channels=8", "train.batch=16", "train.tick_kimg=0.032", "train.grid_size=4"]


@pytest.mark.parametrize("mode", ["auto", "bf16", "fp16"])
def test_precision_modes(tmp_path, fmnist32, cli, mode):
    run = Path(cli("train", "--preset", "cgan-fashion-mnist", "--data", fmnist32, "--kimg", "0.032", "--outdir", tmp_path,
                   *TINY, f"train.precision={mode}", check=0).stdout.strip())
    env = json.loads((run / "env.json").read_text())
    want = "fp32" if mode == "auto" else mode  # auto on a CPU-only machine is fp32
    assert env["precision"] == want
    meta = read_meta(latest_checkpoint(run / "checkpoints"))
    assert meta["precision"] == want
    stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert all(abs(v) < 1e4 for k, v in stats[-1].items() if k.startswith("Loss/"))
    if mode == "fp16":
        assert meta["counters"]["loss_scale"] <= 2.0**15
