"""Minibatch discrimination (Salimans et al. 2016): the layer's formula, its batch sensitivity, gradients, the families'
config keys, and a DCGAN with it that trains and resumes bit-identically through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint
from ganctl.models import get_family
from ganctl.errors import UsageError
from ganctl.models.layers import MinibatchDiscrimination, MinibatchStdDev, build_minibatch_discrimination


def _layer(A=6, B=4, C=3, seed=0):
    torch.manual_seed(seed)
    layer = MinibatchDiscrimination(A, B, C)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -1.0, 0.0, 2.0][:B]))
    return layer


def _by_hand(layer, x):
    """The paper's formula with explicit loops over samples: the reference the batched layer must equal."""
    M = torch.einsum("na,abc->nbc", x, layer.T)
    N = x.shape[0]
    o = torch.zeros(N, layer.kernels)
    for i in range(N):
        for j in range(N):
            if j != i:
                o[i] += torch.exp(-(M[i] - M[j]).abs().sum(-1))
    return torch.cat([x, o + layer.bias], dim=1)


def test_output_equals_the_formula():
    layer = _layer()
    x = torch.randn(5, 6) * 0.3
    out = layer(x)
    assert out.shape == (5, 6 + 4)
    torch.testing.assert_close(out, _by_hand(layer, x), rtol=1e-5, atol=1e-6)
    assert torch.equal(out[:, :6], x)


def test_identical_inputs_give_n_minus_one_plus_bias_and_differ_from_distinct():
    layer = _layer()
    N = 7
    same = torch.randn(1, 6).repeat(N, 1)
    o_same = layer(same)[:, 6:]
    # exp(0) = 1 for each of the N - 1 others; the sample itself is excluded (else it would be N).
    torch.testing.assert_close(o_same, (N - 1) + layer.bias.detach().expand(N, -1))
    distinct = torch.randn(N, 6) * 3
    o_distinct = layer(distinct)[:, 6:]
    assert (o_distinct - layer.bias.detach() < N - 1.5).all()  # far apart: well under N - 1 per kernel
    assert not torch.allclose(o_same, o_distinct, atol=0.5)


def test_self_term_is_excluded():
    """A batch of one has no others: o is the bias alone, and one sample far from the rest adds ~0 to theirs."""
    layer = _layer()
    x = torch.randn(1, 6)
    torch.testing.assert_close(layer(x)[:, 6:], layer.bias.detach()[None])
    base = torch.randn(4, 6) * 0.1
    far = torch.cat([base, torch.full((1, 6), 1e3)])
    torch.testing.assert_close(layer(far)[:4, 6:], layer(base)[:, 6:], rtol=1e-5, atol=1e-6)


def test_gradients_flow_to_input_t_and_bias():
    layer = _layer()
    x = (torch.randn(5, 6) * 0.3).requires_grad_(True)
    w = torch.randn(5, 10)
    (layer(x) * w).sum().backward()
    for name, g in (("x", x.grad), ("T", layer.T.grad), ("bias", layer.bias.grad)):
        assert g is not None and g.abs().sum() > 0 and torch.isfinite(g).all(), name
    # The gradient through the batch term equals the hand-written formula's.
    x2 = x.detach().clone().requires_grad_(True)
    (_by_hand(layer, x2) * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-6)


def test_is_not_minibatch_stddev():
    """Different layers: stddev has no parameters and appends one channel; discrimination learns B kernels."""
    assert not list(MinibatchStdDev(4).parameters())
    assert len(list(MinibatchDiscrimination(8, 3, 2).parameters())) == 2
    assert MinibatchStdDev(4)(torch.randn(8, 8)).shape == (8, 9)
    assert MinibatchDiscrimination(8, 3, 2)(torch.randn(8, 8)).shape == (8, 11)


def _out_layer(D):
    return D.head.linear if hasattr(D, "head") else D.linear  # mlp/dcgan: ProjectionHead; biggan: its own SN linear


@pytest.mark.parametrize("family", ["mlp", "dcgan", "biggan"])
def test_families_take_mbdisc_keys(family):
    fam = get_family(family)
    assert fam.defaults["mbdisc_kernels"] == 0 and fam.defaults["mbdisc_dim"] == 5
    cfg = dict(fam.defaults, mbdisc_kernels=6, mbdisc_dim=3)
    if family == "mlp":
        cfg.update(hidden=[16], d_hidden=[16])
    elif family == "dcgan":
        cfg.update(g_channels=4, d_channels=4)
    else:
        cfg.update(ch=4)
    _, D = fam.build(cfg, 32, 1, 0)
    assert D.mbdisc.kernels == 6 and D.mbdisc.dim == 3
    img = torch.randn(4, 1, 32, 32)
    logits, feats = D(img, None, return_features=True)
    assert logits.shape == (4, 1)
    # The output layer sees the features plus the 6 kernel outputs; feature matching's features exclude them.
    assert _out_layer(D).in_features == feats.shape[1] + 6
    _, D0 = fam.build(dict(cfg, mbdisc_kernels=0), 32, 1, 0)
    assert D0.mbdisc is None and _out_layer(D0).in_features == feats.shape[1]


def test_bad_mbdisc_values_are_refused_naming_the_key():
    for cfg, key in (({"mbdisc_kernels": -1}, "model.mbdisc_kernels"),
                     ({"mbdisc_kernels": 4, "mbdisc_dim": 0}, "model.mbdisc_dim")):
        with pytest.raises(UsageError, match=key):
            build_minibatch_discrimination(cfg, 16)
    assert build_minibatch_discrimination({"mbdisc_kernels": 0}, 16) is None


def test_dcgan_with_minibatch_discrimination_trains_and_resumes_exactly(tmp_path, fmnist32, cli):
    args = ["--preset", "dcgan-fashion-mnist", "--data", fmnist32, "--seed", "2", "model.g_channels=4", "model.d_channels=4",
            "model.z_dim=8", "model.mbdisc_kernels=8", "model.mbdisc_dim=3", "train.batch=16", "train.tick_kimg=0.032",
            "train.grid_size=4", "train.workers=0"]
    straight = Path(cli("train", *args, "--kimg", "0.096", "--outdir", tmp_path / "a", check=0).stdout.strip())
    half = Path(cli("train", *args, "--kimg", "0.048", "--outdir", tmp_path / "b", check=0).stdout.strip())
    cli("resume", half, "--kimg", "0.096", check=0)
    a = load_file(str(latest_checkpoint(straight / "checkpoints")))
    b = load_file(str(latest_checkpoint(half / "checkpoints")))
    assert a.keys() == b.keys()
    assert a["D/mbdisc.T"].shape == (4 * 4 * 4 * 4, 8, 3)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The layer trained: its parameters moved from initialisation (bias starts at 0).
    assert a["D/mbdisc.bias"].abs().sum() > 0
