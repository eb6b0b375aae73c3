"""Image grids and PNG writing (every PNG carries ganctl's provenance statement unless told otherwise)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch


def grid_shape(n: int) -> tuple[int, int]:
    cols = int(math.ceil(math.sqrt(n)))
    return int(math.ceil(n / cols)), cols


def make_grid(images_u8: torch.Tensor, cols: int | None = None) -> np.ndarray:
    """(N, C, H, W) uint8 -> one (rows*H, cols*W, C) uint8 array, row-major, empty cells black."""
    n, c, h, w = images_u8.shape
    rows, cols_ = grid_shape(n) if cols is None else (int(math.ceil(n / cols)), cols)
    canvas = np.zeros((rows * h, cols_ * w, c), dtype=np.uint8)
    arr = images_u8.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, k = divmod(i, cols_)
        canvas[r * h:(r + 1) * h, k * w:(k + 1) * w] = arr[i]
    return canvas


def save_png(array_hwc: np.ndarray, path: str | os.PathLike, provenance=True) -> Path:
    """Write atomically (temp + rename) so a reader never sees half a PNG. `provenance`: True writes the default
    AI-generated statement (sampling/provenance.py), a Provenance adds its fields, None/False writes none.
    A Provenance's output policy (sampling/output.py) watermarks the pixels and/or signs the file before the rename:
    this is the one place every generated PNG passes through."""
    from PIL import Image

    from ganctl.sampling.output import mark_pixels, sign_in_place
    from ganctl.sampling.provenance import png_info, resolve

    path = Path(path)
    prov = resolve(provenance)
    array_hwc = mark_pixels(array_hwc, prov)
    img = Image.fromarray(array_hwc[..., 0] if array_hwc.shape[-1] == 1 else array_hwc)
    tmp = path.with_name(path.name + ".tmp")
    try:
        img.save(tmp, format="PNG", pnginfo=png_info(prov))
        sign_in_place(tmp, path.name, prov)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a half-written temp file behind
        raise
    return path
