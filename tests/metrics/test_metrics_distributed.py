"""Sharded extraction under torchrun (2 CPU processes on gloo) gives the single-process numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from metrics_testdata import run_json, write_fmnist, write_odd_images


@pytest.mark.slow
def test_torchrun_two_ranks_equal_single_process(tmp_path, weights):
    a, b = tmp_path / "a", tmp_path / "b"
    write_fmnist(a, 0, 7)
    write_odd_images(a)  # 12 images, mixed sizes: rank 0 and rank 1 get 6 each
    write_fmnist(b, 500, 11)  # odd count: uneven shards
    # Batch size 1 and one thread on both sides: conv kernels then see the same shapes, so any difference left is
    # the sharding itself (stats merge, feature gather order), which must be float64 round-off.
    common = ["--weights", str(weights), "--device", "cpu", "--workers", "0", "--batch-size", "1", "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1", GANCTL_OFFLINE="1")

    def torchrun(*args):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29531",
               "-m", "ganctl", *map(str, args), *common]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)  # only rank 0 prints

    multi_fid = torchrun("fid", a, b)
    multi_is = torchrun("is", a, "--splits", "4")
    one = {"OMP_NUM_THREADS": "1"}
    single_fid = run_json("fid", a, b, *common[:-1], env_extra=one)
    single_is = run_json("is", a, "--splits", "4", *common[:-1], env_extra=one)
    assert multi_fid["world_size"] == 2 and single_fid["world_size"] == 1
    assert [s["n"] for s in multi_fid["inputs"]] == [12, 11]
    assert multi_fid["fid"] == pytest.approx(single_fid["fid"], rel=1e-9)
    # IS depends on item order (shuffle, splits): gathered features must come back in file order.
    assert multi_is["is_mean"] == pytest.approx(single_is["is_mean"], rel=1e-9)
    assert multi_is["is_std"] == pytest.approx(single_is["is_std"], rel=1e-9)
