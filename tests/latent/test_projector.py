"""The projector against NVlabs' formulas (lr and w-noise schedules, w statistics, the noise-map regularisation), its
target preparation (centre crop + LANCZOS), the projected_w.npz format, and short real runs (pixel MSE; LPIPS-VGG16
with seeded random weights built in memory)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganctl.errors import UsageError
from ganctl.latent import projector as P
from ganctl.latent.wspace import load_projected_w, save_projected_w


def test_schedules_are_nvlabs():
    cfg = P.ProjectorConfig(steps=1000)
    for step in (0, 10, 49, 50, 400, 750, 800, 999):
        t = step / 1000  # NVlabs projector.py, written out
        ramp = min(1.0, (1.0 - t) / 0.25)
        ramp = 0.5 - 0.5 * np.cos(ramp * np.pi)
        ramp = ramp * min(1.0, t / 0.05)
        assert P.learning_rate(cfg, step) == pytest.approx(0.1 * ramp, abs=1e-12)
        assert P.w_noise_scale(cfg, step, 2.0) == pytest.approx(2.0 * 0.05 * max(0.0, 1.0 - t / 0.75) ** 2)


def test_w_stats_are_nvlabs(tiny_G):
    w_avg, w_std = P.w_stats(tiny_G, 500, "cpu")
    z = np.random.RandomState(123).randn(500, tiny_G.z_dim)
    w = tiny_G.mapping(torch.from_numpy(z).float(), None)[:, :1, :].numpy().astype(np.float32)
    avg = np.mean(w, axis=0, keepdims=True)
    np.testing.assert_allclose(w_avg.numpy(), avg, rtol=1e-5, atol=1e-6)
    assert w_std == pytest.approx((np.sum((w - avg) ** 2) / 500) ** 0.5, rel=1e-5)


def test_noise_regularisation_is_nvlabs_per_target():
    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(3, 1, 32, 32, generator=g), torch.randn(3, 1, 4, 4, generator=g)]
    got = P.noise_regularisation(maps)
    for b in range(3):
        reg = 0.0
        for v in maps:
            noise = v[b][None]
            while True:
                reg += (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
                reg += (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
                if noise.shape[2] <= 8:
                    break
                noise = F.avg_pool2d(noise, kernel_size=2)
        assert float(got[b]) == pytest.approx(float(reg), rel=1e-5)


def test_target_is_centre_cropped_and_lanczos_resized(tmp_path):
    from PIL import Image

    arr = np.random.RandomState(0).randint(0, 256, (30, 50, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "t.png")
    said = []
    got = P.load_target(tmp_path / "t.png", 16, 3, said.append)
    want = np.asarray(Image.fromarray(arr).crop((10, 0, 40, 30)).resize((16, 16), Image.LANCZOS))
    assert np.array_equal(got, want) and "centre-cropped" in said[0] and "LANCZOS" in said[0]
    assert P.load_target(tmp_path / "t.png", 16, 1).shape == (16, 16, 1)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(UsageError, match="bad.png: not a readable image"):
        P.load_target(tmp_path / "bad.png", 16, 3)


def test_projected_w_format(tmp_path):
    ws = torch.randn(1, 6, 16)
    save_projected_w(ws, tmp_path / "projected_w.npz")
    with np.load(tmp_path / "projected_w.npz") as f:
        assert f.files == ["w"] and f["w"].shape == (1, 6, 16) and f["w"].dtype == np.float32
    assert torch.equal(load_projected_w(tmp_path / "projected_w.npz", 6, 16), ws)
    np.savez(tmp_path / "one.npz", w=np.ones(16, np.float32))  # a single w broadcasts
    assert load_projected_w(tmp_path / "one.npz", 6, 16).shape == (1, 6, 16)
    with pytest.raises(UsageError, match=r"needs \[N, 8, 16\]"):
        load_projected_w(tmp_path / "projected_w.npz", 8, 16)
    np.savez(tmp_path / "x.npz", v=np.ones(3))
    with pytest.raises(UsageError, match="no array `w`"):
        load_projected_w(tmp_path / "x.npz", 6, 16)


def _targets(G, seeds):
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in seeds]).astype(np.float32))
    with torch.no_grad():
        return (G(z) * 127.5 + 128).clamp(0, 255).to(torch.uint8), G.mapping(z, None)


def test_projection_runs_and_improves(tiny_G):
    tgt, _ = _targets(tiny_G, [1, 2])
    noise_before = tiny_G.synthesis.b8.conv1.noise_const.clone()
    cfg = P.ProjectorConfig(steps=40, loss="mse", w_avg_samples=500)
    res = P.project(tiny_G, tgt, cfg, keep_steps=True)
    assert res["w"].shape == (2, tiny_G.num_ws, tiny_G.w_dim) and res["w_steps"].shape == (40, 2, tiny_G.num_ws, 16)
    assert torch.equal(res["w"][:, 0], res["w"][:, -1])  # W space: one w broadcast
    assert torch.equal(tiny_G.synthesis.b8.conv1.noise_const, noise_before)  # the caller's G is untouched
    start = P.image_metrics(((tiny_G.synthesis(P.w_stats(tiny_G, 500, "cpu")[0].expand(2, tiny_G.num_ws, -1))
                              * 127.5 + 128).clamp(0, 255).to(torch.uint8)), tgt)
    end = P.image_metrics((tiny_G.synthesis(res["w"]) * 127.5 + 128).clamp(0, 255).to(torch.uint8), tgt)
    assert all(e["mse"] < 0.7 * s["mse"] for s, e in zip(start, end))
    wplus = P.project(tiny_G, tgt[:1], P.ProjectorConfig(steps=3, loss="mse", space="w+", w_avg_samples=100),
                      start_w=res["w"][:1])
    assert not torch.equal(wplus["w"][0, 0], wplus["w"][0, -1])  # W+: one w per layer


def test_const_noise_reproduces_the_generators_own_images_better(tiny_G):
    """--noise const keeps the network's own noise maps (those sample and proj.png use), so projecting an image the
    generator made can reach it exactly; re-drawn, optimised maps (NVlabs) are lost when proj.png is rendered."""
    tgt, _ = _targets(tiny_G, [4, 5])
    mse = {}
    for mode in ("optimise", "const"):
        res = P.project(tiny_G, tgt, P.ProjectorConfig(steps=40, loss="mse", space="w+", w_avg_samples=500, noise=mode))
        synth = (tiny_G.synthesis(res["w"]) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        mse[mode] = [m["mse"] for m in P.image_metrics(synth, tgt)]
    assert sum(mse["const"]) < 0.7 * sum(mse["optimise"]), mse  # measured 0.0101 vs 0.0180 (0.56)
    with pytest.raises(UsageError, match="--noise"):
        P.ProjectorConfig(noise="random").check()


def test_projection_with_lpips(tiny_G):
    from ganctl.metrics.lpips import LPIPS
    from ganctl.metrics.vgg16 import VGG16Detector

    torch.manual_seed(0)
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) * 0.1 for i, c in enumerate((64, 128, 256, 512, 512))}
    lp = LPIPS(VGG16Detector(), lin).eval()
    tgt, _ = _targets(tiny_G, [3])
    res = P.project(tiny_G, tgt, P.ProjectorConfig(steps=3, w_avg_samples=100), lp)
    assert len(res["loss"]) == 1 and math.isfinite(res["loss"][0])
    m = P.image_metrics(tgt, tgt, lp)[0]
    assert m["mse"] == 0 and m["psnr"] == float("inf") and m["lpips"] == pytest.approx(0, abs=1e-6)
    with pytest.raises(UsageError, match="--loss lpips needs"):
        P.project(tiny_G, tgt, P.ProjectorConfig(steps=1))
    with pytest.raises(UsageError, match="--space"):
        P.ProjectorConfig(space="z").check()
