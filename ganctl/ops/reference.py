"""Plain-PyTorch reference implementations of ganctl's ops: the test oracle and the fallback.

Semantics follow the ops StyleGAN users know (NVlabs' bias_act / upfirdn2d): written from their documented
behaviour, not their code. Everything here is differentiable to any order by ordinary autograd, so R1 and
path-length regularisation work through it on every device and dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------------------------------------------
# bias + activation


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float


_SQRT2 = math.sqrt(2.0)

ACTIVATIONS: dict[str, ActivationSpec] = {
    s.name: s
    for s in [
        ActivationSpec("linear", lambda x, a: x, 0.0, 1.0),
        ActivationSpec("relu", lambda x, a: F.relu(x), 0.0, _SQRT2),
        ActivationSpec("lrelu", lambda x, a: F.leaky_relu(x, a), 0.2, _SQRT2),
        ActivationSpec("tanh", lambda x, a: torch.tanh(x), 0.0, 1.0),
        ActivationSpec("sigmoid", lambda x, a: torch.sigmoid(x), 0.0, 1.0),
        ActivationSpec("elu", lambda x, a: F.elu(x, a), 1.0, 1.0),
        ActivationSpec("selu", lambda x, a: F.selu(x), 0.0, 1.0),
        ActivationSpec("softplus", lambda x, a: F.softplus(x), 0.0, 1.0),
        ActivationSpec("swish", lambda x, a: x * torch.sigmoid(x), 0.0, _SQRT2),
    ]
}


def resolve_bias_act_args(act: str, alpha, gain, clamp) -> tuple[ActivationSpec, float, float, float]:
    """Fill per-activation defaults; clamp < 0 means 'no clamp' (the form the native schema takes)."""
    spec = ACTIVATIONS.get(act)
    if spec is None:
        raise ValueError(f"bias_act: unknown act={act!r}; choose one of {', '.join(ACTIVATIONS)}")
    alpha = spec.def_alpha if alpha is None else float(alpha)
    gain = spec.def_gain if gain is None else float(gain)
    if clamp is not None and float(clamp) < 0:
        raise ValueError(f"bias_act: clamp must be >= 0 or None, got {clamp}")
    clamp = -1.0 if clamp is None else float(clamp)
    return spec, alpha, gain, clamp


def check_bias(x: torch.Tensor, b: torch.Tensor | None, dim: int) -> None:
    if b is None:
        return
    if b.ndim != 1 or not (0 <= dim < x.ndim) or b.shape[0] != x.shape[dim]:
        raise ValueError(f"bias_act: b must be 1-D with x.shape[{dim}] elements; got b {tuple(b.shape)}, x {tuple(x.shape)}")


def bias_act_ref(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None) -> torch.Tensor:
    """y = clamp(act(x + b) * gain, -clamp, clamp), b broadcast along `dim`."""
    spec, alpha, gain, clamp = resolve_bias_act_args(act, alpha, gain, clamp)
    check_bias(x, b, dim)
    if b is not None:
        x = x + b.to(x.dtype).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# ----------------------------------------------------------------------------------------------------------------
# FIR filters and upfirdn2d


def as_pair(v, what: str) -> tuple[int, int]:
    """int or (x, y) -> (x, y)."""
    if isinstance(v, int):
        return v, v
    v = tuple(int(t) for t in v)
    if len(v) != 2:
        raise ValueError(f"upfirdn2d: {what} must be an int or an (x, y) pair, got {v}")
    return v


def as_padding(padding) -> tuple[int, int, int, int]:
    """int, (px, py) or (px0, px1, py0, py1) -> (px0, px1, py0, py1)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    p = tuple(int(t) for t in padding)
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    if len(p) == 4:
        return p  # type: ignore[return-value]
    raise ValueError(f"upfirdn2d: padding must be int, (px, py) or (px0, px1, py0, py1), got {padding}")


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(fw, fh) of a 2-D [fh, fw] or separable 1-D [ft] filter."""
    if f is None:
        return 1, 1
    if f.ndim == 2:
        return int(f.shape[1]), int(f.shape[0])
    if f.ndim == 1:
        return int(f.shape[0]), int(f.shape[0])
    raise ValueError(f"upfirdn2d: filter must be 1-D (separable) or 2-D, got shape {tuple(f.shape)}")


def setup_filter(f=None, normalize=True, flip_filter=False, gain=1, separable=None, device=None) -> torch.Tensor:
    """Turn a list/array/tensor of taps into the float32 filter the ops take.

    A 1-D filter stays separable when `separable` is True, or when None and it has >= 8 taps (cheaper as two passes);
    otherwise it becomes its outer product. `normalize` makes the taps sum to 1 (DC gain 1); `gain` is applied to the
    whole (2-D) response, i.e. gain**(1/2) per separable pass.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"setup_filter: expected 1-D or 2-D taps, got shape {tuple(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = f.ger(f)
    if f.ndim == 2 and separable:
        raise ValueError("setup_filter: separable=True needs 1-D taps")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d_ref(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative crops), FIR filter (true convolution unless flip_filter), downsample."""
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d: x must be NCHW, got shape {tuple(x.shape)}")
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    filter_size(f)
    upx, upy = as_pair(up, "up")
    downx, downy = as_pair(down, "down")
    px0, px1, py0, py1 = as_padding(padding)
    if min(upx, upy, downx, downy) < 1:
        raise ValueError(f"upfirdn2d: up/down factors must be >= 1, got up={up} down={down}")
    N, C, H, W = x.shape

    # Zero insertion: each input sample is followed by (up - 1) zeros along each axis.
    if upx > 1 or upy > 1:
        x = x.reshape(N, C, H, 1, W, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(N, C, H * upy, W * upx)

    # Pad with zeros, then crop where the padding is negative.
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    # conv2d correlates, so flip the taps to get a true convolution (unless asked not to).
    f = (f * (gain ** (f.ndim / 2))).to(device=x.device, dtype=x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        w = f[None, None].expand(C, 1, *f.shape)
        x = F.conv2d(x, w, groups=C)
    else:
        x = F.conv2d(x, f[None, None, None, :].expand(C, 1, 1, f.shape[0]), groups=C)
        x = F.conv2d(x, f[None, None, :, None].expand(C, 1, f.shape[0], 1), groups=C)

    return x[:, :, ::downy, ::downx]


def upsample2d_padding(f, up, padding) -> tuple[tuple[int, int, int, int], int, int]:
    upx, upy = as_pair(up, "up")
    px0, px1, py0, py1 = as_padding(padding)
    fw, fh = filter_size(f)
    p = (px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2)
    return p, upx, upy


def downsample2d_padding(f, down, padding) -> tuple[int, int, int, int]:
    downx, downy = as_pair(down, "down")
    px0, px1, py0, py1 = as_padding(padding)
    fw, fh = filter_size(f)
    return (px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2)


def filter2d_padding(f, padding) -> tuple[int, int, int, int]:
    px0, px1, py0, py1 = as_padding(padding)
    fw, fh = filter_size(f)
    return (px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2)


# ----------------------------------------------------------------------------------------------------------------
# filtered leaky ReLU (StyleGAN3's alias-free nonlinearity)


def filtered_lrelu_out_size(in_hw, fu, fd, up, down, padding) -> tuple[int, int]:
    """(H, W) of filtered_lrelu's output: upsampled + padded input, shrunk by both filters' footprints, downsampled."""
    fu_w, fu_h = filter_size(fu)
    fd_w, fd_h = filter_size(fd)
    px0, px1, py0, py1 = as_padding(padding)
    h, w = in_hw
    return ((h * up + py0 + py1 - (fu_h - 1) - (fd_h - 1) + down - 1) // down,
            (w * up + px0 + px1 - (fu_w - 1) - (fd_w - 1) + down - 1) // down)


def upfirdn2d_grad_padding(in_hw, out_hw, f_hw, up, down, pad) -> tuple[int, int, int, int]:
    """Padding that makes upfirdn2d(dy, flipped f, up=down, down=up) the exact adjoint, with output size in_hw."""
    (H, W), (Ho, Wo), (fh, fw) = in_hw, out_hw, f_hw
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, pad
    return (
        fw - px0 - 1,
        W * upx - Wo * downx + px0 - upx + 1,
        fh - py0 - 1,
        H * upy - Ho * downy + py0 - upy + 1,
    )


def filter_hw(f) -> tuple[int, int]:
    """(h, w) of a 1-D (separable) or 2-D filter tensor."""
    return (f.shape[0], f.shape[0]) if f.dim() == 1 else (f.shape[0], f.shape[1])


def filtered_lrelu_sizes(in_hw, fu, fd, up, down, pu, pd) -> tuple[tuple[int, int], tuple[int, int]]:
    """((Hi, Wi), (Ho, Wo)) of ganctl::filtered_lrelu: its intermediate and its output (ganctl_ops.h)."""
    (H, W), (kuy, kux), (kdy, kdx) = in_hw, filter_hw(fu), filter_hw(fd)
    pux0, pux1, puy0, puy1 = pu
    pdx0, pdx1, pdy0, pdy1 = pd
    Hi, Wi = H * up + puy0 + puy1 - kuy + 1, W * up + pux0 + pux1 - kux + 1
    return (Hi, Wi), ((Hi + pdy0 + pdy1 - kdy + down) // down, (Wi + pdx0 + pdx1 - kdx + down) // down)


def filtered_lrelu_mask_row_bytes(wi: int) -> int:
    """Bytes per row of ganctl::filtered_lrelu's 2-bit mask: 4 codes a byte, rows padded to 32-bit words."""
    return 4 * ((wi + 15) // 16)


def check_filtered_lrelu_args(x, b, up, down, gain, slope, clamp) -> None:
    if x.ndim != 4:
        raise ValueError(f"filtered_lrelu: x must be NCHW, got shape {tuple(x.shape)}")
    check_bias(x, b, 1)
    if not (isinstance(up, int) and isinstance(down, int) and up >= 1 and down >= 1):
        raise ValueError(f"filtered_lrelu: up and down must be ints >= 1, got up={up!r} down={down!r}")
    if not float(gain) > 0 or float(slope) < 0 or (clamp is not None and float(clamp) < 0):
        raise ValueError(f"filtered_lrelu: need gain > 0, slope >= 0, clamp >= 0 or None; got {gain}, {slope}, {clamp}")


def filtered_lrelu_ref(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=_SQRT2, slope=0.2, clamp=None,
                       flip_filter=False) -> torch.Tensor:
    """bias -> upsample by `up` with FIR fu (gain up^2, `padding` w.r.t. the upsampled image) -> lrelu(slope) x gain,
    clamped -> FIR fd and keep every `down`-th sample. Alias-free when fu/fd are the layer's low-pass filters."""
    check_filtered_lrelu_args(x, b, up, down, gain, slope, clamp)
    x = bias_act_ref(x, b)
    x = upfirdn2d_ref(x, fu, up=up, padding=padding, gain=up ** 2, flip_filter=flip_filter)
    x = bias_act_ref(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d_ref(x, fd, down=down, flip_filter=flip_filter)
