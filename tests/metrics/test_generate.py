"""Metrics straight from a trained run: `--num N` images generated per seed, never written as PNGs, equal the same
seeds written by `ganctl sample` and read back as a folder."""

from __future__ import annotations

import numpy as np
import pytest

from metrics_testdata import run_cli, run_json


@pytest.mark.slow
def test_fid_stats_from_run_equal_sampled_pngs(tiny_cgan_run, weights, tmp_path):
    run_cli("sample", tiny_cgan_run, "--seeds", "0-11", "--outdir", tmp_path / "pngs", "--device", "cpu")
    common = ["--weights", weights, "--device", "cpu", "--workers", "0"]
    gen = run_json("fid", tiny_cgan_run, "--num", "12", "--save-stats", tmp_path / "gen.npz", *common)
    png = run_json("fid", tmp_path / "pngs", "--save-stats", tmp_path / "png.npz", *common)
    assert gen["inputs"][0]["kind"] == "generator" and gen["inputs"][0]["n"] == 12 and png["inputs"][0]["n"] == 12
    with np.load(tmp_path / "gen.npz") as g, np.load(tmp_path / "png.npz") as p:
        assert np.allclose(g["mu"], p["mu"], rtol=0, atol=1e-9) and np.allclose(g["sigma"], p["sigma"], rtol=0, atol=1e-9)
    res = run_json("is", tiny_cgan_run, "--num", "12", "--splits", "3", "--class", "1", *common)
    assert res["is_mean"] >= 1.0 and res["inputs"][0]["kind"] == "generator"


def test_run_without_num_is_a_usage_error(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    r = run_cli("fid", run, run, check=False)
    assert r.returncode == 2 and "--num" in r.stderr
