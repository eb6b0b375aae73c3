"""Progressive GAN networks: the official parameter counts, growing stages (shapes, fade-in paths, stage buffers in
checkpoints and G_ema), equalised learning rate, pixelnorm, minibatch stddev, truncation and class conditioning."""

from __future__ import annotations

from _testdata import count_params as count

import math

import pytest
import torch
import torch.nn.functional as F

from ganctl.errors import UsageError
from ganctl.models import get_family
from ganctl.models.layers import MinibatchStdDev
from ganctl.models.progan import DEFAULTS, build
from ganctl.models.progan.layers import EqualizedConv2d, pixel_norm

TINY = {**DEFAULTS, "z_dim": 16, "fmap_base": 128, "fmap_max": 16, "embed_dim": 8}

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def tiny(res=32, channels=3, classes=0, **kw):
    torch.manual_seed(0)
    return build({**TINY, **kw}, res, channels, classes)


@pytest.mark.parametrize("res, g, d", [(1024, 23_079_115, 23_087_249), (256, 23_044_309, 23_052_353)])
def test_parameter_counts_equal_official(res, g, d):
    with torch.device("meta"):
        G, D = build(dict(DEFAULTS), res, 3, 0)
    assert (count(G), count(D)) == (g, d)
    # The official channel rule: 512 up to 32 px, then halving (16 at 1024).
    assert G.torgb1024.weight.shape[1] == 16 if res == 1024 else G.torgb256.weight.shape[1] == 64
    assert G.b4.dense.weight.shape == (16 * 512, 512)


def test_fresh_networks_run_the_full_resolution_and_output_follows_set_stage():
    G, D = tiny(32)
    z = torch.randn(4, 16)
    assert G.stage() == (32, 1.0) and D.stage() == (32, 1.0)
    assert G(z).shape == (4, 3, 32, 32)
    for res in (4, 8, 16, 32):
        for alpha in (0.0, 0.5, 1.0):
            G.set_stage(res, alpha)
            D.set_stage(res, alpha)
            img = G(z)
            assert img.shape == (4, 3, res, res)
            assert D(img).shape == (4, 1)
    D.set_stage(16, 1.0)
    with pytest.raises(ValueError, match="16x16"):
        D(torch.zeros(4, 3, 32, 32))
    with pytest.raises(ValueError, match="power of two"):
        G.set_stage(12, 1.0)
    with pytest.raises(ValueError, match="power of two"):
        G.set_stage(64, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        G.set_stage(8, 1.5)


@torch.no_grad()
def test_generator_fade_blends_the_old_and_new_paths():
    G, _ = tiny(32)
    z = torch.randn(4, 16)
    G.set_stage(8, 1.0)
    stable8 = G(z)
    G.set_stage(16, 0.0)
    old = G(z)
    torch.testing.assert_close(old, F.interpolate(stable8, scale_factor=2, mode="nearest"), rtol=0, atol=0)
    G.set_stage(16, 1.0)
    new = G(z)
    # The new path by hand: pixelnorm(z) -> b4 -> b8 -> b16 -> toRGB16.
    by_hand = G.torgb16(G.b16(G.b8(G.b4(pixel_norm(z)))))
    torch.testing.assert_close(new, by_hand, rtol=0, atol=0)
    assert (new - old).abs().mean() > 1e-3
    G.set_stage(16, 0.3)
    torch.testing.assert_close(G(z), torch.lerp(old, new, 0.3), rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_discriminator_fade_mirrors_the_generator():
    _, D = tiny(32)
    torch.manual_seed(1)
    x = torch.randn(4, 3, 16, 16)
    D.set_stage(8, 1.0)
    stable8 = D(F.avg_pool2d(x, 2))
    D.set_stage(16, 0.0)
    torch.testing.assert_close(D(x), stable8, rtol=0, atol=0)
    D.set_stage(16, 1.0)
    new = D(x)
    h = D.b8(D.b16(D.fromrgb16(x)))
    torch.testing.assert_close(new, D.b4(h)[0], rtol=0, atol=0)
    # Mid-fade: the blend happens on D's features after the new block, before the shared blocks.
    D.set_stage(16, 0.25)
    feats = torch.lerp(D.fromrgb8(F.avg_pool2d(x, 2)), D.b16(D.fromrgb16(x)), 0.25)
    torch.testing.assert_close(D(x), D.b4(D.b8(feats))[0], rtol=1e-5, atol=1e-6)


def test_stage_lives_in_buffers_through_state_dict_and_buffer_copy():
    G, D = tiny(32)
    G.set_stage(16, 0.375)
    D.set_stage(8, 0.5)
    G2, D2 = tiny(32)
    G2.load_state_dict(G.state_dict())
    D2.load_state_dict(D.state_dict())
    assert G2.stage() == (16, 0.375) and D2.stage() == (8, 0.5)
    assert G.state_dict()["stage_resolution"].item() == 16
    # The engine's G -> G_ema update copies buffers in place.
    G3, _ = tiny(32)
    with torch.no_grad():
        for b3, b in zip(G3.buffers(), G.buffers()):
            b3.copy_(b)
    assert G3.stage() == (16, 0.375)
    z = torch.randn(2, 16)
    torch.testing.assert_close(G3(z).shape, G(z).shape)


def test_equalized_learning_rate_scales_unit_weights_at_run_time():
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 32, 3)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(64 * 9))
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)   # stored N(0, 1)
    x = torch.randn(2, 64, 8, 8)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1))
    G, D = tiny(32)
    assert G.torgb32.scale == pytest.approx(1 / math.sqrt(G.torgb32.weight.shape[1]))               # toRGB gain 1
    assert G.b4.dense.scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(16))                      # gain sqrt(2)/4
    assert D.b4.head.linear.scale == pytest.approx(1 / math.sqrt(D.b4.dense0.weight.shape[0]))      # score gain 1
    # The ablation stores He-initialised weights and applies no runtime scale.
    torch.manual_seed(0)
    plain = EqualizedConv2d(64, 32, 3, use_wscale=False)
    assert plain.scale == 1.0
    assert plain.weight.std().item() == pytest.approx(math.sqrt(2) / math.sqrt(64 * 9), rel=0.05)


@torch.no_grad()
def test_pixelnorm_after_every_generator_conv():
    outs = {}
    for use in (True, False):
        G, _ = tiny(16, use_pixelnorm=use)
        hooks = [getattr(G, f"b{r}").register_forward_hook(lambda m, i, o, r=r: outs.__setitem__(r, o)) for r in (4, 8, 16)]
        G(torch.randn(3, 16) * 7)
        for h in hooks:
            h.remove()
        for r in (4, 8, 16):
            ms = outs[r].square().mean(dim=1)   # per pixel, over channels
            if use:
                torch.testing.assert_close(ms, torch.ones_like(ms), rtol=1e-4, atol=1e-4)
            else:
                assert (ms - 1).abs().max() > 0.1


def test_minibatch_stddev_is_the_official_formula():
    torch.manual_seed(0)
    x = torch.randn(8, 5, 4, 4)
    # tf: reshape [G, M, C, H, W]; subtract the group mean; mean square over G; sqrt(+1e-8); mean over C, H, W; tile.
    g = 4
    y = x.reshape(g, -1, 5, 4, 4)
    y = ((y - y.mean(0, keepdim=True)).square().mean(0) + 1e-8).sqrt().mean(dim=[1, 2, 3])  # [M]
    want = torch.cat([x, y.repeat(g)[:, None, None, None].expand(8, 1, 4, 4)], dim=1)
    torch.testing.assert_close(MinibatchStdDev(4, 1)(x), want)


@torch.no_grad()
def test_truncation_scales_the_normalised_latent():
    G, _ = tiny(8)
    # With zero biases (fresh init) lrelu + pixelnorm make G blind to the latent's scale; trained biases are not zero.
    for name, p in G.named_parameters():
        if name.endswith("bias"):
            p.normal_()
    z = torch.randn(4, 16)
    far = G(z, truncation_psi=0.0)
    torch.testing.assert_close(far, far[:1].expand_as(far))        # psi 0: every z gives the same (mean) image
    assert (G(z, truncation_psi=0.5) - G(z)).abs().mean() > 1e-3   # applied after pixelnorm, so it is not undone


def test_conditional_variant_uses_the_labels():
    G0, D0 = tiny(16)
    G, D = tiny(16, classes=5)
    assert count(G) - count(G0) == 5 * 8 + 8 * 16 * 16        # embedding + the wider 4x4 dense input
    assert count(D) - count(D0) == 5 * 16                     # projection embedding at nf(0)
    z = torch.randn(2, 16)
    with torch.no_grad():
        a = G(z, torch.tensor([0, 0]))
        b = G(z, torch.tensor([3, 3]))
        assert (a - b).abs().mean() > 1e-4
        D.b4.head.embed.weight.normal_()
        assert (D(a, torch.tensor([0, 0])) - D(a, torch.tensor([3, 3]))).abs().max() > 1e-4
    with pytest.raises(ValueError, match="class-conditional"):
        G(z)
    with pytest.raises(ValueError, match="class labels"):
        D(a)


def test_family_declaration_and_resolution_check():
    fam = get_family("progan")
    assert fam.losses[0] == "wasserstein" and "hinge" in fam.losses
    assert fam.has_schedule and not fam.uses_batchnorm and fam.truncation == "z_scale" and fam.precision == "bf16"
    with pytest.raises(UsageError, match="--resolution 32"):
        build(dict(TINY), 28, 1, 0)


def test_config_resolves_with_the_paper_loss():
    from ganctl.config import resolve_config

    cfg = resolve_config(None, overrides=["model.family=progan"])
    assert cfg["loss"]["type"] == "wasserstein"
    assert (cfg["loss"]["gp_weight"], cfg["loss"]["drift"]) == (10.0, 0.001)
    assert cfg["model"]["fmap_base"] == 8192
