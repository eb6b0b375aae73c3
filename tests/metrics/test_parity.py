"""ganctl's FID / IS / KID against pytorch-fid and torch-fidelity, with the same (seeded random) weights file and the
same real images: Fashion-MNIST plus odd-sized RGB, RGBA, grayscale, palette and LA files in one folder.

pytorch-fid and torch-fidelity run in this process; they cannot batch mixed sizes, so the odd files go through them
one per batch (what their DataLoader does with batch size 1). ganctl runs as the real CLI in a subprocess.

FID from N < 2048 images is a rank-deficient problem where scipy's sqrtm (pytorch-fid) is itself off by ~1e-5..1e-4
relative. So: ganctl's stats must equal pytorch-fid's (float64 round-off), ganctl's FID must equal the exact value
(from the singular values of the N1 x N2 cross-Gram matrix) to 1e-6, and pytorch-fid's own number must be within its
sqrtm error of ganctl's and no closer to exact. On full-rank stats ganctl's FID equals pytorch-fid's to 1e-6.

The end-to-end runs take ~3-4 minutes on 2 shared cores, so they are marked slow; the fast run checks the same
parity piece by piece (test_detector: bitwise pool3 and logits; test_math: IS/KID/FID maths against the tools' code).
"""

from __future__ import annotations

import numpy as np
import pytest

from metrics_testdata import run_json

ODD = ["odd_gray.png", "odd_la.png", "odd_pal.png", "odd_rgb.png", "odd_rgba.png"]


def pytorch_fid_distance(*stats) -> float:
    """pytorch-fid's calculate_frechet_distance; it passes sqrtm's `disp`, which SciPy 1.18 removed."""
    import scipy
    from pytorch_fid.fid_score import calculate_frechet_distance

    if tuple(int(v) for v in scipy.__version__.split(".")[:2]) >= (1, 18):
        pytest.skip("pytorch-fid 0.3.0 calls scipy.linalg.sqrtm(disp=...), removed in SciPy 1.18")
    return float(calculate_frechet_distance(*stats))


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def exact_fid(act1: np.ndarray, act2: np.ndarray) -> float:
    """FID with tr sqrt(S1 S2) = nuclear norm of A1 A2^T / sqrt((N1-1)(N2-1)), A = centred features (exact, no sqrtm)."""
    mu1, mu2 = act1.mean(0), act2.mean(0)
    a1, a2 = act1 - mu1, act2 - mu2
    tr = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum() / np.sqrt((len(a1) - 1) * (len(a2) - 1))
    return float(((mu1 - mu2) ** 2).sum() + (a1 ** 2).sum() / (len(a1) - 1) + (a2 ** 2).sum() / (len(a2) - 1) - 2 * tr)


@pytest.fixture(scope="session")
def pytorch_fid_acts(ref_env, sets):
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    model = InceptionV3([3]).eval()
    out = {}
    for name in ("a", "b"):
        files = sorted(sets[name].glob("*.png"))
        same = [f for f in files if f.name not in ODD]
        acts = [get_activations(same, model, batch_size=len(same), dims=2048, device="cpu", num_workers=0)]
        acts += [get_activations([f], model, batch_size=1, dims=2048, device="cpu", num_workers=0) for f in files if f.name in ODD]
        out[name] = np.concatenate(acts)
    return out


@pytest.fixture(scope="session")
def torch_fidelity_metrics(ref_env, sets, weights):
    import torch_fidelity

    return torch_fidelity.calculate_metrics(
        input1=str(sets["a"]), input2=str(sets["b"]), cuda=False, isc=True, kid=True, kid_subsets=20, kid_subset_size=8,
        feature_extractor_weights_path=str(weights), batch_size=1, save_cpu_ram=True, verbose=False, cache=False)


@pytest.fixture(scope="session")
def ganctl_fid(sets, weights, tmp_path_factory):
    stats = tmp_path_factory.mktemp("stats") / "a.npz"
    res = run_json("fid", sets["a"], sets["b"], "--weights", weights, "--device", "cpu", "--workers", "1", "--save-stats", stats)
    return res, stats


@pytest.mark.slow
def test_fid_matches_pytorch_fid(ganctl_fid, pytorch_fid_acts):
    res, stats = ganctl_fid
    assert [s["n"] for s in res["inputs"]] == [15, 15] and res["protocol"]["name"] == "pytorch-fid"
    assert res["weights"]["sha256"] and res["precision"]["tf32"] is False
    acts_a, acts_b = pytorch_fid_acts["a"], pytorch_fid_acts["b"]
    assert acts_a.std(0).mean() > 1e-3 * abs(acts_a.mean()), "random detector gives degenerate features"
    with np.load(stats) as f:
        mu, sigma = f["mu"], f["sigma"]
    mu_ref, sigma_ref = acts_a.mean(0), np.cov(acts_a, rowvar=False)
    assert np.abs(mu - mu_ref).max() <= 1e-6 * np.abs(mu_ref).max()
    assert np.abs(sigma - sigma_ref).max() <= 1e-6 * np.abs(sigma_ref).max()
    exact = exact_fid(acts_a, acts_b)
    print(f"\nFID ganctl {res['fid']!r} exact {exact!r} rel {rel(res['fid'], exact):.2e}; "
          f"sigma max rel diff vs pytorch-fid {np.abs(sigma - sigma_ref).max() / np.abs(sigma_ref).max():.2e}")
    assert rel(res["fid"], exact) < 1e-6, (res["fid"], exact)


@pytest.mark.slow
def test_fid_small_n_pytorch_fid_number(ganctl_fid, pytorch_fid_acts):
    """pytorch-fid's own number (its sqrtm, ~20-40 s here) on the same images: within its round-off of ganctl's."""
    acts_a, acts_b = pytorch_fid_acts["a"], pytorch_fid_acts["b"]
    ref = pytorch_fid_distance(acts_a.mean(0), np.cov(acts_a, rowvar=False), acts_b.mean(0), np.cov(acts_b, rowvar=False))
    ours, exact = ganctl_fid[0]["fid"], exact_fid(acts_a, acts_b)
    print(f"\nFID pytorch-fid {ref!r} ganctl {ours!r} rel {rel(ours, ref):.2e}; to exact: pytorch-fid "
          f"{rel(ref, exact):.2e}, ganctl {rel(ours, exact):.2e}")
    assert rel(ours, ref) < 1e-4, (ours, ref)
    assert abs(ours - exact) <= abs(ref - exact) + 1e-9 * exact


def _full_rank_stats(rng, n: int, d: int):
    mix = rng.standard_normal((d, d)) * 0.05
    x1 = np.maximum(rng.standard_normal((n, d)) @ mix + 0.3, 0)
    x2 = np.maximum(rng.standard_normal((n, d)) @ mix * 1.1 + 0.28, 0)
    return x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False)


def test_distance_full_rank_matches_pytorch_fid():
    """Well-conditioned stats (N > D): the eigenvalue route equals pytorch-fid's sqrtm-based distance to 1e-6."""
    from ganctl.metrics.distance import frechet_distance

    stats = _full_rank_stats(np.random.default_rng(1), 800, 384)
    ours, ref = frechet_distance(*stats), pytorch_fid_distance(*stats)
    print(f"\nfull-rank FID ganctl {ours!r} pytorch-fid {ref!r} rel {rel(ours, ref):.2e}")
    assert rel(ours, ref) < 1e-6, (ours, ref)


@pytest.mark.slow
def test_fid_cli_full_rank_2048_npz_matches_pytorch_fid(tmp_path):
    stats = _full_rank_stats(np.random.default_rng(2), 3000, 2048)
    np.savez(tmp_path / "s0.npz", mu=stats[0], sigma=stats[1])
    np.savez(tmp_path / "s1.npz", mu=stats[2], sigma=stats[3])
    ours = run_json("fid", tmp_path / "s0.npz", tmp_path / "s1.npz")["fid"]
    ref = pytorch_fid_distance(*stats)
    print(f"\nfull-rank 2048 FID ganctl {ours!r} pytorch-fid {ref!r} rel {rel(ours, ref):.2e}")
    assert rel(ours, ref) < 1e-6


@pytest.mark.slow
def test_is_matches_torch_fidelity(sets, weights, torch_fidelity_metrics):
    res = run_json("is", sets["a"], "--weights", weights, "--device", "cpu", "--workers", "1")
    assert res["protocol"]["name"] == "torch-fidelity" and res["splits"] == 10 and res["inputs"][0]["n"] == 15
    ref = torch_fidelity_metrics
    print(f"\nIS ganctl {res['is_mean']!r}+-{res['is_std']!r} torch-fidelity {ref['inception_score_mean']!r}"
          f"+-{ref['inception_score_std']!r}")
    assert ref["inception_score_mean"] > 1.05, "degenerate detector: IS ~ 1"
    assert rel(res["is_mean"], ref["inception_score_mean"]) < 1e-6, (res["is_mean"], ref["inception_score_mean"])
    assert rel(res["is_std"], ref["inception_score_std"]) < 1e-6, (res["is_std"], ref["inception_score_std"])


@pytest.mark.slow
def test_kid_matches_torch_fidelity(sets, weights, torch_fidelity_metrics):
    res = run_json("kid", sets["a"], sets["b"], "--subsets", "20", "--subset-size", "8", "--weights", weights,
                   "--device", "cpu", "--workers", "1")
    ref = torch_fidelity_metrics
    print(f"\nKID ganctl {res['kid_mean']!r}+-{res['kid_std']!r} torch-fidelity {ref['kernel_inception_distance_mean']!r}"
          f"+-{ref['kernel_inception_distance_std']!r}")
    assert ref["kernel_inception_distance_mean"] > 0
    # torch-fidelity evaluates the kernel in float32, ganctl in float64: equal to float32 round-off of the kernel sums.
    assert rel(res["kid_mean"], ref["kernel_inception_distance_mean"]) < 1e-4, (res["kid_mean"], ref)
    assert rel(res["kid_std"], ref["kernel_inception_distance_std"]) < 1e-3, (res["kid_std"], ref)
