"""The metric maths against the reference tools' own functions and against exact answers (no detector: fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganctl.metrics.distance import frechet_distance, inception_score, kernel_inception_distance, trace_sqrt_product
from ganctl.metrics.stats import FeatureStats, load_stats, merge_stats, save_stats


def test_inception_score_equals_torch_fidelity():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = torch.randn(103, 1008, generator=torch.Generator().manual_seed(0)) * 3
    ref = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=2020)
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-12)


def test_kid_equals_torch_fidelity_at_equal_precision():
    """Same subsets, kernel and estimator: fed float64 features, torch-fidelity's code gives ganctl's number."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    g = torch.Generator().manual_seed(1)
    f1 = torch.rand(300, 2048, generator=g, dtype=torch.float64) * 0.8
    f2 = torch.rand(250, 2048, generator=g, dtype=torch.float64) * 0.8 + 0.01
    ref = kid_features_to_metric(f1, f2, kid_subsets=30, kid_subset_size=100, kid_degree=3, kid_gamma=None, kid_coef0=1,
                                 rng_seed=2020, verbose=False)
    mean, std = kernel_inception_distance(f1, f2, subsets=30, subset_size=100)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-9)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-9)


def _cov_stats(rng, n, d, shift=0.3):
    x = np.maximum(rng.standard_normal((n, d)) @ (rng.standard_normal((d, d)) * 0.1) + shift, 0)
    return x, x.mean(0), np.cov(x, rowvar=False)


def test_trace_sqrt_equals_sqrtm_on_full_rank():
    from scipy import linalg

    rng = np.random.default_rng(0)
    _, _, s1 = _cov_stats(rng, 600, 256)
    _, _, s2 = _cov_stats(rng, 600, 256)
    ref = np.trace(linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("n1,n2", [(20, 30), (64, 64), (300, 5)])
def test_rank_deficient_is_finite_and_exact(n1, n2):
    """N < D: the answer is the nuclear norm of A1 A2^T / sqrt((N1-1)(N2-1)); ganctl matches it, finite, no raise."""
    rng = np.random.default_rng(n1)
    x1, mu1, s1 = _cov_stats(rng, n1, 512)
    x2, mu2, s2 = _cov_stats(rng, n2, 512, 0.35)
    a1, a2 = x1 - mu1, x2 - mu2
    exact = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    got = trace_sqrt_product(s1, s2)
    assert np.isfinite(got) and got == pytest.approx(exact, rel=1e-8)
    assert np.isfinite(frechet_distance(mu1, s1, mu2, s2))


def test_identical_stats_give_zero():
    rng = np.random.default_rng(3)
    _, mu, s = _cov_stats(rng, 50, 128)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-8 * np.trace(s)


def test_streaming_stats_equal_numpy_cov_and_merge():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((257, 2048)) * 0.2 + 5.0).astype(np.float32)  # large mean: shifted sums keep accuracy
    st = FeatureStats(2048)
    for i in range(0, 257, 50):
        st.update(torch.from_numpy(x[i:i + 50]))
    mu, sigma = st.finalize()
    ref_mu, ref_sigma = x.astype(np.float64).mean(0), np.cov(x.astype(np.float64), rowvar=False)
    assert np.abs(mu - ref_mu).max() < 1e-12 and np.abs(sigma - ref_sigma).max() < 1e-12 * np.abs(ref_sigma).max() * 1e3
    parts = []
    for lo, hi in ((0, 100), (100, 101), (101, 257)):
        s = FeatureStats(2048)
        s.update(torch.from_numpy(x[lo:hi]))
        parts.append((s.n, *s.mean_m2()))
    n, m, m2 = merge_stats(parts)
    assert n == 257 and np.abs(m.numpy() - ref_mu).max() < 1e-12
    assert np.abs(m2.numpy() / 256 - ref_sigma).max() < 1e-9 * np.abs(ref_sigma).max()


def test_stats_file_roundtrip_in_pytorch_fid_format(tmp_path):
    mu, sigma = np.arange(4.0), np.eye(4)
    p = save_stats(tmp_path / "s.npz", mu, sigma, n=7, protocol="pytorch-fid")
    with np.load(p) as f:  # what pytorch-fid reads
        assert np.array_equal(f["mu"], mu) and np.array_equal(f["sigma"], sigma)
    m2, s2, n, proto = load_stats(p)
    assert n == 7 and proto == "pytorch-fid" and np.array_equal(m2, mu)
