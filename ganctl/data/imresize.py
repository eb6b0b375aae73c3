"""MATLAB-compatible bicubic `imresize` (the degradation SR papers and BasicSR's datasets use to make LR images).

How it differs from PIL and torch bicubic: MATLAB's cubic kernel has a = -0.5 (torch's F.interpolate uses -0.75; PIL
uses -0.5 too), and when shrinking MATLAB stretches the kernel by 1/scale so it also low-pass filters (antialiasing:
torch does not unless `antialias=True`, and then its support and normalisation at the borders differ); MATLAB pads by
mirroring the edge pixel included ("symmetric"), where torch clamps to the edge. Output size is ceil(in * scale).

Each axis is one dense (out, in) weight matrix built in float64, so a resize is two matrix products on any batch.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    a2, a3 = a * a, a * a * a
    return ((1.5 * a3 - 2.5 * a2 + 1) * (a <= 1)
            + (-0.5 * a3 + 2.5 * a2 - 4 * a + 2) * ((a > 1) & (a <= 2)))


@lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """(out_len, in_len) float64 weights of MATLAB's bicubic resize along one axis (rows sum to 1)."""
    width = 4.0
    shrink_aa = scale < 1 and antialias
    if shrink_aa:
        width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)         # output pixel centres in input coordinates (1-based)
    left = np.floor(u - width / 2)
    p = math.ceil(width) + 2
    idx = left[:, None] + np.arange(p)[None, :]   # 1-based input taps
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if shrink_aa else _cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    # Symmetric padding: the edge pixel is repeated in the mirror (..., 2, 1, 1, 2, ...), periodic with 2 * in_len.
    j = (idx.astype(np.int64) - 1) % (2 * in_len)
    j = np.where(j >= in_len, 2 * in_len - 1 - j, j)
    m = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(m, (np.repeat(np.arange(out_len), p), j.reshape(-1)), w.reshape(-1))
    return m


def imresize(img: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """Resize float images (..., H, W) by `scale` (the same for both axes) like MATLAB's imresize(img, scale, 'bicubic').
    No rounding or clamping: the caller quantises (BasicSR rounds to uint8 when it writes LR images)."""
    h, w = img.shape[-2:]
    oh, ow = math.ceil(h * scale), math.ceil(w * scale)
    mh = torch.from_numpy(resize_matrix(h, oh, float(scale), antialias)).to(img.device, torch.float64)
    mw = torch.from_numpy(resize_matrix(w, ow, float(scale), antialias)).to(img.device, torch.float64)
    out = mh @ img.to(torch.float64) @ mw.T   # H first, then W, as MATLAB does (the order only changes rounding)
    return out.to(img.dtype) if img.dtype.is_floating_point else out.float()


def imresize_uint8(img_u8: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """uint8 in, uint8 out (rounded to nearest, clamped): how LR training images are made from HR ones."""
    out = imresize(img_u8.to(torch.float64), scale, antialias)
    return out.round().clamp_(0, 255).to(torch.uint8)
