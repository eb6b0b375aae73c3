"""filtered_lrelu: the reference against its definition (dense loops), the fused native kernel against the reference
over a battery of geometries (forward, backward, double backward, gradcheck), opcheck of the custom op, sizes, and
bad arguments. The same battery runs the CUDA kernel under emulation (test_cuda_emulated.py)."""

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


# The fused kernel's battery: (name, shape, up, down, padding, fu, fd, clamp, slope, gain, bias, flip). fu / fd: an int
# = 1-D separable taps (NVlabs' -t), a pair = a 2-D filter (-r's radial down filter), None = identity.
BATTERY = [
    ("t_up2_down2", (2, 3, 12, 11), 2, 2, (5, 4, 5, 4), 12, 12, None, 0.2, math.sqrt(2), True, False),
    ("t_clamp", (1, 2, 9, 10), 2, 2, (5, 4, 5, 4), 12, 12, 0.3, 0.2, math.sqrt(2), True, False),
    ("up2_down1", (2, 3, 12, 11), 2, 1, (3, 3, 2, 4), 8, 4, 0.7, 0.2, math.sqrt(2), True, False),
    ("r_radial_down", (2, 3, 12, 11), 1, 2, (4, 5, 4, 5), 1, (12, 12), 1.5, 0.2, math.sqrt(2), True, False),
    ("up4_down2", (1, 2, 7, 8), 4, 2, (9, 8, 9, 8), 24, 12, None, 0.2, math.sqrt(2), True, False),
    ("torgb_identity", (2, 3, 5, 4), 1, 1, 0, None, None, 256.0, 1.0, 1.0, True, False),
    ("2d_both_slope0_nobias", (1, 2, 7, 9), 2, 2, (2, 3, 1, 4), (6, 6), (5, 5), None, 0.0, math.sqrt(2), False, False),
    ("up4_short_phase_crop_flip", (1, 2, 6, 7), 4, 1, (-1, 2, 3, -2), 9, 3, 0.5, 0.2, 1.3, True, True),
    ("filters_only_pad", (2, 1, 5, 5), 1, 1, (2, 2, 2, 2), 5, 3, None, 0.0, 1.0, True, False),
    ("nonsquare_2d_odd", (1, 1, 5, 6), 2, 2, (1, 2, 0, 3), 4, (3, 4), 0.8, 0.2, math.sqrt(2), True, True),
]


def _filter(spec, g):
    if spec is None:
        return None
    f = torch.rand(*((spec,) if isinstance(spec, int) else spec), generator=g) + 0.05
    return f / f.sum()


def battery_inputs(case, dtype=torch.float64, seed=0):
    """x, b (or None), fu, fd (float32, as setup_filter gives them) and the op's keyword arguments."""
    _, shape, up, down, pad, fu, fd, clamp, slope, gain, bias, flip = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)
    b = torch.randn(shape[1], generator=g, dtype=torch.float64).to(dtype) if bias else None
    kw = dict(up=up, down=down, padding=pad, gain=gain, slope=slope, clamp=clamp, flip_filter=flip)
    return x, b, _filter(fu, g), _filter(fd, g), kw


@pytest.mark.usefixtures("native_ops")
@pytest.mark.parametrize("case", BATTERY, ids=[c[0] for c in BATTERY])
def test_fused_matches_reference_to_second_order(case):
    x, b, fu, fd, kw = battery_inputs(case, seed=3)
    fn = lambda x, b, impl: ops.filtered_lrelu(x, fu, fd, b, impl=impl, **kw)  # noqa: E731
    if b is None:
        assert_native_matches_ref(lambda x, impl: fn(x, None, impl), [x])
    else:
        assert_native_matches_ref(fn, [x, b])


@pytest.mark.usefixtures("native_ops")
def test_fused_gradcheck_and_gradgradcheck():
    x, b, fu, fd, kw = battery_inputs(BATTERY[9], seed=4)
    fn = lambda x, b: ops.filtered_lrelu(x, fu, fd, b, impl="native", **kw)  # noqa: E731
    x.requires_grad_(True)
    b.requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.usefixtures("native_ops")
def test_fused_float32_layouts():
    """fp32 at a StyleGAN3-t layer's geometry; channels-last and strided inputs give the same values."""
    x, b, fu, fd, kw = battery_inputs(BATTERY[0], dtype=torch.float32, seed=5)
    want = ops.filtered_lrelu(x.double(), fu, fd, b.double(), impl="ref", **kw)
    big = torch.zeros(*x.shape[:-1], 2 * x.shape[-1])
    big[..., ::2] = x
    for xl in (x, x.contiguous(memory_format=torch.channels_last), big[..., ::2]):
        y = ops.filtered_lrelu(xl, fu, fd, b, impl="native", **kw)
        assert y.dtype == torch.float32 and y.is_contiguous()
        torch.testing.assert_close(y.double(), want, atol=2e-5, rtol=1e-5)


@pytest.mark.usefixtures("native_ops")
def test_opcheck_forward_and_read_mode():
    """torch.library.opcheck on both modes: schema, fake kernel (shapes of y and the mask), autograd registration."""
    op = torch.ops.ganctl.filtered_lrelu
    x, b, fu, fd, _ = battery_inputs(BATTERY[2], dtype=torch.float32, seed=6)
    x.requires_grad_(True)
    b.requires_grad_(True)
    args = (x, fu, fd, b, None, 2, 1, 3, 3, 2, 4, 0, 0, 0, 0, 4.0, 1.0, math.sqrt(2), 0.2, 0.7, False)
    torch.library.opcheck(op, args)
    _, si = op(*args)
    # the 2-bit mask of the 23 x 21 intermediate: 4 codes a byte, rows padded to 32-bit words (16 codes)
    assert si.dtype == torch.uint8 and tuple(si.shape) == (2, 3, 12 * 2 + 6 - 7, 8)
    dy = torch.randn(2, 3, 23 - 3, 21 - 3, requires_grad=True)
    torch.library.opcheck(op, (dy, fd, fu, None, si, 1, 2, 3, 3, 3, 3, 4, 3, 5, 2, 1.0, 4.0, 1.4, 0.2, -1.0, True))


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
