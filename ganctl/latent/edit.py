"""Edits along a direction: ws of seeds or projected w, moved by a range of strengths on chosen layers, rendered
as a grid (rows = inputs, columns = strengths) or as frames of a walk (one frame per strength, inputs side by side).
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.errors import UsageError
from ganctl.latent.directions import Directions, apply_direction
from ganctl.sampling.latents import to_uint8


def parse_strengths(text: str, steps: int) -> list[float]:
    """`-3:3` with steps 7 -> [-3, -2, ..., 3]; a single number -> [it]."""
    text = str(text).strip()
    try:
        if ":" in text:
            lo, hi = (float(p) for p in text.split(":", 1))
            if steps < 2:
                raise UsageError("--steps: a strength range needs at least 2 steps")
            return [float(x) for x in np.linspace(lo, hi, steps)]
        return [float(text)]
    except ValueError:
        raise UsageError(f"--strength {text!r}: expected a range LO:HI (e.g. -3:3) or one number") from None


@torch.no_grad()
def edit_images(G, ws: torch.Tensor, d: Directions, k: int, strengths, layers=None, noise_mode: str = "const",
                batch_size: int = 16) -> torch.Tensor:
    """uint8 (len(ws), len(strengths), C, H, W): each input under each strength."""
    edited = torch.stack([apply_direction(ws, d, k, s, layers) for s in strengths], dim=1)  # (N, S, num_ws, w_dim)
    flat = edited.reshape(-1, *edited.shape[2:])
    imgs = [to_uint8(G.synthesis(flat[i:i + batch_size], noise_mode=noise_mode)).cpu()
            for i in range(0, len(flat), batch_size)]
    return torch.cat(imgs).reshape(*edited.shape[:2], *imgs[0].shape[1:])
