"""Per-seed latents: the one rule every command uses, so an image depends only on its seed.

z for seed s is `np.random.RandomState(s).randn(z_dim)` in float32, drawn on the CPU and then moved to the device, so
it is the same on every device, batch size and seed list. For class-conditional models without `--class`, the class of
seed s is `s % num_classes` (so a seed range cycles through the classes).
"""

from __future__ import annotations

import numpy as np
import torch


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(z_dim).astype(np.float32)


def z_for_seeds(seeds, z_dim: int, device="cpu") -> torch.Tensor:
    return torch.from_numpy(np.stack([z_from_seed(s, z_dim) for s in seeds])).to(device)


def classes_for_seeds(seeds, num_classes: int, class_idx: int | None, device="cpu") -> torch.Tensor | None:
    if not num_classes:
        return None
    if class_idx is not None:
        return torch.full((len(seeds),), int(class_idx), dtype=torch.int64, device=device)
    return torch.tensor([s % num_classes for s in seeds], dtype=torch.int64, device=device)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> uint8 [0, 255], rounding the same way on every device."""
    return (images.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def images_for_seeds(G, seeds, num_classes: int, device, class_idx=None, truncation_psi=1.0, truncation_cutoff=None,
                     noise_mode="const") -> torch.Tensor:
    """G's float images for `seeds` under the per-seed latent and class rules (sampling/latents.py)."""
    z = z_for_seeds(seeds, G.z_dim, device)
    c = classes_for_seeds(seeds, num_classes, class_idx, device)
    kwargs = {"truncation_psi": truncation_psi, "noise_mode": noise_mode}
    if truncation_cutoff is not None:
        kwargs["truncation_cutoff"] = truncation_cutoff
    return G(z, c, **kwargs)
