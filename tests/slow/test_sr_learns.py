"""sr-tiny learns (slow): on 64 held-out Fashion-MNIST test images (x4: 8x8 -> 32x32), the PSNR stage beats MATLAB
bicubic upscaling by >= 1 dB PSNR(Y, crop 4), and the GAN stage (`train --init` from it) moves the high-frequency
power of its outputs closer to the HR images' than the PSNR stage's. The sharpness measure is weight-free: log10 of the
mean 2-D power spectrum beyond half the Nyquist radius, averaged over the images."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import load_fmnist, make_dataset  # noqa: E402

pytestmark = pytest.mark.slow


def hf_power(folder: Path) -> float:
    ps = []
    for f in sorted(folder.glob("*.png")):
        a = np.asarray(Image.open(f).convert("L"), dtype=np.float64)
        P = np.abs(np.fft.fftshift(np.fft.fft2(a - a.mean()))) ** 2
        h, w = P.shape
        yy, xx = np.mgrid[:h, :w]
        ps.append(P[np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2)) > 0.5].mean())
    return float(np.log10(np.mean(ps)))


def test_sr_tiny_learns(tmp_path):
    from ganctl import api
    from ganctl.data.imresize import imresize_uint8

    make_dataset(tmp_path / "train", 2048, 32, "fmnist32")
    imgs, _ = load_fmnist("test", 64)  # held out: the test split
    for d in ("hr", "lr", "bicubic"):
        (tmp_path / d).mkdir()
    for i, h in enumerate(np.pad(imgs, ((0, 0), (2, 2), (2, 2)))):
        lr = imresize_uint8(torch.from_numpy(h)[None], 0.25)
        Image.fromarray(h).save(tmp_path / "hr" / f"{i:03d}.png")
        Image.fromarray(lr[0].numpy()).save(tmp_path / "lr" / f"{i:03d}.png")
        Image.fromarray(imresize_uint8(lr, 4.0)[0].numpy()).save(tmp_path / "bicubic" / f"{i:03d}.png")
    psnr_run = api.train("sr-tiny", data=str(tmp_path / "train"), outdir=str(tmp_path / "runs"), kimg=24)["run_dir"]
    gan_run = api.train("sr-tiny-gan", data=str(tmp_path / "train"), outdir=str(tmp_path / "runs"), kimg=8,
                        init=psnr_run)["run_dir"]
    api.upscale(psnr_run, [str(tmp_path / "lr")], str(tmp_path / "psnr_out"), device="cpu")
    api.upscale(gan_run, [str(tmp_path / "lr")], str(tmp_path / "gan_out"), device="cpu")

    def psnr_y(d):
        return api.compare(str(tmp_path / "hr"), str(tmp_path / d), ["psnr"], crop_border=4, y_channel=True)["mean"]["psnr"]

    assert psnr_y("psnr_out") >= psnr_y("bicubic") + 1.0
    hr, p, g = hf_power(tmp_path / "hr"), hf_power(tmp_path / "psnr_out"), hf_power(tmp_path / "gan_out")
    assert abs(g - hr) < abs(p - hr)
