"""filtered_lrelu: the reference against its definition (dense loops), the native route against the reference
(forward, backward, double backward), sizes, and bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ganctl.ops as ops
from ganctl.ops.reference import filtered_lrelu_out_size
from test_native_cpu import assert_native_matches_ref


def _upfirdn_dense(x, f, up, down, pad, gain):
    """upfirdn2d from its definition with numpy: zero insertion, pad/crop, full 2-D true convolution, decimation."""
    f = np.outer(f, f) if f.ndim == 1 else f
    f = np.asarray(f, np.float64) * gain
    N, C, H, W = x.shape
    u = np.zeros((N, C, H * up, W * up))
    u[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    u = np.pad(u, ((0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
    u = u[:, :, max(-py0, 0): u.shape[2] - max(-py1, 0), max(-px0, 0): u.shape[3] - max(-px1, 0)]
    fh, fw = f.shape
    Ho, Wo = u.shape[2] - fh + 1, u.shape[3] - fw + 1
    y = np.zeros((N, C, Ho, Wo))
    fk = f[::-1, ::-1]  # true convolution
    for i in range(fh):
        for j in range(fw):
            y += fk[i, j] * u[:, :, i:i + Ho, j:j + Wo]
    return y[:, :, ::down, ::down]


def filtered_lrelu_definition(x, fu, fd, b, up, down, pad, gain, slope, clamp):
    x = x + b[None, :, None, None]
    x = _upfirdn_dense(x, fu, up, 1, pad, up ** 2)
    x = np.where(x >= 0, x, x * slope) * gain
    if clamp is not None:
        x = np.clip(x, -clamp, clamp)
    return _upfirdn_dense(x, fd, 1, down, (0, 0, 0, 0), 1)


CASES = [  # up, down, padding, fu taps, fd shape (1-D taps or 2-D radial), clamp
    (2, 2, (5, 4, 5, 4), 12, (12,), None),
    (2, 1, (3, 3, 2, 4), 8, (4,), 0.7),
    (1, 2, (4, 5, 4, 5), 1, (12, 12), 1.5),
    (4, 2, (9, 8, 9, 8), 24, (12,), None),
    (1, 1, (0, 0, 0, 0), 1, (1,), None),  # ToRGB: only bias + lrelu(slope 1) + clamp
]


def _inputs(case, dtype=torch.float64, seed=0):
    up, down, pad, fu_taps, fd_shape, clamp = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 12, 11, generator=g, dtype=dtype)
    b = torch.randn(3, generator=g, dtype=dtype)
    fu = torch.rand(fu_taps, generator=g, dtype=torch.float32) + 0.1
    fd = torch.rand(*fd_shape, generator=g, dtype=torch.float32) + 0.1
    return x, b, fu / fu.sum(), fd / fd.sum()


@pytest.mark.parametrize("case", CASES)
def test_reference_matches_definition(case):
    up, down, pad, _, _, clamp = case
    x, b, fu, fd = _inputs(case)
    slope, gain = (1.0, 1.0) if up == down == 1 else (0.2, math.sqrt(2))
    y = ops.filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=pad, gain=gain, slope=slope, clamp=clamp, impl="ref")
    want = filtered_lrelu_definition(x.numpy(), fu.double().numpy(), fd.double().numpy(), b.numpy(), up, down, pad,
                                     gain, slope, clamp)
    assert tuple(y.shape[2:]) == filtered_lrelu_out_size(x.shape[2:], fu, fd, up, down, pad) == want.shape[2:]
    np.testing.assert_allclose(y.numpy(), want, atol=1e-10, rtol=1e-10)


@pytest.mark.usefixtures("native_ops")
@pytest.mark.parametrize("case", CASES[:4])
def test_native_matches_reference_to_second_order(case):
    up, down, pad, _, _, clamp = case
    x, b, fu, fd = _inputs(case, seed=1)
    assert_native_matches_ref(lambda x, b, impl: ops.filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=pad,
                                                                    clamp=clamp, impl=impl), [x, b])


@pytest.mark.usefixtures("native_ops")
def test_native_float32_forward_and_backward():
    x, b, fu, fd = _inputs(CASES[0], dtype=torch.float32, seed=2)
    x.requires_grad_(True)
    outs = []
    for impl in ("native", "ref"):
        y = ops.filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=(5, 4, 5, 4), clamp=256, impl=impl)
        (gx,) = torch.autograd.grad(y.square().sum(), x)
        outs.append((y, gx))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs[0][1], outs[1][1], atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(up=0), "up and down"), (dict(down=1.5), "up and down"), (dict(gain=0), "gain > 0"),
    (dict(slope=-1), "slope"), (dict(clamp=-2), "clamp"),
])
def test_bad_arguments_are_one_clear_error(kwargs, match):
    x = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=match):
        ops.filtered_lrelu(x, **kwargs, impl="ref")
    with pytest.raises(ValueError, match="b must be 1-D"):
        ops.filtered_lrelu(x, b=torch.zeros(3), impl="ref")
