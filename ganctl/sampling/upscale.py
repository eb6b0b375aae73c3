"""`ganctl upscale`: apply a super-resolution generator to users' images, as Real-ESRGAN's inference does.

Any size and mode: grayscale and RGB go through the network in its channel count (gray is repeated to RGB for an RGB
network and converted back); RGBA's alpha is upscaled separately through the network, as a gray image, and put back;
16-bit PNGs are read at 16 bits and written at 16 bits when grayscale (PIL writes no 16-bit RGB PNG: RGB outputs of
16-bit inputs are 8-bit). `outscale` resizes the network's output to input size x outscale (bicubic, antialiased).
`tile` processes the input in tile x tile pieces, each with `tile_pad` pixels of context on every side that are cut off
again, so memory is bounded; with a pad that covers the network's receptive field the result equals the whole-image
pass (tests/sampling/test_upscale.py measures it). Same-size inputs are batched. Every input is opened and checked
before anything is written: a bad one is one line (UsageError), and no output exists.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ganctl.errors import UsageError
from ganctl.sampling.conditioned import apply_generator
from ganctl.sampling.inputs import image_inputs



@dataclass
class Job:
    src: Path
    rel: Path                # output path relative to the output folder
    pixels: np.ndarray       # HWC float32 in [0, 1], colour channels (1 or 3)
    alpha: np.ndarray | None  # HW1 float32 in [0, 1]
    bits: int                # 8 or 16


def read_image(path: Path, rel: Path) -> Job:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                bits = 16 if arr.max() > 255 or mode.startswith("I;16") else 8
                pixels = (arr / (65535.0 if bits == 16 else 255.0))[..., None]
                alpha = None
            else:
                bits = 8
                if mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                elif mode not in ("L", "LA", "RGB", "RGBA"):
                    im = im.convert("RGB")
                arr = np.asarray(im, dtype=np.float64) / 255.0
                if arr.ndim == 2:
                    arr = arr[..., None]
                if im.mode in ("LA", "RGBA"):
                    pixels, alpha = arr[..., :-1], arr[..., -1:]
                else:
                    pixels, alpha = arr, None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable image ({type(e).__name__}); remove it or convert it to PNG") from None
    return Job(path, rel, pixels.astype(np.float32), None if alpha is None else alpha.astype(np.float32), bits)


def _to_net_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1)
    return (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)


@torch.no_grad()
def run_network(G, x01: torch.Tensor, tile: int = 0, tile_pad: int = 10) -> torch.Tensor:
    """G's output in [0, 1] for a [0, 1] batch, whole or in padded tiles (Real-ESRGAN's tile scheme)."""
    def net(t):
        return (apply_generator(G, t * 2 - 1) + 1) * 0.5

    if not tile:
        return net(x01)
    n, c, h, w = x01.shape
    scale = G.scale
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            pt, pl = max(top - tile_pad, 0), max(left - tile_pad, 0)
            pb, pr = min(bottom + tile_pad, h), min(right + tile_pad, w)
            y = net(x01[:, :, pt:pb, pl:pr])
            if out is None:
                out = torch.empty(n, y.shape[1], h * scale, w * scale, dtype=y.dtype, device=y.device)
            out[:, :, top * scale:bottom * scale, left * scale:right * scale] = \
                y[:, :, (top - pt) * scale:(bottom - pt) * scale, (left - pl) * scale:(right - pl) * scale]
    return out


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)


def upscale_jobs(G, jobs: list[Job], device, outscale: float | None, tile: int, tile_pad: int, batch: int,
                 progress: Callable[[int], None] = lambda n: None):
    """Yield (job, HWC uint8/uint16 array) per job, same-size jobs batched through the network."""
    channels = G.img_channels
    scale = G.scale
    groups: dict = {}
    for j in jobs:
        groups.setdefault((j.pixels.shape, j.alpha is not None), []).append(j)
    for (shape, _), group in groups.items():
        h, w = shape[:2]
        size = (h * scale, w * scale) if outscale is None else (int(h * outscale), int(w * outscale))
        for i in range(0, len(group), batch):
            part = group[i:i + batch]
            x = torch.from_numpy(np.stack([j.pixels for j in part])).permute(0, 3, 1, 2).to(device)
            y = run_network(G, _to_net_channels(x, channels), tile, tile_pad)
            y = _resize(_to_net_channels(y, x.shape[1]), size).clamp(0, 1)
            alpha = None
            if part[0].alpha is not None:
                a = torch.from_numpy(np.stack([j.alpha for j in part])).permute(0, 3, 1, 2).to(device)
                ya = run_network(G, _to_net_channels(a, channels), tile, tile_pad)
                alpha = _resize(_to_net_channels(ya, 1), size).clamp(0, 1)
            for k, job in enumerate(part):
                out = y[k] if alpha is None else torch.cat([y[k], alpha[k]])
                top = 65535.0 if job.bits == 16 and out.shape[0] == 1 else 255.0
                arr = (out.permute(1, 2, 0).cpu().double() * top).round().numpy()
                yield job, arr.astype(np.uint16 if top > 255 else np.uint8)
            progress(len(part))


def plan(inputs, G, outscale: float | None) -> list[Job]:
    """Open and check every input (nothing is written yet)."""
    jobs = [read_image(src, rel) for src, rel in image_inputs(inputs, "upscale")]
    if not jobs:
        raise UsageError("no input images given")
    for j in jobs:
        h, w = j.pixels.shape[:2]
        if outscale is not None and (int(h * outscale) < 1 or int(w * outscale) < 1):
            raise UsageError(f"{j.src}: {w}x{h} at --outscale {outscale} is smaller than 1 pixel; use a larger --outscale")
    return jobs


def output_paths(out_dir: str | os.PathLike, jobs: list[Job]) -> list[Path]:
    return [Path(out_dir) / j.rel for j in jobs]


def check_outscale(outscale: float | None) -> None:
    if outscale is not None and (not math.isfinite(outscale) or outscale <= 0):
        raise UsageError(f"--outscale {outscale}: must be a positive number, e.g. 3.5")
