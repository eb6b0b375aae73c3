"""W-space inputs shared by the latent tools: which generators have a W space, ws for seeds, and NVlabs'
`projected_w.npz` files (key `w`, float32 [N, num_ws, w_dim]; the projector writes N = 1), read and written.

ws of seed s is `G.mapping(z_s, c_s, truncation_psi)` with z_s and c_s from sampling/latents.py's per-seed rule, so a
seed gives the same w here as in `ganctl sample`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ganctl.errors import UsageError
from ganctl.sampling.latents import classes_for_seeds, z_for_seeds


def has_w_space(G) -> bool:
    return all(hasattr(G, a) for a in ("mapping", "synthesis", "num_ws", "w_dim"))


def require_w_space(gen, what: str) -> None:
    if not has_w_space(gen.G):
        raise UsageError(f"{what}: the {gen.family} generator has no W space (mapping + synthesis); "
                         f"use a style family (stylegan2, stylegan3)")


@torch.no_grad()
def ws_for_seeds(gen, seeds, truncation_psi: float = 1.0, class_idx: int | None = None,
                 batch_size: int = 256) -> torch.Tensor:
    """(N, num_ws, w_dim) float32 on gen.device, one row per seed, in order."""
    gen._check_class(class_idx)
    G, seeds, out = gen.G, list(seeds), []
    for i in range(0, len(seeds), batch_size):
        chunk = seeds[i:i + batch_size]
        z = z_for_seeds(chunk, G.z_dim, gen.device)
        c = classes_for_seeds(chunk, gen.num_classes, class_idx, gen.device)
        out.append(G.mapping(z, c, truncation_psi=truncation_psi))
    return torch.cat(out)


def load_projected_w(path: str | os.PathLike, num_ws: int, w_dim: int) -> torch.Tensor:
    """ws (N, num_ws, w_dim) float32 from a projected_w.npz; a single w (w_dim,) or (N, w_dim) is broadcast."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--projected-w {path}: no such file; make one with `ganctl project NET IMAGE --out DIR`")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "w" not in f.files:
                raise UsageError(f"--projected-w {path}: no array `w` (has {', '.join(f.files) or 'nothing'}); "
                                 f"expected NVlabs' projected_w.npz")
            w = np.asarray(f["w"], dtype=np.float32)
    except UsageError:
        raise
    except (OSError, ValueError) as e:
        raise UsageError(f"--projected-w {path}: not a readable .npz ({e})") from None
    if w.ndim == 1:
        w = w[None]
    if w.ndim == 2:
        w = np.repeat(w[:, None, :], num_ws, axis=1)
    if w.ndim != 3 or w.shape[1:] != (num_ws, w_dim):
        raise UsageError(f"--projected-w {path}: w has shape {list(w.shape)}, this network needs "
                         f"[N, {num_ws}, {w_dim}]; was it projected into another network?")
    if not np.isfinite(w).all():
        raise UsageError(f"--projected-w {path}: w holds non-finite values")
    return torch.from_numpy(w)


def save_projected_w(ws: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write ws [N, num_ws, w_dim] as NVlabs' projected_w.npz (key `w`), atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez(tmp, w=ws.detach().float().cpu().numpy())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_layers(layers, num_ws: int, flag: str = "--layers") -> list[int] | None:
    """Validated, sorted ws indices (None stays None: all layers, or a direction's own)."""
    if layers is None:
        return None
    bad = [i for i in layers if not 0 <= int(i) < num_ws]
    if bad:
        raise UsageError(f"{flag}: layer {bad[0]} out of range; this network has ws 0-{num_ws - 1}")
    return sorted({int(i) for i in layers})
