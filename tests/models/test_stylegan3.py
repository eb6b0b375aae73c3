"""StyleGAN3 (-t, -r): exact parameter counts, the layer schedule and filters, the generator seam the latent tools
use, magnitude EMA, the input transform, the D-input blur, and training + sampling through the real CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import torch

from ganctl.errors import UsageError
from ganctl.models.stylegan3 import build
from ganctl.models.stylegan3.filters import layer_schedule
from _testdata import count_params

TINY = {"config": "t", "z_dim": 16, "w_dim": 16, "channel_base": 256, "channel_max": 16, "num_layers": 4,
        "margin_size": 2, "d_cmap_layers": 2}


# NVlabs' counts (FACTS.md; z = w = 512, 2 mapping layers, unconditional).
@pytest.mark.parametrize("config,res,base,want", [
    ("t", 1024, 32768, 22_313_167), ("r", 1024, 32768, 15_093_151), ("t", 512, 32768, 24_873_519),
    ("r", 512, 32768, 16_665_594), ("t", 256, 16384, 23_320_443), ("r", 256, 16384, 15_779_565),
    ("t", 256, 32768, 28_472_133), ("r", 256, 32768, 18_816_387),
])
def test_generator_parameter_counts_equal_nvlabs(config, res, base, want):
    with torch.device("meta"):
        G, D = build({"config": config, "channel_base": base}, res, 3, 0)
    assert count_params(G) == want
    assert count_params(G.mapping) == 525_312
    assert G.num_ws == 16 and len(G.style_affines()) == 15


def test_presets_show_summary_counts(cli):
    p = cli("presets", "show", "stylegan3-r-ffhq", "--summary", "--json", check=0)
    s = json.loads(p.stdout)
    # -r's D keeps the un-doubled settings: it is the StyleGAN2 config-F D (FACTS.md: 29,012,513).
    assert (s["resolution"], s["G_params"], s["D_params"]) == (1024, 15_093_151, 29_012_513)


def test_presets_resolve_to_the_published_configurations():
    from ganctl.config.load import resolve_config
    from ganctl.models.summary import summarize

    want = {"stylegan3-t-ffhq": (1024, 22_313_167), "stylegan3-t-ffhqu256": (256, 23_320_443),
            "stylegan3-r-afhqv2": (512, 16_665_594)}
    for name, (res, g) in want.items():
        cfg = resolve_config(preset=name)
        s = summarize(cfg, name)
        assert (s["resolution"], s["G_params"]) == (res, g), name
    cfg = resolve_config(preset="stylegan3-r-ffhq")
    assert cfg["loss"]["blur_init_sigma"] == 10 and cfg["loss"]["pl_weight"] == 0


def test_schedule_matches_the_paper_at_1024():
    s = layer_schedule(1024, 3)
    sizes = [l.out_size for l in s.layers]
    chans = [l.out_channels for l in s.layers]
    assert (s.input_size, s.input_channels) == (36, 512)
    assert sizes == [36, 36, 52, 52, 84, 148, 148, 276, 276, 532, 1044, 1044, 1044, 1024, 1024]
    assert chans == [512] * 7 + [323, 203, 128, 81, 51, 32, 32, 3]
    assert [l.is_critically_sampled for l in s.layers] == [False] * 12 + [True] * 3


def test_filters_are_nvlabs_designs():
    G, _ = build({**TINY, "config": "r"}, 32, 1, 0)
    layers = G.synthesis.layers()
    L = layers[1]
    fs = max(L.spec.in_sampling_rate, L.spec.out_sampling_rate) * 2
    want = scipy.signal.firwin(L.up_taps, L.spec.in_cutoff, width=L.spec.in_half_width * 2, fs=fs)
    np.testing.assert_allclose(L.up_filter.numpy(), want.astype(np.float32))
    # -r: 2-D radial down filters (unit DC gain, symmetric) except in critically sampled layers and ToRGB.
    assert L.down_filter.ndim == 2 and torch.allclose(L.down_filter, L.down_filter.T)
    assert abs(float(L.down_filter.sum()) - 1) < 1e-5
    assert layers[-2].down_filter is None or layers[-2].down_filter.ndim == 1
    assert layers[-1].up_filter is None and layers[-1].down_filter is None and layers[-1].conv_kernel == 1


def test_seam_truncation_and_shapes():
    torch.manual_seed(0)
    G, D = build(TINY, 32, 3, 0)
    G.eval()
    z = torch.randn(3, 16)
    ws = G.mapping(z, None)
    assert ws.shape == (3, G.num_ws, G.w_dim) and G.w_avg.shape == (16,)
    img = G.synthesis(ws, noise_mode="const")
    assert img.shape == (3, 3, 32, 32) and img.dtype == torch.float32
    torch.testing.assert_close(G(z), img)
    ws0 = G.mapping(z, None, truncation_psi=0)
    assert torch.allclose(ws0, G.w_avg.expand_as(ws0))
    assert D(img, None).shape == (3, 1)
    assert [i for i, _ in G.style_affines()] == list(range(1, G.num_ws))
    assert all(a.out_features == l.in_channels for (_, a), l in zip(G.style_affines(), G.synthesis.layers()))


@pytest.mark.parametrize("config", ["t", "r"])
def test_unfused_modconv_equals_fused(config):
    """The unfused modulated conv (ONNX export's form) gives the fused (training's) numbers, with a non-unit input
    gain, a perturbed input affine (rotation and translation) and the ToRGB layer's undemodulated path."""
    torch.manual_seed(3)
    G, _ = build({**TINY, "config": config}, 32, 3, 0)
    with torch.no_grad():
        for layer in G.synthesis.layers():
            layer.magnitude_ema.uniform_(0.3, 3.0)
            layer.bias.normal_(0, 0.2)
        G.synthesis.input.affine.bias.copy_(torch.tensor([0.8, 0.5, 0.3, -0.2]))
        ws = G.mapping(torch.randn(5, 16), None)
        fused = G.synthesis(ws)
        unfused = G.synthesis(ws, fused_modconv=False)
        assert fused.abs().max() > 0.05
        torch.testing.assert_close(unfused, fused, atol=2e-5, rtol=0)
        assert G(torch.randn(2, 16), fused_modconv=False).shape == fused[:2].shape  # plumbed through G.forward


def test_magnitude_ema_moves_only_with_update_emas():
    torch.manual_seed(1)
    G, _ = build(TINY, 32, 1, 0)
    ws = G.mapping(torch.randn(2, 16), None)
    before = [float(l.magnitude_ema) for l in G.synthesis.layers()]
    G.synthesis(ws)
    assert [float(l.magnitude_ema) for l in G.synthesis.layers()] == before
    G.synthesis(ws, update_emas=True)
    assert all(float(l.magnitude_ema) != b for l, b in zip(G.synthesis.layers(), before))


def test_transform_rotates_and_translates_the_input():
    torch.manual_seed(2)
    G, _ = build(TINY, 32, 1, 0)
    ws = G.mapping(torch.randn(2, 16), None)
    base = G.synthesis(ws)
    G.set_transform((0.0, 0.0), 0.0)
    torch.testing.assert_close(G.synthesis(ws), base)
    G.set_transform((0.25, 0.0), 0.0)
    assert not torch.allclose(G.synthesis(ws), base)
    # The Fourier features are sampled on a centred grid, so a 90 degree turn is an exact grid rotation.
    G.set_transform((0.0, 0.0), 90.0)
    x90 = G.synthesis.input(ws[:, 0])
    G.set_transform((0.0, 0.0), 0.0)
    x0 = G.synthesis.input(ws[:, 0])
    assert not torch.allclose(x90, x0, atol=1e-3)
    assert any(torch.allclose(x90, torch.rot90(x0, k=k, dims=(2, 3)), atol=1e-4) for k in (1, 3))


def test_bad_config_is_a_usage_error():
    with pytest.raises(UsageError, match="model.config"):
        build({**TINY, "config": "x"}, 32, 1, 0)
    with pytest.raises(UsageError, match="power of two"):
        build(TINY, 48, 1, 0)
    with pytest.raises(UsageError, match="magnitude_ema_beta"):
        build({**TINY, "magnitude_ema_beta": 1.5}, 32, 1, 0)


def test_d_input_blur_fades_out():
    from ganctl.losses.stylegan2 import blur_sigma_at, gaussian_blur

    assert blur_sigma_at(0, 10, 200) == 10 and blur_sigma_at(100_000, 10, 200) == 5 and blur_sigma_at(300_000, 10, 200) == 0
    assert blur_sigma_at(0, 10, 0) == 0
    img = torch.zeros(1, 1, 33, 33)
    img[0, 0, 16, 16] = 1
    y = gaussian_blur(img, 2.0)
    f = 2.0 ** -(np.arange(-6, 7) / 2.0) ** 2  # NVlabs' kernel: radius floor(3 sigma), exp2 of -(x/sigma)^2
    f /= f.sum()
    np.testing.assert_allclose(y[0, 0, 10:23, 10:23].numpy(), np.outer(f, f), atol=1e-7)
    assert y.shape == img.shape and abs(float(y.sum()) - 1) < 1e-5


def test_train_then_sample_with_translate_and_rotate(tmp_path, fmnist32, cli):
    p = cli("train", "--preset", "stylegan3-tiny", "--data", fmnist32, "--kimg", "0.016", "--outdir", tmp_path / "runs",
            "train.batch=8", "train.tick_kimg=0.016", "train.grid_size=2", "train.threads=1", "model.num_layers=4",
            check=0)
    run = p.stdout.strip().splitlines()[-1]
    outs = {}
    for name, extra in (("plain", []), ("moved", ["--translate", "0.3,-0.2", "--rotate", "30"])):
        cli("sample", run, "--seeds", "3", "--outdir", tmp_path / name, *extra, check=0)
        from PIL import Image
        outs[name] = np.asarray(Image.open(tmp_path / name / "seed0003.png"))
    assert outs["plain"].shape == (32, 32) and not np.array_equal(outs["plain"], outs["moved"])


def test_translate_option_parsing():
    from ganctl.cli.cmd_sample import parse_translate
    from ganctl.sampling.generate import LoadedGenerator

    assert parse_translate("0.3,-0.2") == (0.3, -0.2) and parse_translate(None) == (0.0, 0.0)
    with pytest.raises(UsageError, match="--translate '0.3': expected two numbers"):
        parse_translate("0.3")
    # A generator without a transformable input refuses --translate/--rotate in one line.
    from ganctl.models.stylegan2.synthesis import Generator as G2

    gen = LoadedGenerator(G2(8, 0, 8, 8, 1, mapping_layers=1, channel_base=64, channel_max=8),
                          {"config": {"model": {"family": "stylegan2"}}}, torch.device("cpu"),
                          None)
    with pytest.raises(UsageError, match="StyleGAN3"):
        gen.set_transform((0.1, 0), 0)
