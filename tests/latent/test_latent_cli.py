"""The latent commands through the real CLI on a trained stylegan-tiny run (few subprocesses: each costs a torch
import), plus video keyframes and bad inputs through the library API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from _testdata import run_cli
from ganctl import api
from ganctl.errors import UsageError


def test_directions_edit_project_sample_video(tiny_style_run, tmp_path):
    run = tiny_style_run
    p = run_cli("directions", run, "--method", "sefa", "--out", tmp_path / "d.npz", "--json", check=0)
    assert json.loads(p.stdout)["count"] == 64  # stylegan-tiny: w_dim 64
    p = run_cli("edit", run, "--seeds", "0-1", "--direction", f"{tmp_path / 'd.npz'}:0", "--strength", "-2:2",
                "--steps", "5", "--layers", "0-3", "--out", tmp_path / "edit.png", check=0)
    assert Image.open(tmp_path / "edit.png").size == (5 * 32, 2 * 32)
    api.sample(run, [7], outdir=str(tmp_path / "t"))
    p = run_cli("project", run, tmp_path / "t" / "seed0007.png", "--steps", "8", "--loss", "mse", "--out",
                tmp_path / "proj", "--json", check=0)
    rec = json.loads(p.stdout)["targets"][0]
    assert {"mse", "psnr", "lpips"} <= set(rec) and rec["lpips"] is None and rec["psnr"] > 0
    assert "32x32" not in p.stderr  # already at the network's size: no resize said
    with np.load(tmp_path / "proj" / "projected_w.npz") as f:
        assert f["w"].shape == (1, 8, 64)  # stylegan-tiny at 32 px: 8 ws
    run_cli("sample", run, "--projected-w", tmp_path / "proj" / "projected_w.npz", "--outdir", tmp_path / "s", check=0)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s" / "proj00.png")),
                          np.asarray(Image.open(tmp_path / "proj" / "proj.png")))
    p = run_cli("video", run, "--seeds", "0-7", "--grid", "2x2", "--w-frames", "3", "--out", tmp_path / "v.mp4",
                "--fps", "10", "--json", check=0)
    assert json.loads(p.stdout)["frames"] == 6 and (tmp_path / "v.mp4").stat().st_size > 0
    p = run_cli("edit", run, "--seeds", "0", "--direction", f"{tmp_path / 'd.npz'}:99", check=2)
    assert "direction 99 out of range" in p.stderr and "Traceback" not in p.stderr


def test_video_passes_through_its_keyframes(tiny_style_run, tmp_path):
    from ganctl.latent.wspace import ws_for_seeds
    from ganctl.sampling.generate import load_generator

    res = api.video(tiny_style_run, seeds=[3, 4, 5], grid="1x1", w_frames=4, out=str(tmp_path / "frames"), device="cpu")
    assert res["frames"] == 12 and res["keyframes"] == 3
    gen = load_generator(tiny_style_run, "cpu")
    ws = ws_for_seeds(gen, [3, 4, 5])
    want = (gen.G.synthesis(ws) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    for k in range(3):
        got = np.asarray(Image.open(tmp_path / "frames" / f"frame{4 * k:05d}.png"))
        assert np.abs(got.astype(int) - want[k, 0].numpy().astype(int)).max() <= 1  # float32 spline round-off


def test_bad_inputs(tiny_style_run, tiny_cgan_run, tmp_path):
    with pytest.raises(UsageError, match="no W space"):
        api.directions(tiny_cgan_run, "sefa", str(tmp_path / "d.npz"), device="cpu")
    with pytest.raises(UsageError, match="--method"):
        api.directions(tiny_style_run, "pca", str(tmp_path / "d.npz"))
    with pytest.raises(UsageError, match="--scores"):
        api.directions(tiny_style_run, "boundary", str(tmp_path / "d.npz"))
    with pytest.raises(UsageError, match="--layers: layer 9 out of range"):
        api.directions(tiny_style_run, "sefa", str(tmp_path / "d.npz"), layers=[9], device="cpu")
    with pytest.raises(UsageError, match="no such directions file"):
        api.edit(tiny_style_run, str(tmp_path / "none.npz:0"), seeds=[0])
    with pytest.raises(UsageError, match="--grid"):
        api.video(tiny_style_run, seeds=[0, 1], grid="4by2")
    with pytest.raises(UsageError, match="either --seeds or --projected-w"):
        api.video(tiny_style_run, grid="1x1")
    with pytest.raises(UsageError, match="--steps"):
        api.project(tiny_style_run, ["x.png"], steps=0)
    assert not (tmp_path / "d.npz").exists()  # nothing half-written
    # z-input families walk in z
    res = api.video(tiny_cgan_run, seeds=[0, 1], grid="2x1", w_frames=2, keyframes=2, out=str(tmp_path / "z.gif"),
                    device="cpu")
    assert res["space"] == "z" and res["frames"] == 4


@pytest.mark.parametrize("cmd", ["directions", "edit", "project", "video"])
def test_help_has_an_example(cmd):
    from typer.testing import CliRunner

    from ganctl.cli.app import app

    p = CliRunner().invoke(app, [cmd, "--help"])
    assert p.exit_code == 0 and "Example: ganctl " + cmd in " ".join(p.output.split())
