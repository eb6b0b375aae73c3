"""Paired and unpaired prepared datasets (prepare-data --pairs / --aligned / --unpaired) from real Fashion-MNIST images."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image, ImageFilter

from _testdata import load_fmnist, run_cli
from ganctl.data.dataset import PreparedDataset, dataset_kind, open_dataset, open_validation
from ganctl.data.pairs import PairedDataset, UnpairedDataset
from ganctl.data.prepare_pairs import PairOptions, match_pairs, prepare_pairs
from ganctl.errors import DataError


def _edges(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.FIND_EDGES))


@pytest.fixture(scope="module")
def fm():
    return load_fmnist("train", 24)[0]


@pytest.fixture(scope="module")
def pair_dirs(tmp_path_factory, fm):
    """A = edges of 24 Fashion-MNIST images (class subfolders), B = the images; A lacks #3, B lacks #5; B/7 is a .jpg."""
    root = tmp_path_factory.mktemp("pairsrc")
    for side in ("A/x", "B/x"):
        (root / side).mkdir(parents=True)
    for i, im in enumerate(fm):
        sub = "x/" if i % 2 else ""
        if i != 3:
            Image.fromarray(_edges(im)).save(root / f"A/{sub}{i}.png")
        if i != 5:
            Image.fromarray(im).save(root / f"B/{sub}{i}.{'bmp' if i == 7 else 'png'}")
    (root / "A/junk.png").write_bytes(b"not a png")
    (root / "B/junk.png").write_bytes(b"also not")
    return root


def test_pairs_match_by_relative_path_and_report_the_rest(pair_dirs, fm, tmp_path):
    r = prepare_pairs(pair_dirs / "A", pair_dirs / "B", tmp_path / "d", PairOptions(mode="pairs", workers=1))
    assert r.kind == "paired" and r.counts == {"input": 22, "target": 22}
    assert r.skipped_counts == {"not-an-image": 1, "unmatched": 2}
    unmatched = sorted(s["path"] for s in r.skipped if s["kind"] == "unmatched")
    assert unmatched == ["A:x/5.png", "B:x/3.png"]
    ds = open_dataset(tmp_path / "d")
    assert isinstance(ds, PairedDataset) and len(ds) == 22 and ds.factor == 1 and ds.channels == 1
    man = json.loads((tmp_path / "d/manifest.json").read_text())
    assert man["kind"] == "paired" and man["direction"] == "AtoB"
    # every stored pair is exactly (edges(image k), image k) for the file names it records; 7.png pairs with 7.bmp
    inp, tgt = ds.get_pairs(range(len(ds)))
    for row, rec in enumerate(man["images"]):
        k = int(os.path.basename(rec["input"]).split(".")[0])
        assert np.array_equal(inp[row, 0], _edges(fm[k])) and np.array_equal(tgt[row, 0], fm[k]), rec
    assert any(rec["target"].endswith("7.bmp") for rec in man["images"])
    # a latent family's reader refuses it with one line naming the kind
    with pytest.raises(DataError, match="a paired dataset"):
        PreparedDataset(tmp_path / "d")


def test_match_pairs_rules():
    pairs, skipped = match_pairs(["0001x4.png", "b/2.jpg", "3.png", "3.jpg"], ["0001.png", "b/2.png", "3.png", "9.png"])
    assert pairs == [("0001x4.png", "0001.png"), ("3.jpg", "3.png"), ("b/2.jpg", "b/2.png")]
    assert sorted(s["path"] for s in skipped) == ["A:3.png", "B:9.png"]


def test_sr_pairs_keep_their_integer_factor(tmp_path, fm):
    lr, hr = tmp_path / "LR", tmp_path / "HR"
    lr.mkdir()
    hr.mkdir()
    for i, im in enumerate(fm[:6]):
        big = np.pad(im, 2)  # 32 x 32
        Image.fromarray(big).save(hr / f"{i:04d}.png")
        Image.fromarray(big).resize((8, 8), Image.Resampling.BICUBIC).save(lr / f"{i:04d}x4.png")
    prepare_pairs(lr, hr, tmp_path / "d", PairOptions(mode="pairs", workers=1))
    ds = open_dataset(tmp_path / "d")
    assert ds.input_size == (8, 8) and ds.target_size == (32, 32) and ds.factor == 4 and len(ds) == 6
    assert np.array_equal(ds.get("target", [2])[0, 0], np.pad(fm[2], 2))
    # --resolution with --factor refits both sides; a target size the factor does not divide is refused
    prepare_pairs(lr, hr, tmp_path / "d2", PairOptions(mode="pairs", workers=1, resolution=16, factor=2))
    assert open_dataset(tmp_path / "d2").shapes == {"input": (6, 1, 8, 8), "target": (6, 1, 16, 16)}
    with pytest.raises(DataError, match="not divisible"):
        prepare_pairs(lr, hr, tmp_path / "d3", PairOptions(mode="pairs", workers=1, resolution=30, factor=4))
    assert not (tmp_path / "d3").exists()


def test_aligned_direction_and_validation_split(tmp_path, fm):
    src = tmp_path / "facades"
    src.mkdir()
    for i, im in enumerate(fm[:20]):
        Image.fromarray(np.concatenate([_edges(im), im], 1)).save(src / f"{i}.png")  # 56 x 28, A|B
    prepare_pairs(src, None, tmp_path / "d", PairOptions(mode="aligned", direction="BtoA", workers=1, val_fraction=0.2))
    ds, val = open_dataset(tmp_path / "d"), open_validation(tmp_path / "d")
    assert dataset_kind(tmp_path / "d") == "paired" and len(ds) == 16 and len(val) == 4
    assert ds.channels == 1 and ds.input_size == (28, 28)
    man = json.loads((tmp_path / "d/manifest.json").read_text())
    for row, rec in enumerate(man["images"]):
        k = int(rec["path"].split(".")[0])
        inp, tgt = ds.get_pairs([row])
        assert np.array_equal(inp[0, 0], fm[k]) and np.array_equal(tgt[0, 0], _edges(fm[k]))  # BtoA: right half in


def test_unpaired_domains_of_different_sizes_and_counts(tmp_path, fm):
    a, b = tmp_path / "trainA", tmp_path / "trainB"
    a.mkdir()
    b.mkdir()
    for i, im in enumerate(fm[:9]):
        Image.fromarray(im).save(a / f"{i}.png")
    for i, im in enumerate(fm[9:24]):
        Image.fromarray(im).resize((40, 40)).convert("RGB").save(b / f"{i}.jpg")
    with pytest.raises(DataError, match="--resolution"):
        prepare_pairs(a, b, tmp_path / "d0", PairOptions(mode="unpaired", workers=1))
    prepare_pairs(a, b, tmp_path / "d", PairOptions(mode="unpaired", workers=1, resolution=28))
    ds = open_dataset(tmp_path / "d")
    assert isinstance(ds, UnpairedDataset) and ds.count("A") == 9 and ds.count("B") == 15 and len(ds) == 15
    assert ds.shapes["A"][1:] == ds.shapes["B"][1:] == (3, 28, 28)
    assert np.array_equal(ds.get("A", [4])[0, 0], fm[4])  # domain A kept its exact pixels (grey -> 3 equal channels)


def test_keep_aspect_non_square_sources(tmp_path, fm):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    for i, im in enumerate(fm[:4]):
        wide = Image.fromarray(im).resize((40, 24))
        wide.save(a / f"{i}.png")
        wide.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(b / f"{i}.png")
    prepare_pairs(a, b, tmp_path / "d", PairOptions(mode="pairs", workers=1, policy="keep-aspect", resolution=16, multiple=4))
    ds = open_dataset(tmp_path / "d")
    assert ds.input_size == ds.target_size == (16, 24)  # short side 16, long side 40 * 16/24 = 26.7 -> multiple of 4 below
    # keep-aspect belongs to image-to-image datasets only
    with pytest.raises(DataError, match="only for image-to-image"):
        from ganctl.data.prepare import PrepareOptions, prepare_dataset

        prepare_dataset(a, tmp_path / "d1", PrepareOptions(policy="keep-aspect"))


def test_symlinked_class_folders_are_followed(tmp_path, fm):
    """A subset built from links: class folders and files are symlinks; a loop and a broken link are skipped with reasons."""
    real = tmp_path / "all"
    for c in ("shirt", "shoe"):
        (real / c).mkdir(parents=True)
    for i, im in enumerate(fm[:8]):
        Image.fromarray(im).save(real / ("shirt" if i < 4 else "shoe") / f"{i}.png")
    subset = tmp_path / "subset"
    subset.mkdir()
    os.symlink(real / "shirt", subset / "shirt")
    (subset / "shoe").mkdir()
    for i in (4, 5):
        os.symlink(real / "shoe" / f"{i}.png", subset / "shoe" / f"{i}.png")
    os.symlink(tmp_path / "gone.png", subset / "shoe" / "6.png")
    os.symlink(subset, real / "shirt" / "loop")  # reached through subset/shirt: a cycle back to the root
    r = run_cli("prepare-data", subset, tmp_path / "d", "--workers", "1", check=0)
    ds = PreparedDataset(tmp_path / "d")
    assert len(ds) == 6 and ds.label_names == ["shirt", "shoe"]
    assert sorted(np.bincount(ds.labels).tolist()) == [2, 4]
    man = json.loads((tmp_path / "d/manifest.json").read_text())
    assert man["skipped_counts"] == {"broken-link": 1, "link-cycle": 1}, man["skipped"]
    assert "broken-link 1" in r.stderr and "link-cycle 1" in r.stderr


def test_cli_pairs_and_bad_inputs(pair_dirs, tmp_path):
    r = run_cli("prepare-data", "--pairs", pair_dirs / "A", pair_dirs / "B", tmp_path / "d", "--resolution", "32", "--policy", "pad",
                "--strict", check=2)
    assert "--strict" in r.stderr and "Traceback" not in r.stderr and not (tmp_path / "d").exists()
    r = run_cli("prepare-data", "--pairs", pair_dirs / "A", tmp_path / "nope", tmp_path / "d", check=2)
    assert "nope" in r.stderr and len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "d").exists()
    r = run_cli("prepare-data", "--pairs", pair_dirs / "A", pair_dirs / "B", tmp_path / "d", "--resolution", "32", "--policy", "pad",
                check=0)
    assert "prepared 22 pairs (input 32x32, target 32x32, 1 channel)" in r.stderr and "unmatched 2" in r.stderr
    assert open_dataset(tmp_path / "d").get("input", [0]).shape == (1, 1, 32, 32)
