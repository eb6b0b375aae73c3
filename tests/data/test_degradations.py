"""Real-ESRGAN's second-order degradation (ganctl/data/degradations.py, `model.degradation=realesrgan`): kernels against
their formulas, the sinc kernel, real JPEG at the configured quality, output shapes, purity in (seed, position)
whatever the batch composition, validated settings, and a short CLI training run."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.special import j1

from ganctl.data import degradations as dg
from ganctl.errors import UsageError

P = dg.DEFAULT_PARAMS


def _r2(size):
    ax = np.arange(size) - size // 2
    return ax[None, :], ax[:, None]


def test_gaussian_kernels_match_their_formulas():
    x, y = _r2(11)
    k = dg.gaussian_kernel(11, 1.7, 1.7, 0.0)
    ref = np.exp(-(x ** 2 + y ** 2) / (2 * 1.7 ** 2))
    assert k.shape == (11, 11) and math.isclose(k.sum(), 1.0, rel_tol=1e-12)
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-12)
    assert np.allclose(k, k.T) and np.allclose(k, np.rot90(k))          # isotropic
    # Anisotropic: sigma 3 along the direction theta, 1 across it.
    th = 0.6
    a = dg.gaussian_kernel(15, 3.0, 1.0, th)
    x, y = _r2(15)
    u, v = x * math.cos(th) + y * math.sin(th), -x * math.sin(th) + y * math.cos(th)
    ref = np.exp(-0.5 * (u ** 2 / 9 + v ** 2))
    np.testing.assert_allclose(a, ref / ref.sum(), rtol=1e-10)
    assert not np.allclose(a, a.T)
    np.testing.assert_allclose(a, a[::-1, ::-1], rtol=1e-12)         # point symmetry holds for any Gaussian


def test_generalized_and_plateau_kernels_match_their_formulas():
    x, y = _r2(13)
    r2 = (x ** 2 + y ** 2) / 2.0 ** 2
    g = dg.generalized_gaussian_kernel(13, 2.0, 2.0, 0.0, 1.5)
    ref = np.exp(-0.5 * r2 ** 1.5)
    np.testing.assert_allclose(g, ref / ref.sum(), rtol=1e-10)
    np.testing.assert_allclose(dg.generalized_gaussian_kernel(13, 2.0, 2.0, 0.0, 1.0),
                               dg.gaussian_kernel(13, 2.0, 2.0, 0.0), rtol=1e-12)   # beta 1 is the Gaussian
    pl = dg.plateau_kernel(13, 2.0, 2.0, 0.0, 1.8)
    ref = 1 / (r2 ** 1.8 + 1)
    np.testing.assert_allclose(pl, ref / ref.sum(), rtol=1e-10)
    for k in (g, pl):
        assert math.isclose(k.sum(), 1.0, rel_tol=1e-12) and np.allclose(k, k.T) and np.allclose(k, np.rot90(k))


def test_sinc_kernel():
    size, wc = 15, 1.3
    k = dg.sinc_kernel(wc, size)
    x, y = _r2(size)
    r = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = wc * j1(wc * r) / (2 * np.pi * r)
    ref[7, 7] = wc ** 2 / (4 * np.pi)              # the limit at r = 0
    np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-12)
    assert k.shape == (15, 15) and math.isclose(k.sum(), 1.0, rel_tol=1e-12)
    assert np.allclose(k, k.T) and np.allclose(k, np.rot90(k)) and (k < 0).any()   # ringing lobes


def test_random_kernels_sizes_and_type_mix():
    rng = np.random.default_rng(0)
    p = dict(P, sinc_prob=0.0)
    sizes, iso = [], 0
    for _ in range(1500):
        k = dg.random_kernel(rng, p, 0.0, p["blur_sigma"])
        sizes.append(k.shape[0])
        assert k.shape[0] == k.shape[1] and math.isclose(k.sum(), 1.0, rel_tol=1e-9)
        iso += np.allclose(k, k.T, atol=1e-12)
    assert set(sizes) == set(range(7, 22, 2))
    # iso + generalized_iso + plateau_iso = 0.69 (a random-angle anisotropic kernel is almost never symmetric).
    assert abs(iso / 1500 - 0.69) < 0.05


def test_jpeg_is_real_and_uses_the_configured_quality():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (3, 16, 16), dtype=np.uint8)
    f = img.astype(np.float64) / 255
    out = dg.jpeg(f, 30)
    buf = io.BytesIO()
    Image.fromarray(img.transpose(1, 2, 0)).save(buf, format="JPEG", quality=30)
    assert np.array_equal(np.round(out * 255).astype(np.uint8), np.asarray(Image.open(buf)).transpose(2, 0, 1))
    assert not np.array_equal(np.round(out * 255), img)
    assert np.abs(dg.jpeg(f, 95) - f).mean() < np.abs(out - f).mean()
    # The whole pipeline with blur ~ identity, no noise, no resize, scale 1: exactly two JPEG passes at quality q.
    p = dict(P, sinc_prob=0.0, sinc_prob2=0.0, final_sinc_prob=0.0, kernel_size_range=[7, 7], blur_sigma=[0.01, 0.01],
             blur_sigma2=[0.01, 0.01], kernel_prob=[1, 0, 0, 0, 0, 0], resize_prob=[0, 0, 1], resize_prob2=[0, 0, 1],
             gaussian_noise_prob=1.0, noise_range=[0.0, 0.0], gaussian_noise_prob2=1.0, noise_range2=[0.0, 0.0],
             jpeg_range=[40, 40], jpeg_range2=[40, 40])
    dg.check_params(p)
    lr = dg.degrade(img, 1, np.random.default_rng(3), p)
    assert np.array_equal(lr, np.round(dg.jpeg(dg.jpeg(f, 40), 40) * 255).astype(np.uint8))


def test_output_shapes_and_purity():
    rng = np.random.default_rng(2)
    for c, hw, s in ((3, 32, 4), (1, 16, 4), (3, 24, 2)):
        hr = rng.integers(0, 256, (c, hw, hw), dtype=np.uint8)
        outs = [dg.degrade(hr, s, np.random.default_rng([9, i]), P) for i in range(6)]
        assert all(o.shape == (c, hw // s, hw // s) and o.dtype == np.uint8 for o in outs)
        assert np.array_equal(outs[0], dg.degrade(hr, s, np.random.default_rng([9, 0]), P))
        assert len({o.tobytes() for o in outs}) == 6


def test_hr_pairs_are_a_pure_function_of_seed_and_position(fmnist32):
    from ganctl.config import resolve_config
    from ganctl.data.dataset import PreparedDataset
    from ganctl.models import get_family

    cfg = resolve_config("sr-tiny", overrides=["model.degradation=realesrgan"])
    src = get_family("sr").make_batches(cfg, PreparedDataset(fmnist32))
    whole = src.load(7, 40, 8)
    assert whole["input"].dtype == torch.uint8 and whole["input"].shape == (8, 1, 8, 8)
    halves = [src.load(7, 40, 8, rank=r, world_size=2) for r in (0, 1)]
    split = [src.load(7, 40, 3), src.load(7, 43, 5)]
    for parts in (halves, split):
        for k in whole:
            assert torch.equal(torch.cat([p[k] for p in parts]), whole[k])
    # Not bicubic: the same targets give different inputs than the default degradation.
    bicubic = get_family("sr").make_batches(resolve_config("sr-tiny"), PreparedDataset(fmnist32)).load(7, 40, 8)
    assert torch.equal(bicubic["target"], whole["target"]) and not torch.equal(bicubic["input"], whole["input"])
    assert not torch.equal(src.load(8, 40, 8)["input"], whole["input"])


def test_bad_settings_are_refused(fmnist32):
    from ganctl.config import resolve_config
    from ganctl.data.dataset import PreparedDataset
    from ganctl.models import get_family

    for override, needle in (("model.degradation_params.kernel_prob=[0.5,0.5,0,0,0,0.5]", "summing to 1"),
                             ("model.degradation_params.sinc_prob=1.5", "probability"),
                             ("model.degradation_params.kernel_size_range=[6,21]", "odd"),
                             ("model.degradation_params.jpeg_range=[95,30]", "range"),
                             ("model.degradation=jpeg", "not one of")):
        cfg = resolve_config("sr-tiny", overrides=[override])
        with pytest.raises(UsageError, match=needle):
            get_family("sr").make_batches(cfg, PreparedDataset(fmnist32))
    with pytest.raises(UsageError, match="degradation_params.sinc_prb"):
        resolve_config("sr-tiny", overrides=["model.degradation_params.sinc_prb=0.2"])


def test_cli_trains_with_realesrgan_degradation(tmp_path, fmnist32, cli):
    from ganctl.engine.checkpoint import latest_checkpoint
    from pathlib import Path

    run = Path(cli("train", "--preset", "sr-tiny", "--data", fmnist32, "--kimg", "0.016", "--outdir", tmp_path,
                   "model.degradation=realesrgan", "model.num_feat=8", "model.num_conv=2", "train.batch=8",
                   "train.tick_kimg=0.016", "train.grid_size=4", "train.threads=1", check=0).stdout.strip())
    assert latest_checkpoint(run / "checkpoints") is not None
    assert "realesrgan" in "".join(p.read_text() for p in run.glob("*.yaml"))


def test_noise_gray_and_colour():
    # An 8-bit ramp over 0.2..0.8 (Poisson noise has as many levels as the image: a flat image would get huge noise).
    img = np.broadcast_to((np.round(np.linspace(51, 204, 256)) / 255).reshape(16, 16), (3, 16, 16)).copy()
    rng = np.random.default_rng(4)
    for gauss, rng_range in ((1.0, [5.0, 5.0]), (0.0, [1.0, 1.0])):   # Gaussian sigma 5/255; Poisson scale 1
        gray = dg.add_noise(img, rng, gauss, rng_range, rng_range, gray_prob=1.0)
        colour = dg.add_noise(img, rng, gauss, rng_range, rng_range, gray_prob=0.0)
        assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2]) and not np.allclose(gray, img)
        assert not np.array_equal(colour[0], colour[1])
        assert abs((colour - img).mean()) < 0.01
    g = dg.add_noise(img, rng, 1.0, [5.0, 5.0], [1.0, 1.0], gray_prob=0.0)
    assert abs((g - img).std() - 5 / 255) < 0.003
