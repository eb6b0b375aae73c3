"""BigGAN / SAGAN family: BigGAN-PyTorch's parameter counts, the layers' defining properties (self-attention starts as
the identity, spectral norm's power iteration, orthogonal regularisation's gradient), BigGAN sampling (resampling
truncation, standing statistics) and the real CLI: train, exact resume, sample, interpolate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint
from ganctl.models.biggan import DEFAULTS, build
from ganctl.models.biggan.layers import SelfAttention, SNConv2d

IMAGENET128 = {**DEFAULTS, "ch": 96, "attn_res": [64], "shared_dim": 128, "hier": True, "z_dim": 120}
CIFAR = {**DEFAULTS, "ch": 64, "attn_res": [], "shared_dim": 0, "hier": False, "z_dim": 128, "init": "N02"}
TINY = {**DEFAULTS, "ch": 2, "attn_res": [16], "shared_dim": 8, "hier": True, "z_dim": 16}


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cfg,res,classes,g_count,d_count", [
    (IMAGENET128, 128, 1000, 70_433_988, 87_982_370),
    (CIFAR, 32, 10, 4_304_387, 4_207_361),
])
def test_parameter_counts_equal_biggan_pytorch(cfg, res, classes, g_count, d_count):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        G, D = build({**cfg, "init": "N02"}, res, 3, classes)
    assert (_count(G), _count(D)) == (g_count, d_count)
    # Spectral-norm vectors are buffers, not parameters.
    assert any(name.endswith(".u") for name, _ in G.named_buffers())
    assert not any(name.endswith(".u") for name, _ in G.named_parameters())


def test_d_ch_sets_only_the_discriminator_width():
    """BigGAN-PyTorch's separate G_ch / D_ch: d_ch=ch builds the same D as leaving it 0; another d_ch leaves G alone."""
    with torch.device("meta"):
        G0, D0 = build(CIFAR, 32, 3, 10)
        G1, D1 = build({**CIFAR, "d_ch": 64}, 32, 3, 10)
        G2, D2 = build({**CIFAR, "d_ch": 32}, 32, 3, 10)
    assert (_count(G1), _count(D1)) == (_count(G0), _count(D0)) == (4_304_387, 4_207_361)
    assert _count(G2) == _count(G0) and _count(D2) < _count(D0) / 3
    assert D2.blocks[0].conv1.out_channels == 4 * 32


def test_shared_std_draws_only_the_shared_embedding_from_a_normal():
    """shared_std=0 keeps BigGAN-PyTorch's init of the shared class embedding (orthogonal: rows of norm
    sqrt(shared_dim / classes)); shared_std=s draws it from N(0, s^2) and leaves every other weight as seeded."""
    cfg = {**TINY, "shared_dim": 16, "z_dim": 32}
    torch.manual_seed(0)
    G0, _ = build(cfg, 32, 1, 36)
    torch.manual_seed(0)
    G1, _ = build({**cfg, "shared_std": 1.0}, 32, 1, 36)
    assert abs(G0.shared.weight.pow(2).sum(1).mean().item() - 16 / 36) < 1e-4  # orthonormal columns
    assert 0.8 < G1.shared.weight.std().item() < 1.2
    assert torch.equal(G0.linear.weight, G1.linear.weight)


def test_d_embed_lr_mult_scales_only_the_stored_embedding():
    """D's spectrally normalised class embedding: a smaller stored weight gives the same score (the scale divides out)
    while Adam's ~lr-sized steps are k times larger relative to it, i.e. an lr multiplier k for the projection."""
    torch.manual_seed(0)
    _, D0 = build(TINY, 32, 1, 36)
    torch.manual_seed(0)
    _, D1 = build({**TINY, "d_embed_lr_mult": 8.0}, 32, 1, 36)
    assert torch.allclose(D1.embed.weight * 8, D0.embed.weight)
    x, c = torch.randn(4, 1, 32, 32), torch.arange(4)
    D0.eval(), D1.eval()
    assert torch.allclose(D0(x, c), D1(x, c), atol=1e-5)


def test_g_embed_lr_mult_gives_the_class_tables_their_own_adam_group():
    """G's class tables (per-BN gain/bias embeddings without a shared embedding; the shared embedding with one) form
    their own Adam group at g_embed_lr_mult x lr; every other parameter stays in the first group, each exactly once."""
    from ganctl.engine.phases import optimizer_groups

    sagan = {**DEFAULTS, "ch": 2, "attn_res": [16], "shared_dim": 0, "hier": False, "z_dim": 16}
    for cfg, tables in ((sagan, 3 * 2 * 2), (TINY, 1)):  # 3 blocks x 2 BNs x (gain, bias)
        G, _ = build({**cfg, "g_embed_lr_mult": 4.0}, 32, 1, 10)
        groups = optimizer_groups(G, 1e-3)
        assert [len(g["params"]) for g in groups][1] == tables
        assert groups[0]["lr"] == 1e-3 and groups[1]["lr"] == pytest.approx(4e-3) and groups[1]["lr_mult"] == 4.0
        ids = [id(p) for g in groups for p in g["params"]]
        assert sorted(ids) == sorted(id(p) for p in G.parameters())
        assert all(p.ndim == 2 and p.shape[0] == 10 for p in groups[1]["params"])  # one row per class
        G1, _ = build(cfg, 32, 1, 10)
        assert len(optimizer_groups(G1, 1e-3)) == 1


def test_presets_build_the_counted_networks():
    from ganctl.config.load import resolve_config

    for preset, res, classes, want in (("biggan-imagenet128", 128, 1000, (70_433_988, 87_982_370)),
                                       ("biggan-cifar", 32, 10, (4_304_387, 4_207_361))):
        cfg = resolve_config(preset)
        with torch.device("meta"):
            G, D = build({**cfg["model"], "init": "N02"}, res, 3, classes)
        assert (_count(G), _count(D)) == want, preset


def test_attention_starts_as_identity(one_cpu_thread):
    torch.manual_seed(0)
    attn = SelfAttention(16, 1e-6)
    assert attn.gamma.item() == 0.0
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(attn(x), x)
    attn.gamma.data.fill_(1.0)
    assert not torch.allclose(attn(x), x)  # the block is live once gamma moves
    G, D = build(TINY, 32, 1, 10)
    assert [m.gamma.item() for m in G.modules() if isinstance(m, SelfAttention)] == [0.0]
    assert [m.gamma.item() for m in D.modules() if isinstance(m, SelfAttention)] == [0.0]


def test_spectral_norm_power_iteration_updates_u_only_in_training(one_cpu_thread):
    torch.manual_seed(0)
    conv = SNConv2d(8, 16, 3, sn_eps=1e-6)
    x = torch.randn(2, 8, 6, 6)
    conv.eval()
    u0 = conv.u.clone()
    conv(x)
    assert torch.equal(conv.u, u0)
    conv.train()
    conv(x)
    assert not torch.equal(conv.u, u0)
    for _ in range(50):  # power iteration converges: the normalised weight's top singular value is 1
        conv(x)
    sigma = torch.linalg.matrix_norm(conv.sn_weight().flatten(1), ord=2)
    assert abs(sigma.item() - 1) < 1e-3
    # Gradients flow through sigma into the weight, not into u (a buffer).
    conv.sn_weight().sum().backward()
    assert conv.weight.grad is not None and not conv.u.requires_grad


def test_ortho_reg_is_loss_form_with_biggan_pytorch_gradient(one_cpu_thread):
    """ortho_reg s: loss s/2 * ||W W^T * (1 - I)||_F^2, gradient 2 s (W W^T * (1 - I)) W (BigGAN-PyTorch's utils.ortho)."""
    from ganctl.losses.adversarial import orthogonal_penalty

    torch.manual_seed(0)
    G, _ = build(TINY, 32, 1, 10)
    s = 1e-3
    (s / 2 * orthogonal_penalty(G)).backward()
    params = G.ortho_parameters()
    for p in params:
        W = p.detach().flatten(1)
        mask = 1 - torch.eye(W.shape[0])
        expected = 2 * s * ((W @ W.t()) * mask) @ W
        torch.testing.assert_close(p.grad.flatten(1), expected, rtol=1e-4, atol=1e-9)
    # The shared class embedding is left out; per-layer 2-d weights (the first linear, convs) are in.
    assert G.shared.weight.grad is None
    assert any(p is G.linear.weight for p in params)
    assert all(p.ndim >= 2 for p in params)


def test_resampling_truncation_is_bounded_and_a_function_of_the_seed():
    from ganctl.sampling.latents import split_truncation, z_for_seeds

    psi, _ = split_truncation("z_resample", 0.5)
    a = z_for_seeds([3, 7, 11], 64, resample_psi=psi)
    b = z_for_seeds([11, 3], 64, resample_psi=psi)
    assert a.abs().max() <= 0.5
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])  # order and batch do not matter
    plain = z_for_seeds([3], 64)
    inside = plain[0].abs() <= 0.5
    assert torch.equal(a[0][inside], plain[0][inside])  # components already inside are kept
    assert not torch.equal(a[0], plain[0])
    assert split_truncation("z_resample", 1.0) == (None, 1.0)  # psi 1: no truncation
    assert split_truncation("z_scale", 0.5) == (None, 0.5)     # other families: G applies psi
    # The distribution is the truncated normal: its std is well below the plain normal's.
    many = z_for_seeds(range(200), 128, resample_psi=psi)
    assert 0.25 < many.std().item() < 0.32  # std of N(0,1) truncated to [-0.5, 0.5] is 0.2876


def test_standing_stats_are_deterministic_and_touch_only_batch_norm(one_cpu_thread):
    from ganctl.sampling.standing import accumulate_standing_stats

    torch.manual_seed(0)
    G, _ = build(TINY, 32, 1, 10)
    G.train()
    with torch.no_grad():
        for _ in range(3):
            G(torch.randn(8, 16), torch.randint(0, 10, (8,)))
    start = {k: v.clone() for k, v in G.state_dict().items()}

    def run():
        G.load_state_dict(start)
        accumulate_standing_stats(G, 10, passes=4, batch_size=8, device="cpu")
        return {k: v.clone() for k, v in G.state_dict().items()}

    a, b = run(), run()
    assert not G.training
    stats = [k for k in a if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(a[k], b[k]) for k in a)
    assert all(not torch.equal(a[k], start[k]) for k in stats)
    assert all(a[k].item() == 4 for k in a if k.endswith("num_batches_tracked"))
    # Spectral-norm vectors (and every other parameter) are untouched: only batch norm ran in training mode.
    assert all(torch.equal(a[k], start[k]) for k in a if not k.startswith(tuple(s.rsplit(".", 1)[0] for s in stats)))


def test_bad_biggan_config_names_the_key():
    from ganctl.config.load import resolve_config
    from ganctl.errors import UsageError

    for override, key in (("model.shared_dim=0", "model.hier"), ("model.z_dim=30", "model.z_dim"), ("model.init=he", "model.init"),
                          ("model.shared_std=-1", "model.shared_std"), ("model.d_embed_lr_mult=0", "model.d_embed_lr_mult"),
                          ("model.g_embed_lr_mult=0", "model.g_embed_lr_mult")):
        cfg = resolve_config("biggan-tiny", overrides=[override])
        with pytest.raises(UsageError, match=key):
            build(cfg["model"], 32, 1, 10)
    with pytest.raises(UsageError, match="resolution 48"):
        build(resolve_config("biggan-tiny")["model"], 48, 1, 10)


RUN = ["--preset", "biggan-tiny", "--seed", "5", "model.ch=2", "model.z_dim=16", "model.shared_dim=8", "train.batch=8",
       "train.tick_kimg=0.016", "train.grid_size=4", "train.ema_start_kimg=0.016", "optim.d_steps=2", "loss.ortho_reg=0.0001",
       "model.g_embed_lr_mult=4", "train.threads=1"]


def _final(run: Path) -> dict:
    return load_file(str(latest_checkpoint(run / "checkpoints")))


@pytest.fixture(scope="module")
def biggan_runs(tmp_path_factory, fmnist32):
    from _testdata import run_cli

    out = tmp_path_factory.mktemp("biggan")
    straight = run_cli("train", *RUN, "--data", fmnist32, "--kimg", "0.064", "--outdir", out / "a", check=0).stdout.strip()
    half = run_cli("train", *RUN, "--data", fmnist32, "--kimg", "0.032", "--outdir", out / "b", check=0).stdout.strip()
    return Path(straight), Path(half)


def test_resume_is_bit_identical_including_spectral_norm_vectors(biggan_runs, cli):
    straight, half = biggan_runs
    mid = _final(half)
    cli("resume", half, "--kimg", "0.064", check=0)
    a, b = _final(straight), _final(half)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs after resume"
    u_keys = [k for k in a if k.endswith(".u")]
    assert any(k.startswith("D/") for k in u_keys) and any(k.startswith("G_ema/") for k in u_keys)
    assert any(not torch.equal(mid[k], a[k]) for k in u_keys)  # the vectors really moved in the resumed half
    # G's class-table group kept its own rate through the resume (model.g_embed_lr_mult=4)
    with safe_open(str(latest_checkpoint(half / "checkpoints")), "pt") as f:
        groups = json.loads(f.metadata()["ganctl"])["optimizers"]["opt_G"]["param_groups"]
    assert len(groups) == 2 and groups[1]["lr_mult"] == 4.0 and groups[1]["lr"] == pytest.approx(4 * groups[0]["lr"])


def test_sample_class_with_truncation_and_interpolate(biggan_runs, cli, tmp_path):
    from PIL import Image

    from ganctl import api

    def png(path):
        return np.asarray(Image.open(path))

    run = biggan_runs[0]
    out = tmp_path / "s"
    cli("sample", run, "--seeds", "0-3", "--class", "3", "--truncation", "0.5", "--outdir", out, check=0)
    # Per seed, whatever the batching; truncation and standing statistics change the image.
    api.sample(str(run), [2, 3], 0.5, class_idx=3, outdir=str(tmp_path / "s2"), device="cpu", batch_size=1, workers=1)
    assert np.array_equal(png(out / "seed0002.png"), png(tmp_path / "s2" / "seed0002.png"))
    api.sample(str(run), [2], 1.0, class_idx=3, outdir=str(tmp_path / "s3"), device="cpu", workers=1)
    assert not np.array_equal(png(out / "seed0002.png"), png(tmp_path / "s3" / "seed0002.png"))
    for name in ("s4", "s5"):
        api.sample(str(run), [2], 0.5, class_idx=3, outdir=str(tmp_path / name), device="cpu", workers=1, standing_stats=2)
    assert np.array_equal(png(tmp_path / "s4" / "seed0002.png"), png(tmp_path / "s5" / "seed0002.png"))
    assert not np.array_equal(png(out / "seed0002.png"), png(tmp_path / "s4" / "seed0002.png"))
    frames = tmp_path / "frames"
    cli("interpolate", run, "--seeds", "0,1", "--steps", "3", "--class", "3", "--truncation", "0.5", "--out", frames, check=0)
    pngs = sorted(frames.glob("frame*.png"))
    assert len(pngs) == 4
    # The last keyframe is seed 1 under the same truncation as `sample`.
    assert np.array_equal(png(pngs[-1]), png(out / "seed0001.png"))
