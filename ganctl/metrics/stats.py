"""Streaming Gaussian statistics of Inception features (float64), their distributed merge, and .npz stats files.

`FeatureStats` never keeps the features: per batch it adds sum(x - shift) and (x - shift)^T (x - shift) in float64,
where `shift` is the first batch's mean (shifting keeps the one-pass covariance accurate when the mean is large
against the spread). The covariance divides by N-1, like numpy.cov, so stats equal pytorch-fid's to float64 rounding.
Stats from several ranks merge exactly (Chan et al.'s pairwise update), so a sharded run equals a single-process one.

Stats files use pytorch-fid's format: keys `mu` (D,) and `sigma` (D, D); ganctl adds `n` and `protocol`, which other
tools ignore.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ganctl.errors import UsageError


class FeatureStats:
    def __init__(self, dim: int = 2048, device: torch.device | str = "cpu"):
        self.dim, self.device = dim, torch.device(device)
        self.n = 0
        self.shift = None
        self.s1 = torch.zeros(dim, dtype=torch.float64, device=self.device)
        self.s2 = torch.zeros(dim, dim, dtype=torch.float64, device=self.device)

    def update(self, feats: torch.Tensor) -> None:
        x = feats.to(self.device, torch.float64)
        if x.shape[0] == 0:
            return
        if self.shift is None:
            self.shift = x.mean(0)
        x = x - self.shift
        self.n += x.shape[0]
        self.s1 += x.sum(0)
        self.s2.addmm_(x.T, x)

    def mean_m2(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and the centred sum of outer products M2 = sum (x - mean)(x - mean)^T."""
        d = self.s1 / self.n
        return self.shift + d, self.s2 - self.n * torch.outer(d, d)

    def finalize(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise UsageError(f"FID needs at least 2 images per side, got {self.n}")
        mu, m2 = self.mean_m2()
        sigma = m2 / (self.n - 1)
        sigma = 0.5 * (sigma + sigma.T)  # exact symmetry; the rank-one update can leave 1-ulp asymmetry
        return mu.cpu().numpy(), sigma.cpu().numpy()


def merge_stats(parts: list[tuple[int, torch.Tensor, torch.Tensor]]) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Combine (n, mean, M2) of disjoint shards into the (n, mean, M2) of their union."""
    parts = [p for p in parts if p[0] > 0]
    n, mean, m2 = parts[0][0], parts[0][1].clone(), parts[0][2].clone()
    for nb, mb, m2b in parts[1:]:
        tot = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / tot)
        m2 = m2 + m2b + torch.outer(delta, delta) * (n * nb / tot)
        n = tot
    return n, mean, m2


def save_stats(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, n: int | None = None, protocol: str = "") -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise UsageError(f"--save-stats {path}: use a .npz file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    extra = {} if n is None else {"n": np.int64(n)}
    np.savez(tmp, mu=np.asarray(mu, np.float64), sigma=np.asarray(sigma, np.float64), protocol=np.str_(protocol), **extra)
    os.replace(tmp, path)
    return path


def load_stats(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, int | None, str | None]:
    """mu, sigma (float64) and, when ganctl wrote the file, n and protocol. Never unpickles (allow_pickle=False)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            if not {"mu", "sigma"} <= keys:
                raise UsageError(f"{path}: stats file needs keys 'mu' and 'sigma' (found: {', '.join(sorted(keys)) or 'none'}); "
                                 "write one with `ganctl fid IMAGES --save-stats FILE.npz`")
            mu, sigma = np.asarray(f["mu"], np.float64), np.asarray(f["sigma"], np.float64)
            n = int(f["n"]) if "n" in keys else None
            protocol = str(f["protocol"]) if "protocol" in keys else None
    except UsageError:
        raise
    except Exception as e:
        raise UsageError(f"{path}: not a readable .npz stats file ({type(e).__name__}); "
                         "write one with `ganctl fid IMAGES --save-stats FILE.npz`") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise UsageError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not fit together (want (D,) and (D, D))")
    return mu, sigma, n, protocol
