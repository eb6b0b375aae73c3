"""The metric maths on features: Frechet distance, Inception Score, Kernel Inception Distance.

Frechet distance: ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2). The trace term uses the symmetric eigenvalue
route instead of scipy.linalg.sqrtm: with S1 = V diag(w) V^T (eigh), tr sqrt(S1 S2) = sum sqrt(eig(D V^T S2 V D)),
D = diag(sqrt w), a symmetric PSD matrix similar to S1 S2 restricted to S1's range. The null directions of a
rank-deficient covariance (N < 2048 images) are dropped exactly, so the result is finite, real and close to the exact
value; sqrtm sums sqrt(round-off) over them and is off by ~1e-5..1e-4 relative there. On full-rank stats it equals
sqrtm to ~1e-14 relative. ~8x faster than sqrtm on CPU, and it never touches sqrtm's `disp` (removed in SciPy 1.18).

IS and KID follow torch-fidelity's definitions step by step (shuffle with RandomState(2020), 10 splits; 100 subsets of
1000, cubic polynomial kernel, unbiased MMD^2), in float64.
"""

from __future__ import annotations

import numpy as np
import torch


def _significant(w: np.ndarray) -> np.ndarray:
    """Mask of eigenvalues above round-off (w > d * eps * max|w|, numpy's matrix_rank rule)."""
    return w > np.abs(w).max() * w.shape[0] * np.finfo(w.dtype).eps


def trace_sqrt_product(sigma1, sigma2) -> float:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2 (float64).

    With S1 = V diag(w) V^T restricted to its r significant eigenpairs, the nonzero eigenvalues of S1 S2 are those of
    the r x r symmetric PSD matrix D V^T S2 V D (D = diag(sqrt w)). Working in that subspace, taken on the side with
    the lower rank, drops the d - r null directions exactly instead of summing sqrt(round-off) over them, which is
    what biases sqrtm and a plain clamp when N < 2048. numpy's LAPACK is used: torch's CPU eigh is ~4x slower here.
    """
    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    s1, s2 = 0.5 * (s1 + s1.T), 0.5 * (s2 + s2.T)
    w1, v1 = np.linalg.eigh(s1)
    # Project onto the range of the side with the lower rank (its null space is where round-off would creep in).
    if int(_significant(np.linalg.eigvalsh(s2)).sum()) < int(_significant(w1).sum()):
        s1, s2 = s2, s1
        w1, v1 = np.linalg.eigh(s1)
    keep = _significant(w1)
    v, d = v1[:, keep], np.sqrt(w1[keep])
    c = (v.T @ s2 @ v) * d[:, None] * d[None, :]
    ev = np.linalg.eigvalsh(0.5 * (c + c.T))
    return float(np.sqrt(np.where(_significant(ev), ev, 0.0)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        from ganctl.errors import UsageError

        raise UsageError(f"feature sizes differ between the two sides: mu {mu1.shape} vs {mu2.shape}")
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))


def inception_score(logits: torch.Tensor, splits: int = 10, shuffle: bool = True, seed: int = 2020) -> tuple[float, float]:
    """Mean and std over `splits` of exp(E_x KL(p(y|x) || p(y))) from (N, classes) logits, as torch-fidelity computes it."""
    n = logits.shape[0]
    x = logits.cpu()
    if shuffle:
        x = x[np.random.RandomState(seed).permutation(n), :]
    x = x.double()
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        p_c, log_p_c = p[lo:hi], log_p[lo:hi]
        q = p_c.mean(dim=0, keepdim=True)
        scores.append((p_c * (log_p_c - q.log())).sum(dim=1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(f1: np.ndarray, f2: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    gamma = 1.0 / f1.shape[1] if gamma is None else gamma
    k11 = _polynomial_kernel(f1, f1, degree, gamma, coef0)
    k22 = _polynomial_kernel(f2, f2, degree, gamma, coef0)
    k12 = _polynomial_kernel(f1, f2, degree, gamma, coef0)
    m = k11.shape[0]
    # Drop the diagonals of the within-set kernels (unbiased), keep all of the cross kernel.
    t11 = (k11.sum(axis=1) - np.diagonal(k11)).sum()
    t22 = (k22.sum(axis=1) - np.diagonal(k22)).sum()
    return float((t11 + t22) / (m * (m - 1)) - 2 * k12.sum(axis=0).sum() / (m * m))


def kernel_inception_distance(feats1, feats2, subsets: int = 100, subset_size: int = 1000, seed: int = 2020,
                              degree: int = 3, gamma: float | None = None, coef0: float = 1.0,
                              dtype=np.float64) -> tuple[float, float]:
    """Mean and std of unbiased MMD^2 over `subsets` random subsets (without replacement) of each side."""
    f1 = np.asarray(torch.as_tensor(feats1).cpu().numpy(), dtype=dtype)
    f2 = np.asarray(torch.as_tensor(feats2).cpu().numpy(), dtype=dtype)
    n1, n2 = len(f1), len(f2)
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = f1[rng.choice(n1, subset_size, replace=False)]
        b = f2[rng.choice(n2, subset_size, replace=False)]
        mmds[i] = mmd2_unbiased(a, b, degree, gamma, coef0)
    return float(np.mean(mmds)), float(np.std(mmds))
