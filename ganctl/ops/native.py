"""Python-side torch.library registrations for the native ops (autograd formulas and fake kernels), and callers.

Imported only after the native library (native/*.cpp, *.cu) has been loaded, since the schemas are defined there
(TORCH_LIBRARY(ganctl)). Autograd:
- bias_act: dx = bias_act_grad(dy, order=1), db = sum of dx over all axes but `dim`.
- bias_act_grad(order=1) is differentiable again: d/d(dy) is bias_act_grad(order=1) and d/dx is
  bias_act_grad(g * dy, order=2), which is what R1 / path-length regularisation need. Third order is not supported.
- upfirdn2d: the gradient is an upfirdn2d of dy with up/down swapped, the filter flipped and the padding chosen so
  that the result has x's size; being the same op, it is differentiable to any order.
- filtered_lrelu: the forward returns the 2-bit mask si of its intermediate (sign / clamped, ganctl_ops.h); the gradient is
  the same op in read mode (si given, which makes it linear in its input) with up/down and fu/fd swapped, the
  filters flipped and the paddings of upfirdn2d's adjoint; its own gradient is again that op, so every order is the
  fused kernel (the mask is piecewise constant, so no term comes from it). db = sum of dx over N, H, W.
The fake kernels give torch.compile (and opcheck) the output shapes and layouts the real kernels produce.
"""

from __future__ import annotations

import torch

from ganctl.ops.reference import filter_hw as _filter_hw
from ganctl.ops.reference import filtered_lrelu_mask_row_bytes, filtered_lrelu_sizes
from ganctl.ops.reference import upfirdn2d_grad_padding

_ops = torch.ops.ganctl


def _reduce_dims(ndim: int, dim: int) -> list[int]:
    return [i for i in range(ndim) if i != dim]


# ---------------------------------------------------------------------------------------------------------------
# fake kernels


@torch.library.register_fake("ganctl::bias_act")
def _bias_act_fake(x, b, dim, act, alpha, gain, clamp):
    return torch.empty_like(x)


@torch.library.register_fake("ganctl::bias_act_grad")
def _bias_act_grad_fake(dy, x, b, y, dim, act, alpha, gain, clamp, order):
    return torch.empty_like(x)


def _out_size(n, up, down, p0, p1, taps):
    return (n * up + p0 + p1 - taps + down) // down


@torch.library.register_fake("ganctl::upfirdn2d")
def _upfirdn2d_fake(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip, gain):
    torch._check(x.dim() == 4 and f.dim() == 2, lambda: "ganctl::upfirdn2d: x must be NCHW and f 2-D")
    N, C, H, W = x.shape
    Ho = _out_size(H, upy, downy, pady0, pady1, f.shape[0])
    Wo = _out_size(W, upx, downx, padx0, padx1, f.shape[1])
    return x.new_empty((N, C, Ho, Wo))


@torch.library.register_fake("ganctl::filtered_lrelu")
def _filtered_lrelu_fake(x, fu, fd, b, si, up, down, pux0, pux1, puy0, puy1, pdx0, pdx1, pdy0, pdy1, gain_u, gain_d,
                         gain, slope, clamp, flip):
    torch._check(x.dim() == 4, lambda: "ganctl::filtered_lrelu: x must be NCHW")
    N, C, H, W = x.shape
    (Hi, Wi), (Ho, Wo) = filtered_lrelu_sizes((H, W), fu, fd, up, down, (pux0, pux1, puy0, puy1),
                                              (pdx0, pdx1, pdy0, pdy1))
    mask = x.new_empty((0,) if si is not None else (N, C, Hi, filtered_lrelu_mask_row_bytes(Wi)), dtype=torch.uint8)
    return x.new_empty((N, C, Ho, Wo)), mask


# ---------------------------------------------------------------------------------------------------------------
# autograd


def _bias_act_setup(ctx, inputs, output):
    x, b, dim, act, alpha, gain, clamp = inputs
    # y is needed only for the clamp mask; without clamping keep no extra reference to it.
    ctx.save_for_backward(x, b, output if clamp >= 0 else None)
    ctx.params = (dim, act, alpha, gain, clamp)


def _bias_act_backward(ctx, dy):
    x, b, y = ctx.saved_tensors
    dim, act, alpha, gain, clamp = ctx.params
    dx = _ops.bias_act_grad(dy, x, b, x if y is None else y, dim, act, alpha, gain, clamp, 1)
    db = None
    if b is not None and ctx.needs_input_grad[1]:
        db = dx.sum(_reduce_dims(dx.ndim, dim)).to(b.dtype)
    return dx, db, None, None, None, None, None


def _bias_act_grad_setup(ctx, inputs, output):
    dy, x, b, y, dim, act, alpha, gain, clamp, order = inputs
    ctx.save_for_backward(dy, x, b, y)
    ctx.params = (dim, act, alpha, gain, clamp, order)


def _bias_act_grad_backward(ctx, g):
    dy, x, b, y = ctx.saved_tensors
    dim, act, alpha, gain, clamp, order = ctx.params
    gdy = gx = gb = None
    if ctx.needs_input_grad[0]:
        gdy = _ops.bias_act_grad(g, x, b, y, dim, act, alpha, gain, clamp, order)
    if ctx.needs_input_grad[1] or (b is not None and ctx.needs_input_grad[2]):
        if order != 1:
            raise NotImplementedError("ganctl.ops.bias_act: third-order gradients are not supported (use impl='ref')")
        gx = _ops.bias_act_grad(g * dy, x, b, y, dim, act, alpha, gain, clamp, 2)
        if b is not None and ctx.needs_input_grad[2]:
            gb = gx.sum(_reduce_dims(gx.ndim, dim)).to(b.dtype)
        if not ctx.needs_input_grad[1]:
            gx = None
    return gdy, gx, gb, None, None, None, None, None, None, None


def _upfirdn2d_setup(ctx, inputs, output):
    x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip, gain = inputs
    ctx.save_for_backward(f)
    ctx.params = (upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip, gain)
    ctx.in_hw = (x.shape[2], x.shape[3])


def _upfirdn2d_backward(ctx, dy):
    (f,) = ctx.saved_tensors
    upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip, gain = ctx.params
    q = upfirdn2d_grad_padding(ctx.in_hw, (dy.shape[2], dy.shape[3]), (f.shape[0], f.shape[1]), (upx, upy),
                               (downx, downy), (padx0, padx1, pady0, pady1))
    dx = _ops.upfirdn2d(dy, f, downx, downy, upx, upy, *q, not flip, gain)
    return dx, None, None, None, None, None, None, None, None, None, None, None


def _filtered_lrelu_setup(ctx, inputs, output):
    x, fu, fd, b, si, up, down, *pads, gain_u, gain_d, gain, slope, clamp, flip = inputs
    ctx.save_for_backward(fu, fd, output[1] if si is None else si)
    ctx.params = (up, down, tuple(pads[:4]), tuple(pads[4:]), gain_u, gain_d, gain, slope, flip)
    ctx.in_hw = (x.shape[2], x.shape[3])
    ctx.mid_hw = filtered_lrelu_sizes(ctx.in_hw, fu, fd, up, down, ctx.params[2], ctx.params[3])[0]
    ctx.has_b = b is not None


def _filtered_lrelu_backward(ctx, dy, _dsi):
    fu, fd, si = ctx.saved_tensors
    up, down, pu, pd, gain_u, gain_d, gain, slope, flip = ctx.params
    mid_hw = ctx.mid_hw
    # The adjoint of each upfirdn2d stage (upfirdn2d_grad_padding), in reverse order, around the masked activation.
    q = upfirdn2d_grad_padding(mid_hw, (dy.shape[2], dy.shape[3]), _filter_hw(fd), (1, 1), (down, down), pd)
    r = upfirdn2d_grad_padding(ctx.in_hw, mid_hw, _filter_hw(fu), (up, up), (1, 1), pu)
    dx, _ = _ops.filtered_lrelu(dy, fd, fu, None, si, down, up, *q, *r, gain_d, gain_u, gain, slope, -1.0, not flip)
    db = dx.sum([0, 2, 3]) if ctx.has_b and ctx.needs_input_grad[3] else None
    return (dx, None, None, db) + (None,) * 17


torch.library.register_autograd("ganctl::bias_act", _bias_act_backward, setup_context=_bias_act_setup)
torch.library.register_autograd("ganctl::bias_act_grad", _bias_act_grad_backward, setup_context=_bias_act_grad_setup)
torch.library.register_autograd("ganctl::upfirdn2d", _upfirdn2d_backward, setup_context=_upfirdn2d_setup)
torch.library.register_autograd("ganctl::filtered_lrelu", _filtered_lrelu_backward,
                                setup_context=_filtered_lrelu_setup)


# ---------------------------------------------------------------------------------------------------------------
# callers used by ganctl.ops.functional


def bias_act(x, b, dim: int, act: str, alpha: float, gain: float, clamp: float) -> torch.Tensor:
    return _ops.bias_act(x, b, dim, act, alpha, gain, clamp)


def upfirdn2d(x, f, up, down, pad, flip: bool, gain: float) -> torch.Tensor:
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    f = f.to(device=x.device, dtype=torch.float64 if x.dtype == torch.float64 else torch.float32)
    if f.ndim == 2:
        return _ops.upfirdn2d(x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip, gain)
    # Separable: a horizontal then a vertical pass, each with half the gain exponent (as the reference does).
    g = gain ** 0.5
    x = _ops.upfirdn2d(x, f[None, :], upx, 1, downx, 1, px0, px1, 0, 0, flip, g)
    return _ops.upfirdn2d(x, f[:, None], 1, upy, 1, downy, 0, 0, py0, py1, flip, g)


def filtered_lrelu(x, fu, fd, b, up: int, down: int, pad, gain: float, slope: float, clamp: float,
                   flip: bool) -> torch.Tensor:
    """The fused kernel: fu/fd 1-D (separable) or 2-D (None = identity); pad = (px0, px1, py0, py1) on the
    upsampled grid; clamp < 0 = none."""
    fdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    one = torch.ones([1], dtype=fdt, device=x.device)
    fu = one if fu is None else fu.to(device=x.device, dtype=fdt)
    fd = one if fd is None else fd.to(device=x.device, dtype=fdt)
    if b is not None:
        b = b.to(x.dtype)
    y, _ = _ops.filtered_lrelu(x, fu, fd, b, None, up, down, *pad, 0, 0, 0, 0, float(up * up), 1.0, gain, slope,
                               clamp, flip)
    return y

