"""`ganctl pr`: improved precision/recall and density/coverage on VGG16 features.

Parity: torch-fidelity 0.4.0 (the first release with prc and the VGG16 extractor; the suite's pinned 0.3.0 has
neither) runs in a subprocess from its own directory, $GANCTL_TORCH_FIDELITY_040 (default /opt/torch-fidelity-0.4.0,
installed there by .ci/run with `pip install --no-deps --target`), with the same seeded random VGG16 file and the same
Fashion-MNIST images; its features must equal ganctl's bitwise and its precision/recall to 1e-6. The k-NN maths is
also checked against a plain full-matrix reference written here, with blocks smaller than N.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from metrics_testdata import fashion_mnist, run_cli, run_json, write_fmnist
from ganctl.metrics import manifold

TF040 = Path(os.environ.get("GANCTL_TORCH_FIDELITY_040", "/opt/torch-fidelity-0.4.0"))


@pytest.fixture(scope="module")
def pr_sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pr")
    write_fmnist(root / "real", 0, 8)
    write_fmnist(root / "fake", 3000, 7)
    return {"real": root / "real", "fake": root / "fake"}


_REF = r"""
import json, sys, torch, torch_fidelity
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16
assert torch_fidelity.__version__ == "0.4.0", torch_fidelity.__version__
real, fake, weights, u8_path, out = sys.argv[1:6]
m = torch_fidelity.calculate_metrics(input1=fake, input2=real, cuda=False, prc=True, feature_extractor="vgg16",
                                     feature_extractor_weights_path=weights, batch_size=32, verbose=False, cache=False)
fe = FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=weights)
with torch.no_grad():
    feats = fe(torch.load(u8_path))[0]
torch.save(feats, out)
print(json.dumps(m))
"""


def _reference(pr_sets, weights, u8, tmp_path) -> tuple[dict, torch.Tensor]:
    if not (TF040 / "torch_fidelity" / "metric_prc.py").is_file():
        pytest.skip(f"torch-fidelity 0.4.0 not at {TF040} (pip install --no-deps --target {TF040} torch-fidelity==0.4.0)")
    torch.save(u8, tmp_path / "u8.pt")
    env = dict(os.environ, PYTHONPATH=str(TF040), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    r = subprocess.run([sys.executable, "-c", _REF, str(pr_sets["real"]), str(pr_sets["fake"]), str(weights),
                        str(tmp_path / "u8.pt"), str(tmp_path / "feats.pt")], capture_output=True, text=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), torch.load(tmp_path / "feats.pt")


@pytest.mark.slow  # two processes each load the 530 MB file and run VGG16 at 224: ~1-2 min on 2 busy cores
def test_features_and_precision_recall_equal_torch_fidelity(pr_sets, vgg_weights, tmp_path):
    from ganctl.metrics.vgg16 import build_vgg16, vgg16_transform

    u8 = torch.from_numpy(fashion_mnist(100, 3).copy())[:, None].repeat(1, 3, 1, 1).contiguous()
    ref, ref_feats = _reference(pr_sets, vgg_weights, u8, tmp_path)
    with torch.no_grad():
        ours, _ = build_vgg16(vgg_weights)(vgg16_transform(u8))
    assert ours.shape == (3, 4096) and ours.std() > 0 and torch.equal(ours, ref_feats)
    res = run_json("pr", pr_sets["real"], pr_sets["fake"], "--weights", vgg_weights, "--device", "cpu", "--workers", "0")
    assert [s["n"] for s in res["inputs"]] == [8, 7]
    assert any(0 < ref[k] < 1 for k in ("precision", "recall")), ref  # a value that can move, not only saturated 0/1
    assert res["precision"] == pytest.approx(ref["precision"], abs=1e-6)
    assert res["recall"] == pytest.approx(ref["recall"], abs=1e-6)
    assert res["protocol"]["name"] == "torch-fidelity" and res["weights"]["sha256"]
    # pr50k3 through $GANCTL_VGG16_WEIGHTS; plain output is one `name value` line per number.
    r = run_cli("pr", pr_sets["real"], pr_sets["fake"], "--protocol", "pr50k3", "--device", "cpu", "--workers", "0",
                env_extra={"GANCTL_VGG16_WEIGHTS": str(vgg_weights), "TORCH_HOME": str(tmp_path)})
    lines = dict(line.split() for line in r.stdout.strip().splitlines())
    assert set(lines) == {"precision", "recall"} and all(0 <= float(v) <= 1 for v in lines.values())


def test_features_equal_torchvision_vgg16_with_torch_fidelitys_preprocessing(vgg_weights):
    """Fast in-process check of the same ops (the slow test above compares with torch-fidelity 0.4.0 itself):
    torchvision's VGG16 with the head cut after fc2, torch-fidelity's TF1 resize and torchvision's normalize."""
    import torchvision
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    from torchvision.transforms.functional import normalize

    from ganctl.metrics.vgg16 import build_vgg16, vgg16_transform

    u8 = torch.from_numpy(fashion_mnist(100, 2).copy())[:, None].repeat(1, 3, 1, 1).contiguous()
    ref = torchvision.models.vgg16()
    ref.load_state_dict(torch.load(vgg_weights, weights_only=True))
    for i in (6, 5, 4):
        del ref.classifier[i]
    ref.eval()
    with torch.no_grad():
        x = interpolate_bilinear_2d_like_tensorflow1x(u8.float(), size=(224, 224), align_corners=False)
        x = normalize(x, (255 * 0.485, 255 * 0.456, 255 * 0.406), (255 * 0.229, 255 * 0.224, 255 * 0.225))
        want = torch.relu(ref(x))
        got, _ = build_vgg16(vgg_weights)(vgg16_transform(u8))
    assert got.shape == (2, 4096) and (got[0] - got[1]).abs().max() > 0 and torch.equal(got, want)


def _brute(real, fake, k=3, dk=5):
    """Full-matrix reference of the four definitions (the papers' formulas, no blocks)."""
    d_rr, d_ff, d_rf = torch.cdist(real, real), torch.cdist(fake, fake), torch.cdist(real, fake)
    r_real = d_rr.sort(1).values[:, k]  # index 0 is the point itself
    r_fake = d_ff.sort(1).values[:, k]
    r5 = d_rr.sort(1).values[:, dk]
    precision = (d_rf <= r_real[:, None]).any(0).double().mean().item()
    recall = (d_rf <= r_fake[None, :]).any(1).double().mean().item()
    density = (d_rf < r5[:, None]).double().sum().item() / (dk * fake.shape[0])
    coverage = (d_rf.min(1).values < r5).double().mean().item()
    return precision, recall, density, coverage


def test_blocked_knn_maths_equals_full_matrix_reference():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(37, 16, generator=g, dtype=torch.float64)
    fake = torch.randn(29, 16, generator=g, dtype=torch.float64) * 1.3 + 0.4
    p, r, d, c = _brute(real, fake)
    got = manifold.precision_recall(real, fake, k=3, block=8, density_coverage=True)  # 5 and 4 blocks
    assert 0 < p < 1 and 0 < r < 1 and 0 < c < 1
    assert got == pytest.approx({"precision": p, "recall": r, "density": d, "coverage": c}, abs=1e-7)  # float32 means
    # NVlabs' path: the same definitions on float16 features (values here are well separated from the radii).
    nv = manifold.precision_recall_nvlabs(real.float(), fake.float(), k=3, block=8)
    p16, r16, _, _ = _brute(real.half().float(), fake.half().float())
    assert nv["precision"] == pytest.approx(p16, abs=1 / 29) and nv["recall"] == pytest.approx(r16, abs=1 / 37)


def test_identical_sets_are_perfect_and_disjoint_sets_are_zero():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 8, generator=g)
    same = manifold.precision_recall(x, x.clone(), density_coverage=True)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = manifold.precision_recall(x, x + 1000.0)
    assert far["precision"] == far["recall"] == 0.0
    from ganctl.errors import DataError

    with pytest.raises(DataError, match="at least 4"):
        manifold.precision_recall(x[:3], x)


def test_cli_gates_density_coverage_and_weights_lookup(pr_sets, vgg_home, vgg_weights, tmp_path):
    common = ["--device", "cpu", "--workers", "0"]
    # Found through TORCH_HOME (no --weights); gates: the numbers print, then exit 1 naming the violated bound.
    r = run_cli("pr", pr_sets["real"], pr_sets["fake"], "--density-coverage", "--min-recall", "1.01", "--json", *common,
                env_extra={"TORCH_HOME": str(vgg_home)}, check=False)
    assert r.returncode == 1 and "recall" in r.stderr and "--min-recall" in r.stderr
    res = json.loads(r.stdout)
    assert res["gate"]["passed"] is False and res["weights"]["path"] == str(vgg_weights)
    assert {"precision", "recall", "density", "coverage"} <= set(res) and res["numerics"]["distances"] == "float32"


def test_missing_or_wrong_weights_are_one_line_errors(pr_sets, tmp_path):
    common = ["--device", "cpu", "--workers", "0"]
    r = run_cli("pr", pr_sets["real"], pr_sets["fake"], *common, check=False,
                env_extra={"TORCH_HOME": str(tmp_path), "GANCTL_CACHE": str(tmp_path), "GANCTL_VGG16_WEIGHTS": ""})
    assert r.returncode == 2 and "vgg16-397923af.pth" in r.stderr and "GANCTL_VGG16_WEIGHTS" in r.stderr
    assert "Traceback" not in r.stderr
    # Wrong file and unknown protocol: in-process (the CLI's UsageError -> exit 2 mapping is checked just above).
    from ganctl.errors import UsageError
    from ganctl.metrics.vgg16 import build_vgg16, get_protocol

    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(UsageError, match="not torchvision's VGG16 state dict"):
        build_vgg16(wrong)
    with pytest.raises(UsageError, match="pr50k3"):
        get_protocol("nope")


@pytest.mark.slow  # three processes load the 530 MB file and run VGG16 on the CPU
def test_torchrun_two_ranks_equal_single_process(pr_sets, vgg_weights):
    common = ["--weights", str(vgg_weights), "--device", "cpu", "--workers", "0", "--batch-size", "1", "--json",
              "--density-coverage"]
    env = dict(os.environ, OMP_NUM_THREADS="1", GANCTL_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533",
           "-m", "ganctl", "pr", str(pr_sets["real"]), str(pr_sets["fake"]), *common]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    multi = json.loads(r.stdout)  # only rank 0 prints
    single = run_json("pr", pr_sets["real"], pr_sets["fake"], *common[:-2], "--density-coverage",
                      env_extra={"OMP_NUM_THREADS": "1"})
    assert multi["world_size"] == 2 and single["world_size"] == 1
    assert [s["n"] for s in multi["inputs"]] == [8, 7]
    for key in ("precision", "recall", "density", "coverage"):
        assert multi[key] == single[key], key
