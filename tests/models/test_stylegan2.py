"""StyleGAN2 networks: published parameter counts, shapes, truncation, modulated-conv paths, noise, conditioning,
FIR alignment of the resampling convs, and resolution checks."""

from __future__ import annotations

from _testdata import count_params as count

import pytest
import torch

from ganctl import ops
from ganctl.errors import UsageError
from ganctl.models.stylegan2 import DEFAULTS, build, check_resolution
from ganctl.models.stylegan2.layers import conv2d_resample

TINY = {**DEFAULTS, "z_dim": 32, "w_dim": 32, "mapping_layers": 2, "channel_base": 512, "channel_max": 32,
        "d_cmap_layers": 2}


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def tiny(res=32, channels=3, classes=0, **kw):
    torch.manual_seed(0)
    return build({**TINY, **kw}, res, channels, classes)


@pytest.mark.parametrize("res, channel_base, g, mapping, synthesis, d", [
    (1024, 32768, 30_370_060, 2_101_248, 28_268_812, 29_012_513),   # config F
    (256, 16384, 24_767_458, 2_101_248, None, 24_001_089),          # paper256
    (256, 32768, 30_034_338, 2_101_248, None, 28_864_129),
])
def test_parameter_counts_equal_published(res, channel_base, g, mapping, synthesis, d):
    with torch.device("meta"):
        G, D = build({**DEFAULTS, "channel_base": channel_base}, res, 3, 0)
    assert count(G) == g
    assert count(G.mapping) == mapping
    if synthesis is not None:
        assert count(G.synthesis) == synthesis
    assert count(D) == d
    assert G.num_ws == 2 * (res.bit_length() - 1) - 2


def test_shapes_dtypes_and_attributes():
    G, D = tiny(res=16, channels=1)
    assert (G.z_dim, G.c_dim, G.w_dim, G.num_ws, G.img_resolution, G.img_channels) == (32, 0, 32, 6, 16, 1)
    assert G.w_avg.shape == (32,) and "mapping.w_avg" in G.state_dict()
    z = torch.randn(3, 32)
    ws = G.mapping(z, None)
    assert ws.shape == (3, 6, 32)
    img = G(z, None)
    assert img.shape == (3, 1, 16, 16) and img.dtype == torch.float32 and img.isfinite().all()
    assert torch.allclose(G.synthesis(ws), img)
    logits = D(img, None)
    assert logits.shape == (3, 1) and logits.dtype == torch.float32
    with pytest.raises(ValueError):
        D(torch.zeros(3, 3, 16, 16), None)  # wrong channel count


def test_truncation_psi_zero_gives_w_avg_for_every_seed_and_cutoff_limits_it():
    G, _ = tiny()
    G.mapping(torch.randn(64, 32), None, update_emas=True)  # move w_avg away from 0
    assert G.w_avg.abs().sum() > 0
    z = torch.randn(5, 32)
    ws = G.mapping(z, None, truncation_psi=0)
    assert torch.allclose(ws, G.w_avg.expand_as(ws))
    full = G.mapping(z, None)
    cut = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
    assert torch.allclose(cut[:, :3], G.w_avg.lerp(full[:, :3], 0.5))
    assert torch.equal(cut[:, 3:], full[:, 3:])
    img = G(z, None, truncation_psi=0)
    assert torch.allclose(img, img[:1].expand_as(img), atol=1e-5)  # const noise: one image for all seeds


def test_update_emas_moves_w_avg_only_when_asked():
    G, _ = tiny()
    z = torch.randn(8, 32)
    G.mapping(z, None)
    assert G.w_avg.abs().sum() == 0
    w = G.mapping(z, None)[:, 0].mean(0)
    G.mapping(z, None, update_emas=True)
    assert torch.allclose(G.w_avg, w * (1 - 0.998), atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_fused_and_non_fused_modconv_agree(training):
    G, _ = tiny(res=16)
    G.train(training)
    for layer in G.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.3)
    z = torch.randn(4, 32)
    a = G(z, None, fused_modconv=True)
    b = G(z, None, fused_modconv=False)
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    ga = torch.autograd.grad(G(z, None, fused_modconv=True).square().sum(), G.synthesis.b16.conv0.weight)[0]
    gb = torch.autograd.grad(G(z, None, fused_modconv=False).square().sum(), G.synthesis.b16.conv0.weight)[0]
    assert (ga - gb).abs().max() < 1e-3 * ga.abs().max()  # fp32 rounding through 5 layers


def test_noise_modes():
    G, _ = tiny()
    for layer in G.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.5)
    z = torch.randn(2, 32)
    const1, const2 = G(z, None, noise_mode="const"), G(z, None, noise_mode="const")
    assert torch.equal(const1, const2)
    none = G(z, None, noise_mode="none")
    assert not torch.allclose(none, const1)
    torch.manual_seed(7)
    r1 = G(z, None, noise_mode="random")
    torch.manual_seed(7)
    r2 = G(z, None, noise_mode="random")
    r3 = G(z, None, noise_mode="random")
    assert torch.equal(r1, r2) and not torch.allclose(r1, r3)
    g1 = G(z, None, noise_mode="random", generator=torch.Generator().manual_seed(3))
    g2 = G(z, None, noise_mode="random", generator=torch.Generator().manual_seed(3))
    assert torch.equal(g1, g2)
    with pytest.raises(ValueError):
        G(z, None, noise_mode="loud")


def test_conditional_path():
    G, D = tiny(classes=10)
    assert G.c_dim == 10 and G.mapping.embed is not None and D.mapping is not None
    z = torch.randn(1, 32).repeat(2, 1)
    c = torch.tensor([1, 7])
    img = G(z, c)
    assert not torch.allclose(img[0], img[1])  # same z, different class
    same_img = img[:1].repeat(2, 1, 1, 1)
    logits = D(same_img, c)
    assert logits.shape == (2, 1) and not torch.allclose(logits[0], logits[1])  # projection depends on c
    with pytest.raises(ValueError):
        G(z, None)


def test_minibatch_std_with_batch_not_divisible_by_group():
    G, D = tiny(mbstd_group=4)
    assert D(torch.randn(6, 3, 32, 32), None).shape == (6, 1)


def test_orig_discriminator_has_no_skips():
    _, D = tiny(d_architecture="orig")
    assert all(getattr(D, f"b{r}").skip is None for r in (32, 16, 8))
    assert D(torch.randn(2, 3, 32, 32), None).shape == (2, 1)


def test_resampling_convs_are_aligned_with_the_fir_ops():
    """A centre-tap 3x3 kernel makes the up/down convs reduce to plain FIR resampling (NVlabs' alignment), and an
    arbitrary kernel matches 'upsample then convolve' / 'convolve then downsample' away from the borders."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    f = ops.setup_filter([1, 3, 3, 1])
    delta = torch.zeros(3, 3, 3, 3)
    for i in range(3):
        delta[i, i, 1, 1] = 1
    for flip in (True, False):
        assert torch.allclose(conv2d_resample(x, delta, f, up=2, padding=1, flip_weight=flip), ops.upsample2d(x, f))
        assert torch.allclose(conv2d_resample(x, delta, f, down=2, padding=1, flip_weight=flip),
                              ops.downsample2d(x, f))
    w = torch.randn(3, 3, 3, 3)
    up = conv2d_resample(x, w, f, up=2, padding=1, flip_weight=False)
    want = torch.nn.functional.conv2d(ops.upsample2d(x, f), w.flip([2, 3]), padding=1)
    assert torch.allclose(up[..., 3:-3, 3:-3], want[..., 3:-3, 3:-3], atol=1e-5)
    down = conv2d_resample(x, w, f, down=2, padding=1)
    want = ops.downsample2d(torch.nn.functional.conv2d(x, w, padding=1), f)
    assert torch.allclose(down[..., 1:-1, 1:-1], want[..., 1:-1, 1:-1], atol=1e-5)


@pytest.mark.parametrize("res", [0, 3, 48, 100])
def test_non_power_of_two_resolution_is_a_usage_error(res):
    with pytest.raises(UsageError, match="power of two"):
        build(TINY, res, 3, 0)


def test_non_square_is_a_usage_error():
    with pytest.raises(UsageError, match="square"):
        check_resolution(32, 64)
    assert check_resolution(64, 64) == 64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_precision_on_cuda_runs_top_resolutions_in_fp16():
    G, D = tiny(res=64, num_fp16_res=2)
    G, D = G.cuda(), D.cuda()
    seen = {}
    for res in (8, 16, 32, 64):
        getattr(G.synthesis, f"b{res}").register_forward_hook(lambda m, i, o, r=res: seen.__setitem__(r, o[0].dtype))
    z = torch.randn(4, 32, device="cuda")
    img = G(z, None)
    assert img.dtype == torch.float32 and img.isfinite().all()
    assert seen == {8: torch.float32, 16: torch.float32, 32: torch.float16, 64: torch.float16}
    fp32 = G.synthesis(G.mapping(z, None), force_fp32=True)
    assert (img - fp32).abs().max() < 0.05
    assert D(img, None).dtype == torch.float32
