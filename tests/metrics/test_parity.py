"""ganctl's FID / IS / KID against pytorch-fid and torch-fidelity, with the same (seeded random) weights file and the
same real images: Fashion-MNIST plus odd-sized RGB, RGBA, grayscale, palette and LA files in one folder.

pytorch-fid and torch-fidelity run in this process (they cannot batch mixed sizes, so they get batch size 1 on the
mixed folder); ganctl runs as the real CLI in a subprocess.

FID with N < 2048 images is a rank-deficient problem where scipy's sqrtm (pytorch-fid) is itself off by ~1e-5..1e-4
relative; there the test checks ganctl's stats against pytorch-fid's (to float64 round-off), ganctl's FID against
the exact value from the N x N eigenproblem (1e-6), and that ganctl is at least as close to it as pytorch-fid. On
full-rank stats, ganctl's FID equals pytorch-fid's calculate_frechet_distance to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_json


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def exact_fid(act1: np.ndarray, act2: np.ndarray) -> float:
    """FID from features with N1 - 1 < D: tr sqrt(S1 S2) = sum sqrt(eig(A S2 A^T / (N1 - 1))), A = centred act1."""
    mu1, mu2 = act1.mean(0), act2.mean(0)
    s1, s2 = np.cov(act1, rowvar=False), np.cov(act2, rowvar=False)
    a = act1 - mu1
    small = a @ s2 @ a.T / (len(act1) - 1)
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (small + small.T)), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr)


@pytest.fixture(scope="session")
def pytorch_fid_acts(ref_env, sets):
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS, get_activations
    from pytorch_fid.inception import InceptionV3

    model = InceptionV3([3]).eval()
    out = {}
    for name, bs in (("a", 1), ("b", 50)):
        files = sorted(f for ext in IMAGE_EXTENSIONS for f in sets[name].glob(f"*.{ext}"))
        out[name] = get_activations(files, model, batch_size=bs, dims=2048, device="cpu", num_workers=0)
    return out


@pytest.fixture(scope="session")
def torch_fidelity_metrics(ref_env, sets, weights):
    import torch_fidelity

    return torch_fidelity.calculate_metrics(
        input1=str(sets["a"]), input2=str(sets["b"]), cuda=False, isc=True, kid=True, kid_subsets=20, kid_subset_size=10,
        feature_extractor_weights_path=str(weights), batch_size=1, save_cpu_ram=True, verbose=False, cache=False)


def test_fid_matches_pytorch_fid(sets, weights, pytorch_fid_acts, tmp_path):
    res = run_json("fid", sets["a"], sets["b"], "--weights", weights, "--device", "cpu", "--workers", "0",
                   "--save-stats", tmp_path / "a.npz")
    assert [s["n"] for s in res["inputs"]] == [20, 20] and res["protocol"]["name"] == "pytorch-fid"
    acts_a, acts_b = pytorch_fid_acts["a"], pytorch_fid_acts["b"]
    assert acts_a.std(0).mean() > 1e-3 * abs(acts_a.mean()), "random detector gives degenerate features"
    with np.load(tmp_path / "a.npz") as f:
        mu, sigma = f["mu"], f["sigma"]
    mu_ref, sigma_ref = acts_a.mean(0), np.cov(acts_a, rowvar=False)
    assert np.abs(mu - mu_ref).max() <= 1e-6 * np.abs(mu_ref).max()
    assert np.abs(sigma - sigma_ref).max() <= 1e-6 * np.abs(sigma_ref).max()
    exact = exact_fid(acts_a, acts_b)
    assert rel(res["fid"], exact) < 1e-6, (res["fid"], exact)


def test_fid_small_n_closer_to_exact_than_pytorch_fid(sets, weights, pytorch_fid_acts):
    """pytorch-fid's own number (its sqrtm) on the same images: within its round-off of ganctl's, and no closer to exact."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    acts_a, acts_b = pytorch_fid_acts["a"], pytorch_fid_acts["b"]
    ref = calculate_frechet_distance(acts_a.mean(0), np.cov(acts_a, rowvar=False), acts_b.mean(0), np.cov(acts_b, rowvar=False))
    ours = run_json("fid", sets["a"], sets["b"], "--weights", weights, "--device", "cpu", "--workers", "1")["fid"]
    exact = exact_fid(acts_a, acts_b)
    assert rel(ours, ref) < 1e-4, (ours, ref)
    assert abs(ours - exact) <= abs(ref - exact) + 1e-9 * exact


def test_fid_full_rank_stats_match_pytorch_fid(tmp_path):
    """Well-conditioned 2048-d stats (N = 3000 > D) in .npz files: the eigenvalue route equals sqrtm to 1e-6."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(1)
    mix = rng.standard_normal((2048, 2048)) * 0.05
    x1 = np.maximum(rng.standard_normal((3000, 2048)) @ mix + 0.3, 0)
    x2 = np.maximum(rng.standard_normal((3000, 2048)) @ mix * 1.1 + 0.28, 0)
    stats = []
    for i, x in enumerate((x1, x2)):
        mu, sigma = x.mean(0), np.cov(x, rowvar=False)
        np.savez(tmp_path / f"s{i}.npz", mu=mu, sigma=sigma)
        stats += [mu, sigma]
    ours = run_json("fid", tmp_path / "s0.npz", tmp_path / "s1.npz")["fid"]
    ref = calculate_frechet_distance(*stats)
    assert rel(ours, ref) < 1e-6, (ours, ref)


def test_is_matches_torch_fidelity(sets, weights, torch_fidelity_metrics):
    res = run_json("is", sets["a"], "--weights", weights, "--device", "cpu", "--workers", "0")
    assert res["protocol"]["name"] == "torch-fidelity" and res["splits"] == 10 and res["inputs"][0]["n"] == 20
    ref = torch_fidelity_metrics
    assert ref["inception_score_mean"] > 1.05, "degenerate detector: IS ~ 1"
    assert rel(res["is_mean"], ref["inception_score_mean"]) < 1e-6, (res["is_mean"], ref["inception_score_mean"])
    assert rel(res["is_std"], ref["inception_score_std"]) < 1e-6, (res["is_std"], ref["inception_score_std"])


def test_kid_matches_torch_fidelity(sets, weights, torch_fidelity_metrics):
    res = run_json("kid", sets["a"], sets["b"], "--subsets", "20", "--subset-size", "10", "--weights", weights,
                   "--device", "cpu", "--workers", "0")
    ref = torch_fidelity_metrics
    # torch-fidelity evaluates the kernel in float32, ganctl in float64: they agree to float32 round-off.
    assert rel(res["kid_mean"], ref["kernel_inception_distance_mean"]) < 1e-4, (res["kid_mean"], ref)
    assert rel(res["kid_std"], ref["kernel_inception_distance_std"]) < 1e-3, (res["kid_std"], ref)
