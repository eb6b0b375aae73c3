"""Metrics during training, end to end through `ganctl train`: metrics.jsonl lines, the tick record's Metrics/ fields,
checkpoints/best kept through pruning, refusal at start without detector weights, and an unchanged training result."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from random_inception import WEIGHTS_NAME, write_random_inception  # noqa: E402

from ganctl.engine.checkpoint import best_checkpoint, latest_checkpoint, list_checkpoints  # noqa: E402

ARGS = ["--preset", "vanilla-mnist", "model.hidden=[32]", "model.d_hidden=[32]", "model.z_dim=8", "train.batch=16",
        "train.tick_kimg=0.032", "train.grid_size=4", "train.image_snapshot_ticks=1000", "--seed", "2", "--kimg", "0.128"]


# Float results depend on the intra-op thread count: every run compared here uses one thread, as the killed ones do.
ONE = {"OMP_NUM_THREADS": "1"}


def test_metrics_during_training(tmp_path, fmnist28, cli):
    weights = write_random_inception(tmp_path / WEIGHTS_NAME, seed=0)
    env = {"GANCTL_INCEPTION_WEIGHTS": str(weights), "OMP_NUM_THREADS": "1"}
    run = Path(cli("train", *ARGS, "--data", fmnist28, "--outdir", tmp_path / "m", "train.metrics=[fid]",
                   "train.metric_ticks=2", "train.metric_num=6", "train.keep_checkpoints=1", "train.snapshot_ticks=1000",
                   env=env, check=0).stdout.strip())
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [round(x["kimg"], 3) for x in lines] == [0.064, 0.128]  # every 2 ticks of 0.032 kimg, incl. the last
    for x in lines:
        assert x["metric"] == "fid" and x["num"] == 6 and x["value"] > 0 and len(x["weights_sha256"]) == 64
    stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [("Metrics/fid" in s) for s in stats] == [False, True, False, True]
    best_kimg = min(lines, key=lambda x: x["value"])["kimg"]
    best = best_checkpoint(run / "checkpoints")
    assert best is not None and best.name == f"state-{int(round(best_kimg * 1000)):012d}.safetensors"
    assert best.exists() and latest_checkpoint(run / "checkpoints") in list_checkpoints(run / "checkpoints")
    # Evaluations never change what training computes.
    plain = Path(cli("train", *ARGS, "--data", fmnist28, "--outdir", tmp_path / "p", env=ONE, check=0).stdout.strip())
    a = load_file(str(latest_checkpoint(run / "checkpoints")))
    b = load_file(str(latest_checkpoint(plain / "checkpoints")))
    for k in a:
        if k.startswith(("G/", "D/", "G_ema/", "opt_")):
            assert torch.equal(a[k], b[k]), k
    cli("sample", run, "--checkpoint", "best", "--seeds", "0-1", "--outdir", tmp_path / "s", env=ONE, check=0)


def test_missing_detector_weights_refuse_the_run_at_start(tmp_path, fmnist28, cli):
    env = {"GANCTL_INCEPTION_WEIGHTS": str(tmp_path / "absent.pth"), "GANCTL_CACHE": str(tmp_path / "cache"),
           "TORCH_HOME": str(tmp_path / "th")}
    p = cli("train", *ARGS, "--data", fmnist28, "--outdir", tmp_path / "x", "train.metrics=[fid]", env=env, check=2)
    assert "train.metrics" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "x").exists()  # refused before anything is written
