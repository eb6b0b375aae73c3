"""Synthetic datasets and what they are worth or leak: `sample --export-dataset`, `cas`, `audit privacy`, `audit bias`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import FMNIST_NAMES, load_fmnist  # noqa: E402

from ganctl import api  # noqa: E402
from ganctl.audit.bias import divergences, histogram  # noqa: E402
from ganctl.audit.membership import roc_auc, tpr_at_fpr  # noqa: E402
from ganctl.data.dataset import PreparedDataset, write_dataset  # noqa: E402
from ganctl.errors import UsageError  # noqa: E402


def _padded(x: np.ndarray) -> np.ndarray:
    return np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None]


@pytest.fixture(scope="module")
def fmnist32_test(tmp_path_factory) -> Path:
    """300 real Fashion-MNIST test images (never in the training fixture), 32x32, labelled."""
    x, y = load_fmnist("test", 300)
    return Path(write_dataset(tmp_path_factory.mktemp("t") / "test", _padded(x), y,
                              {"name": "fmnist32-test", "label_names": FMNIST_NAMES})).parent


def test_export_dataset_is_readable_by_ganctl_and_torchvision(tiny_cgan_run, tmp_path, cli):
    out = tmp_path / "synth"
    p = cli("sample", tiny_cgan_run, "--export-dataset", out, "--num", "30", check=0)
    assert p.stdout.strip() == str(out)
    ds = PreparedDataset(out)
    assert len(ds) == 30 and ds.num_classes == 10 and ds.label_names == FMNIST_NAMES
    assert ds.labels.tolist() == [s % 10 for s in range(30)]
    assert ds.full_manifest()["synthetic"]["seeds"] == "0-29"
    # The same images as `sample` writes for those seeds.
    gen = api.sample(str(tiny_cgan_run), seeds=[7], outdir=str(tmp_path / "one"), provenance=False)
    from PIL import Image

    one = np.asarray(Image.open(gen["files"][0]))
    assert np.array_equal(one.reshape(32, 32), ds.get_batch([7])[0][0, 0])

    from torchvision.datasets import ImageFolder

    tv = ImageFolder(str(out / "images"))
    assert len(tv) == 30 and len(tv.classes) == 10
    assert tv.classes[3].startswith("03-") and tv.class_to_idx[tv.classes[3]] == 3
    img, label = tv[0]
    seed = int(Path(tv.samples[0][0]).stem[4:])
    assert label == seed % 10
    assert np.array_equal(np.asarray(img)[:, :, 0], ds.get_batch([seed])[0][0, 0])

    with pytest.raises(UsageError, match="already holds a dataset"):
        api.export_dataset(str(tiny_cgan_run), str(out), 5)


def test_fixed_classifier_learns_real_data_and_is_seeded(fmnist32, fmnist32_test):
    from ganctl.metrics.cas_classifier import load_classifier, train_classifier

    tr, te = PreparedDataset(fmnist32), PreparedDataset(fmnist32_test)
    x, y = tr.get_batch(np.arange(len(tr)))
    tx, ty = te.get_batch(np.arange(len(te)))
    a = train_classifier(x, y, 10, seed=0, epochs=3)
    b = train_classifier(x, y, 10, seed=0, epochs=3)
    acc = a.accuracy(tx, ty)
    assert acc > 0.5, "512 real images should teach the classifier far more than chance (0.1)"
    assert np.array_equal(a.predict(tx), b.predict(tx))


def test_cas_is_reproducible_and_has_a_real_baseline(tiny_cgan_run, fmnist32_test, tmp_path):
    r1 = api.cas(str(tiny_cgan_run), str(fmnist32_test), num=200, epochs=4)
    r2 = api.cas(str(tiny_cgan_run), str(fmnist32_test), num=200, epochs=4)
    assert r1 == r2
    assert 0 <= r1["cas"] <= 1 and r1["num"] == 200 and r1["test_count"] == 300
    # The generator saw 64 images for a few steps: real images teach the same classifier much more.
    assert r1["real_count"] == 200 and r1["real_accuracy"] > r1["cas"] + 0.1
    # A labelled dataset (e.g. an exported one) is accepted as the generated side.
    other = api.cas(str(fmnist32_test), str(fmnist32_test), num=50, epochs=1)
    assert other["generated_from"].startswith("dataset") and "real_accuracy" not in other
    with pytest.raises(UsageError, match="class labels"):
        unl = tmp_path / "unlabelled"
        write_dataset(unl, _padded(load_fmnist("test", 20)[0]), np.full(20, -1), {"name": "u"})
        api.cas(str(tiny_cgan_run), str(unl), num=20)


def test_auc_and_tpr_helpers():
    members = np.array([True] * 4 + [False] * 4)
    assert roc_auc(np.array([8, 7, 6, 5, 4, 3, 2, 1.0]), members) == 1.0
    assert roc_auc(np.array([1, 2, 3, 4, 5, 6, 7, 8.0]), members) == 0.0
    assert roc_auc(np.ones(8), members) == 0.5
    assert tpr_at_fpr(np.array([8, 7, 6, 5, 4, 3, 2, 1.0]), members, 0.0) == 1.0


def test_membership_inference_catches_a_memorising_generator(fmnist32, fmnist32_test, tmp_path):
    # A generator that copies its training images: its output is the training set with tiny pixel noise.
    train = PreparedDataset(fmnist32)
    x, y = train.get_batch(np.arange(len(train)))
    noisy = np.clip(x.astype(int) + np.random.default_rng(0).integers(-3, 4, x.shape), 0, 255).astype(np.uint8)
    write_dataset(tmp_path / "memorised", noisy, y, {"name": "memorised", "label_names": FMNIST_NAMES})
    # A generator that never saw the training images: other real images of the same distribution.
    ox, oy = load_fmnist("train", 2000)
    write_dataset(tmp_path / "unseen", _padded(ox[1000:1600]), oy[1000:1600], {"name": "unseen", "label_names": FMNIST_NAMES})

    kw = dict(candidates=150, bootstrap=200, num_generated=600, device="cpu")
    mem = api.audit_privacy(str(tmp_path / "memorised"), str(fmnist32), str(fmnist32_test), **kw)
    bb = mem["attacks"]["black_box"]
    assert bb["auc"] > 0.95 and bb["auc_ci95"][0] > 0.9 and bb["tpr_at_fpr_0.01"] > 0.9
    assert "leaks" in bb["verdict"]
    assert mem["nearest"]["near_copies"] > 0.9 * mem["nearest"]["checked"]
    assert mem["attacks"]["white_box"] is None  # a dataset has no D

    clean = api.audit_privacy(str(tmp_path / "unseen"), str(fmnist32), str(fmnist32_test), **kw)["attacks"]["black_box"]
    assert abs(clean["auc"] - 0.5) < 0.1 and clean["auc_ci95"][0] < 0.5 < clean["auc_ci95"][1]

    with pytest.raises(UsageError, match="same dataset as --train"):
        api.audit_privacy(str(tmp_path / "unseen"), str(fmnist32), str(fmnist32), **kw)


def test_audit_privacy_white_box_cli(tiny_cgan_run, fmnist32, fmnist32_test, cli):
    p = cli("audit", "privacy", tiny_cgan_run, "--train", fmnist32, "--heldout", fmnist32_test, "--num", "200",
            "--candidates", "100", "--bootstrap", "100", "--json", check=0)
    r = json.loads(p.stdout)
    for name in ("black_box", "white_box"):
        a = r["attacks"][name]
        assert 0 <= a["auc"] <= 1 and a["auc_ci95"][0] <= a["auc"] <= a["auc_ci95"][1]
    bad = cli("audit", "privacy", tiny_cgan_run, "--train", fmnist32, "--heldout", fmnist32, check=2)
    assert "--heldout" in bad.stderr and "Traceback" not in bad.stderr


def test_bias_histograms_count_absent_classes():
    p = histogram(np.array([0, 0, 1, 1]), 4)
    assert p.tolist() == [0.5, 0.5, 0.0, 0.0]
    d = divergences(p, np.full(4, 0.25))
    assert d["l1"] == pytest.approx(1.0) and d["l2"] == pytest.approx(0.5) and d["kl"] == pytest.approx(np.log(2))


def test_audit_bias_conditional_with_saved_classifier(tiny_cgan_run, fmnist32, tmp_path):
    clf = tmp_path / "clf.safetensors"
    r = api.audit_bias(str(tiny_cgan_run), str(fmnist32), truncations=(1.0, 0.5), num=60, epochs=1,
                       save_classifier=str(clf))
    assert r["reference"] == "real labels" and len(r["truncations"]) == 2
    for t in r["truncations"]:
        assert len(t["share"]) == 10 and sum(t["share"]) == pytest.approx(1.0)
        assert len(t["requested_class_share"]) == 10
        assert t["missing"] == [FMNIST_NAMES[i] for i in range(10) if t["share"][i] == 0]
    again = api.audit_bias(str(tiny_cgan_run), str(fmnist32), classifier=str(clf), truncations=(1.0, 0.5), num=60)
    assert [t["share"] for t in again["truncations"]] == [t["share"] for t in r["truncations"]]
    with pytest.raises(UsageError, match="not a ganctl classifier"):
        (tmp_path / "junk.safetensors").write_bytes(b"nope")
        api.audit_bias(str(tiny_cgan_run), str(fmnist32), classifier=str(tmp_path / "junk.safetensors"), num=10)
