"""`ganctl sample` and `ganctl interpolate` through the real CLI, and the per-seed latent rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganctl.sampling.interpolate import slerp
from ganctl.sampling.latents import z_for_seeds


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_image_depends_only_on_seed(tmp_path, tiny_cgan_run, cli):
    cli("sample", tiny_cgan_run, "--seeds", "0-9", "--outdir", tmp_path / "a", "--batch-size", "3", check=0)
    # --workers 1 writes in the calling thread; the default encodes PNGs on a thread pool: same files either way.
    cli("sample", tiny_cgan_run, "--seeds", "7,2", "--outdir", tmp_path / "b", "--batch-size", "1", "--workers", "1",
        check=0)
    for s in (2, 7):
        assert np.array_equal(_png(tmp_path / "a" / f"seed{s:04d}.png"), _png(tmp_path / "b" / f"seed{s:04d}.png"))
    assert len(list((tmp_path / "a").glob("seed*.png"))) == 10
    # Different seeds give different images.
    assert not np.array_equal(_png(tmp_path / "a" / "seed0000.png"), _png(tmp_path / "a" / "seed0001.png"))


def test_grid_truncation_and_class(tmp_path, tiny_cgan_run, cli):
    grid = cli("sample", tiny_cgan_run, "--seeds", "0-5", "--grid", "--outdir", tmp_path, check=0).stdout.strip()
    arr = _png(grid)
    assert arr.shape == (2 * 32, 3 * 32)  # 6 images -> 2 rows x 3 cols, grayscale
    cli("sample", tiny_cgan_run, "--seeds", "0", "--truncation", "0", "--outdir", tmp_path / "t0", check=0)
    cli("sample", tiny_cgan_run, "--seeds", "10", "--truncation", "0", "--outdir", tmp_path / "t0", check=0)
    # psi = 0 collapses z to the prior mean: the image no longer depends on the seed (same class: 0 and 10 -> class 0).
    assert np.array_equal(_png(tmp_path / "t0" / "seed0000.png"), _png(tmp_path / "t0" / "seed0010.png"))
    cli("sample", tiny_cgan_run, "--seeds", "0", "--class", "3", "--outdir", tmp_path / "c3", check=0)
    cli("sample", tiny_cgan_run, "--seeds", "0", "--outdir", tmp_path / "c0", check=0)  # default class 0 % 10 = 0
    assert not np.array_equal(_png(tmp_path / "c3" / "seed0000.png"), _png(tmp_path / "c0" / "seed0000.png"))
    p = cli("sample", tiny_cgan_run, "--seeds", "0", "--class", "12", "--outdir", tmp_path / "bad", check=2)
    assert "--class 12" in p.stderr and "0..9" in p.stderr


def test_sample_write_failure_is_one_line(tmp_path, tiny_cgan_run, cli):
    out = tmp_path / "out"
    (out / "seed0003.png").mkdir(parents=True)  # a folder where the PNG should go: the rename fails
    p = cli("sample", tiny_cgan_run, "--seeds", "0-5", "--outdir", out, "--workers", "2", check=1)
    assert "could not write" in p.stderr and "seed0003.png" in p.stderr and "Traceback" not in p.stderr
    assert not list(out.glob("*.tmp"))


def test_sample_defaults_to_newest_run(tmp_path, tiny_cgan_run, cli):
    runs = tmp_path / "runs"
    shutil.copytree(tiny_cgan_run.parent.parent, runs)
    p = cli("sample", "--seeds", "0-1", "--outdir", "out", cwd=tmp_path, check=0)
    assert (tmp_path / "out" / "seed0001.png").exists(), p.stderr
    p = cli("sample", "--seeds", "0-1", cwd=tmp_path / "out", check=2)
    assert "no trained run under" in p.stderr


@pytest.mark.parametrize("bad,msg", [("--seeds=5-1", "--seeds"), ("--seeds=a", "--seeds"), ("--noise-mode=loud", "--noise-mode")])
def test_sample_bad_flags(tmp_path, tiny_cgan_run, cli, bad, msg):
    p = cli("sample", tiny_cgan_run, bad, "--outdir", tmp_path, check=2)
    assert msg in p.stderr and "Traceback" not in p.stderr


def test_sample_refuses_pickles_and_missing(tmp_path, cli):
    pkl = tmp_path / "network.pkl"
    pkl.write_bytes(b"\x80\x04K\x01.")  # a pickle, but of the int 1: no network in it (tests/interop has the rest)
    p = cli("sample", pkl, check=2)
    assert "not an NVlabs network pickle" in p.stderr and "Traceback" not in p.stderr
    p = cli("sample", tmp_path / "nope", check=2)
    assert "no such run directory" in p.stderr


def test_interpolate_gif_frames_loop(tmp_path, tiny_cgan_run, cli):
    gif = tmp_path / "walk.gif"
    cli("interpolate", tiny_cgan_run, "--seeds", "1,5,9", "--steps", "4", "--out", gif, check=0)
    im = Image.open(gif)
    assert im.n_frames == 2 * 4 + 1
    cli("interpolate", tiny_cgan_run, "--seeds", "1,5,9", "--steps", "4", "--loop", "--out", tmp_path / "frames", check=0)
    frames = sorted((tmp_path / "frames").glob("frame*.png"))
    assert len(frames) == 3 * 4
    # The first frame is seed 1's image exactly.
    cli("sample", tiny_cgan_run, "--seeds", "1", "--outdir", tmp_path / "s", check=0)
    assert np.array_equal(_png(frames[0]), _png(tmp_path / "s" / "seed0001.png"))
    p = cli("interpolate", tiny_cgan_run, "--seeds", "1", "--out", gif, check=2)
    assert "at least two seeds" in p.stderr
    p = cli("interpolate", tiny_cgan_run, "--seeds", "1,2", "--space", "w", "--out", gif, check=2)
    assert "no W space" in p.stderr


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_interpolate_mp4(tmp_path, tiny_cgan_run, cli):
    mp4 = tmp_path / "walk.mp4"
    cli("interpolate", tiny_cgan_run, "--seeds", "1,2", "--steps", "6", "--out", mp4, check=0)
    assert mp4.stat().st_size > 1000 and mp4.read_bytes()[4:8] == b"ftyp"


def test_slerp_properties():
    z = z_for_seeds([1, 2], 64)
    a, b = z[0], z[1]
    t = torch.tensor([0.0, 0.5, 1.0]).view(-1, 1)
    out = slerp(a.expand(3, -1), b.expand(3, -1), t)
    assert torch.allclose(out[0], a, atol=1e-5) and torch.allclose(out[2], b, atol=1e-5)
    # Midpoint norm stays near the endpoints' norms (lerp would shrink it).
    assert abs(out[1].norm() - (a.norm() + b.norm()) / 2) < 0.1 * a.norm()


def test_z_rule_is_numpy_randomstate():
    z = z_for_seeds([42], 8)
    assert np.allclose(z.numpy()[0], np.random.RandomState(42).randn(8).astype(np.float32))
