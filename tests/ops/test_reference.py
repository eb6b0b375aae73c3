"""The plain-PyTorch reference ops against direct, loop-by-loop definitions of their semantics."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import ganctl.ops as ops
from ganctl.ops.reference import ACTIVATIONS


def upfirdn2d_loops(x, f, up, down, pad, flip=False, gain=1.0):
    """The definition, one output sample at a time: sum over taps of zero-inserted, padded input times filter."""
    x, f = x.numpy().astype(np.float64), f.numpy().astype(np.float64) * gain
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    N, C, H, W = x.shape
    fh, fw = f.shape
    w = f if flip else f[::-1, ::-1]  # correlation form
    Ho = (H * upy + py0 + py1 - fh + downy) // downy
    Wo = (W * upx + px0 + px1 - fw + downx) // downx
    out = np.zeros((N, C, Ho, Wo))
    for oy in range(Ho):
        for ox in range(Wo):
            for ky in range(fh):
                for kx in range(fw):
                    uy, ux = oy * downy + ky - py0, ox * downx + kx - px0  # position in the zero-inserted signal
                    if uy % upy or ux % upx:
                        continue
                    iy, ix = uy // upy, ux // upx
                    if 0 <= iy < H and 0 <= ix < W:
                        out[:, :, oy, ox] += w[ky, kx] * x[:, :, iy, ix]
    return torch.from_numpy(out)


@pytest.mark.parametrize(
    "up,down,pad,fshape,flip",
    [
        ((1, 1), (1, 1), (0, 0, 0, 0), (3, 3), False),
        ((2, 2), (1, 1), (2, 1, 2, 1), (4, 4), False),
        ((1, 1), (2, 2), (1, 1, 1, 1), (4, 4), True),
        ((3, 2), (2, 3), (1, -1, -2, 2), (3, 5), False),
        ((2, 1), (1, 2), (-1, 0, 0, 3), (2, 1), True),
    ],
)
def test_upfirdn2d_ref_matches_definition(up, down, pad, fshape, flip):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    f = torch.randn(*fshape, generator=g, dtype=torch.float64)
    y = ops.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=1.7, impl="ref")
    expect = upfirdn2d_loops(x, f, up, down, pad, flip, 1.7)
    assert y.shape == expect.shape
    torch.testing.assert_close(y, expect)


def test_separable_equals_outer_product():
    x = torch.randn(1, 2, 12, 11, dtype=torch.float64)
    f1 = ops.setup_filter([1, 2, 5, 3, 1, 1, 2, 1], separable=True)
    f2 = ops.setup_filter([1, 2, 5, 3, 1, 1, 2, 1], separable=False)
    assert f1.ndim == 1 and f2.ndim == 2
    for kw in [dict(up=2, padding=3), dict(down=(2, 1), padding=(1, 2, 3, 4)), dict(padding=-1)]:
        torch.testing.assert_close(ops.upfirdn2d(x, f1.double(), gain=3, impl="ref", **kw),
                                   ops.upfirdn2d(x, f2.double(), gain=3, impl="ref", **kw))


def test_setup_filter():
    f = ops.setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    assert math.isclose(f.sum().item(), 1.0, rel_tol=1e-6)
    assert ops.setup_filter([1] * 8).ndim == 1  # >= 8 taps stays separable by default
    g = ops.setup_filter([1, 2], normalize=False, flip_filter=True, gain=4)
    torch.testing.assert_close(g, torch.tensor([[4.0, 2.0], [2.0, 1.0]]) * 4)
    with pytest.raises(ValueError):
        ops.setup_filter(torch.ones(2, 2), separable=True)


@pytest.mark.parametrize("res", [4, 7])
def test_resampling_sizes_and_dc_gain(res):
    f = ops.setup_filter([1, 3, 3, 1])
    c = torch.full((1, 1, res, res), 2.5)
    up = ops.upsample2d(c, f, impl="ref")
    assert up.shape[-2:] == (2 * res, 2 * res)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.tensor(2.5))  # DC preserved away from the zero border
    dn = ops.downsample2d(torch.full((1, 1, 2 * res, 2 * res), 2.5), f, impl="ref")
    assert dn.shape[-2:] == (res, res) and torch.allclose(dn[..., 1:-1, 1:-1], torch.tensor(2.5))
    same = ops.filter2d(c, f, impl="ref")
    assert same.shape == c.shape and torch.allclose(same[..., 2:-2, 2:-2], torch.tensor(2.5))
    up3 = ops.upsample2d(c, ops.setup_filter([1, 3, 3, 1]), up=(3, 2), impl="ref")
    assert up3.shape[-2:] == (2 * res, 3 * res)


def test_bias_act_ref_formulae():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64).reshape(1, 61)
    b = torch.tensor([0.25], dtype=torch.float64)
    xb = x + 0.25
    sig = 1 / (1 + torch.exp(-xb))
    expect = {
        "linear": xb, "relu": xb.clamp(min=0) * math.sqrt(2), "lrelu": torch.where(xb > 0, xb, 0.2 * xb) * math.sqrt(2),
        "tanh": torch.tanh(xb), "sigmoid": sig, "elu": torch.where(xb > 0, xb, torch.exp(xb) - 1),
        "selu": 1.0507009873554805 * torch.where(xb > 0, xb, 1.6732632423543772 * (torch.exp(xb) - 1)),
        "softplus": torch.log1p(torch.exp(xb)), "swish": xb * sig * math.sqrt(2),
    }
    assert set(expect) == set(ACTIVATIONS)
    for act, e in expect.items():
        torch.testing.assert_close(ops.bias_act(x, b, dim=0, act=act, impl="ref"), e)
    y = ops.bias_act(x, None, act="lrelu", alpha=0.1, gain=3.0, clamp=1.5, impl="ref")
    torch.testing.assert_close(y, (torch.where(x > 0, x, 0.1 * x) * 3).clamp(-1.5, 1.5))
    with pytest.raises(ValueError, match="unknown act"):
        ops.bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="b must be 1-D"):
        ops.bias_act(x, torch.zeros(3), dim=1, impl="ref")


def test_import_never_builds(tmp_path):
    """`import ganctl.ops` (and the CLI's --help) must not compile or load native code."""
    code = ("import ganctl, ganctl.ops, torch, os; "
            "assert not hasattr(torch.ops.ganctl, 'upfirdn2d'); "
            "assert not os.path.exists(os.environ['GANCTL_CACHE']); print('ok')")
    env = {**__import__("os").environ, "GANCTL_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr
