"""Latent walk videos as NVlabs' gen_video.py makes them: keyframes (seeds' w, projected w, or for families without a
W space the seeds' z) laid out on a grid, each cell interpolating its own keyframes with a cubic spline (scipy's
interp1d, kind "cubic") over the keyframes repeated `wraps` times on each side, so the loop closes smoothly; `w_frames`
frames per keyframe. Seeds fill the cells in order, cell (row y, column x) taking keyframes
all_seeds[(y * grid_w + x) * num_keyframes + k]; with fewer seeds than cells x keyframes the list repeats.
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.errors import UsageError
from ganctl.sampling.latents import classes_for_seeds, split_truncation, to_uint8, z_for_seeds


def keyframe_seeds(seeds: list[int], grid_w: int, grid_h: int, num_keyframes: int | None) -> tuple[list[int], int]:
    cells = grid_w * grid_h
    if num_keyframes is None:
        num_keyframes = len(seeds) // cells
    if num_keyframes < 1:
        raise UsageError(f"--seeds: {len(seeds)} seeds fill fewer than one keyframe of a {grid_w}x{grid_h} grid; "
                         f"give at least {cells} (or --keyframes)")
    return [seeds[i % len(seeds)] for i in range(num_keyframes * cells)], num_keyframes


def splines(keys: np.ndarray, wraps: int = 2, kind: str = "cubic"):
    """keys (num_keyframes, ...) -> f(t) for t in keyframe units, periodic by construction over the repeats."""
    import scipy.interpolate

    n = keys.shape[0]
    x = np.arange(-n * wraps, n * (wraps + 1))
    y = np.tile(keys, [wraps * 2 + 1] + [1] * (keys.ndim - 1))
    return scipy.interpolate.interp1d(x, y, kind=kind, axis=0)


@torch.no_grad()
def video_frames(gen, keys: torch.Tensor, grid_w: int, grid_h: int, w_frames: int, space: str,
                 classes: torch.Tensor | None = None, truncation_psi: float = 1.0, batch_size: int = 16):
    """Yield uint8 frames (C, H*grid_h, W*grid_w). `keys` (cells, num_keyframes, ...) are ws (space 'w') or z."""
    if w_frames < 1:
        raise UsageError("--w-frames: must be at least 1")
    G = gen.G
    cells, num_keyframes = keys.shape[:2]
    fns = [splines(keys[i].double().cpu().numpy()) for i in range(cells)]
    for f in range(num_keyframes * w_frames):
        t = f / w_frames
        lat = torch.from_numpy(np.stack([fn(t) for fn in fns])).float().to(gen.device)
        imgs = []
        for i in range(0, cells, batch_size):
            if space == "w":
                imgs.append(G.synthesis(lat[i:i + batch_size], noise_mode="const"))
            else:
                cc = None if classes is None else classes[i:i + batch_size]
                imgs.append(G(lat[i:i + batch_size], cc, truncation_psi=truncation_psi, noise_mode="const"))
        u8 = to_uint8(torch.cat(imgs)).cpu()
        c, h, w = u8.shape[1:]
        yield u8.reshape(grid_h, grid_w, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, grid_h * h, grid_w * w)


def seed_keys(gen, seeds, grid_w, grid_h, num_keyframes, truncation_psi, class_idx):
    """(keys (cells, num_keyframes, ...), space, classes per cell or None, all_seeds); pass the family's G psi
    (sampling.latents.split_truncation) to video_frames."""
    from ganctl.latent.wspace import has_w_space, ws_for_seeds

    all_seeds, nk = keyframe_seeds(list(seeds), grid_w, grid_h, num_keyframes)
    cells = grid_w * grid_h
    if has_w_space(gen.G):
        ws = ws_for_seeds(gen, all_seeds, truncation_psi, class_idx)
        return ws.reshape(cells, nk, *ws.shape[1:]), "w", None, all_seeds
    gen._check_class(class_idx)
    resample_psi, _ = split_truncation(gen.truncation, truncation_psi)  # BigGAN truncates the keyframes' z itself
    z = z_for_seeds(all_seeds, gen.G.z_dim, resample_psi=resample_psi)
    c = classes_for_seeds(all_seeds[::nk], gen.num_classes, class_idx, gen.device)  # a cell keeps its first seed's class
    return z.reshape(cells, nk, -1), "z", c, all_seeds
