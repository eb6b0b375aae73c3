"""Applying an image-conditioned generator (super-resolution, translation): the one call that training grids,
`upscale` and `translate` share, and the [input | output | target] rows of their training grids."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganctl.sampling.latents import to_uint8

# Which keys of a BatchSource dict are a family's input and target (see models/family.py).
INPUT_KEYS = ("input", "A")
TARGET_KEYS = ("target", "B")


def apply_generator(G, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
    """G's output for the input batch x (float in [-1, 1]): a container of several generators answers through its
    `translate(x, direction)`; a single generator is called on x."""
    translate = getattr(G, "translate", None)
    return translate(x, direction) if translate is not None else G(x)


def pick(batch: dict, keys: tuple[str, ...]) -> torch.Tensor:
    for k in keys:
        if k in batch:
            return batch[k]
    raise KeyError(f"batch has none of {keys} (keys: {sorted(batch)})")


@torch.no_grad()
def pair_rows(G, batch_u8: dict, device, chunk: int = 16) -> torch.Tensor:
    """uint8 (3N, C, H, W): for each pair, [input resized (nearest) to the target size, G(input), target], so a grid
    with 3 columns shows one pair per row."""
    src_u8, tgt_u8 = pick(batch_u8, INPUT_KEYS), pick(batch_u8, TARGET_KEYS)
    outs = []
    for i in range(0, len(src_u8), chunk):
        x = src_u8[i:i + chunk].to(device).float().div(127.5).sub(1)
        outs.append(to_uint8(apply_generator(G, x)).cpu())
    out = torch.cat(outs)
    size = tgt_u8.shape[-2:]
    shown_in = F.interpolate(src_u8.float(), size=size, mode="nearest").to(torch.uint8)
    if out.shape[-2:] != size:
        out = F.interpolate(out.float(), size=size, mode="nearest").to(torch.uint8)
    c = max(shown_in.shape[1], out.shape[1], tgt_u8.shape[1])
    widen = lambda t: t.expand(-1, c, -1, -1) if t.shape[1] != c else t  # grayscale input beside RGB output
    return torch.stack([widen(shown_in), widen(out), widen(tgt_u8)], dim=1).flatten(0, 1)
