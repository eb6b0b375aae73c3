"""Style mixing: the classic grid of a style-based generator.

Top row: the column seeds' images; left column: the row seeds' images; cell (r, c): row seed r's w with column seed
c's w copied into the chosen layers (`styles`, indices into ws). Coarse layers (0-3) carry pose and shape, middle
(4-7) features, fine (8+) colour and texture. Latents follow ganctl's per-seed rule (sampling/latents.py).
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.errors import UsageError
from ganctl.sampling.grid import make_grid
from ganctl.sampling.latents import classes_for_seeds, to_uint8, z_for_seeds


@torch.no_grad()
def style_mix_grid(G, row_seeds, col_seeds, styles, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const",
                   class_idx=None, device="cpu", batch=16):
    """-> (grid uint8 (H*(R+1), W*(C+1), C) numpy array, {(row_seed, col_seed): uint8 HxWxC numpy image}).

    The dict holds every cell; (s, s) is seed s's own image (the grid's top row and left column).
    """
    if not hasattr(G, "mapping") or not hasattr(G, "num_ws"):
        raise UsageError("style-mix needs a style-based generator (family stylegan2); this checkpoint's G has no "
                         "mapping network")
    row_seeds, col_seeds, styles = [int(s) for s in row_seeds], [int(s) for s in col_seeds], [int(s) for s in styles]
    if not row_seeds or not col_seeds:
        raise UsageError("style-mix: give at least one seed in --rows and one in --cols")
    bad = [s for s in styles if not 0 <= s < G.num_ws]
    if bad or not styles:
        raise UsageError(f"--styles: layer indices must lie in 0-{G.num_ws - 1} for this {G.img_resolution}x"
                         f"{G.img_resolution} generator; got {bad or 'none'}")
    if G.c_dim == 0 and class_idx is not None:
        raise UsageError("--class: this generator is unconditional; leave --class out")
    if G.c_dim and class_idx is not None and not 0 <= int(class_idx) < G.c_dim:
        raise UsageError(f"--class: must lie in 0-{G.c_dim - 1}, got {class_idx}")

    seeds = list(dict.fromkeys(row_seeds + col_seeds))
    z = z_for_seeds(seeds, G.z_dim, device)
    c = classes_for_seeds(seeds, G.c_dim, class_idx, device)
    ws = G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
    w_of = dict(zip(seeds, ws))

    keys, mixed = [], []
    for s in seeds:
        keys.append((s, s))
        mixed.append(w_of[s])
    for r in row_seeds:
        for col in col_seeds:
            if r == col:
                continue  # the seed's own image, already listed
            w = w_of[r].clone()
            w[styles] = w_of[col][styles]
            keys.append((r, col))
            mixed.append(w)
    all_ws = torch.stack(mixed)
    images = []
    for i in range(0, len(keys), batch):
        images.append(to_uint8(G.synthesis(all_ws[i:i + batch], noise_mode=noise_mode)).cpu())
    images = torch.cat(images)
    by_key = dict(zip(keys, images))

    # Grid cells in row-major order with an empty (black) top-left corner.
    blank = torch.zeros_like(images[0])
    cells = [blank] + [by_key[(s, s)] for s in col_seeds]
    for r in row_seeds:
        cells.append(by_key[(r, r)])
        cells.extend(by_key[(r, col)] for col in col_seeds)
    grid = make_grid(torch.stack(cells), cols=len(col_seeds) + 1)
    singles = {k: np.ascontiguousarray(v.permute(1, 2, 0).numpy()) for k, v in by_key.items()}
    return grid, singles
