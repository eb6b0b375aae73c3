"""Per-seed latents: the one rule every command uses, so an image depends only on its seed.

z for seed s is `np.random.RandomState(s).randn(z_dim)` in float32, drawn on the CPU and then moved to the device, so
it is the same on every device, batch size and seed list. For class-conditional models without `--class`, the class of
seed s is `s % num_classes` (so a seed range cycles through the classes).

Truncation follows the family's rule (`Family.truncation`, ganctl/models/family.py). For "z_resample" (BigGAN) a
component of z outside [-psi, psi] is redrawn from the same seed's RandomState stream, continuing after the z_dim
values already drawn, until every component lies inside: a truncated normal that is still a pure function of the seed.
The other rules pass psi on to G.
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.errors import UsageError


def z_from_seed(seed: int, z_dim: int, resample_psi: float | None = None) -> np.ndarray:
    rs = np.random.RandomState(seed)
    z = rs.randn(z_dim)
    if resample_psi is not None:
        if not resample_psi > 0:
            raise UsageError(f"--truncation {resample_psi}: resampling truncation needs psi > 0 (e.g. 0.5)")
        out = np.abs(z) > resample_psi
        while out.any():  # in float64, before the cast, so the bound holds exactly
            z[out] = rs.randn(int(out.sum()))
            out = np.abs(z) > resample_psi
    return z.astype(np.float32)


def z_for_seeds(seeds, z_dim: int, device="cpu", resample_psi: float | None = None) -> torch.Tensor:
    return torch.from_numpy(np.stack([z_from_seed(s, z_dim, resample_psi) for s in seeds])).to(device)


def split_truncation(rule: str, truncation_psi: float) -> tuple[float | None, float]:
    """(psi for resampling z, or None; psi to pass to G) under a family's truncation rule."""
    if rule == "z_resample":
        return (truncation_psi if truncation_psi != 1 else None), 1.0
    return None, truncation_psi


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
                     noise_mode="const", truncation_rule: str = "z_scale") -> torch.Tensor:
    """G's float images for `seeds` under the per-seed latent and class rules (sampling/latents.py); `truncation_rule`
    is the family's `truncation`."""
    resample_psi, g_psi = split_truncation(truncation_rule, truncation_psi)
    z = z_for_seeds(seeds, G.z_dim, device, resample_psi)
    c = classes_for_seeds(seeds, num_classes, class_idx, device)
    kwargs = {"truncation_psi": g_psi, "noise_mode": noise_mode}
    if truncation_cutoff is not None:
        kwargs["truncation_cutoff"] = truncation_cutoff
    return G(z, c, **kwargs)
