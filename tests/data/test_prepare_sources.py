"""prepare_dataset on image folders, zips and NVlabs datasets: labels, pixels surviving exactly, policies, defaults."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from ganctl.data.dataset import PreparedDataset
from ganctl.data.prepare import PrepareOptions, prepare_dataset
from ganctl.errors import DataError


def _class_folder(root, helpers, sizes=(16, 16)):
    """cats/ (3 images, mixed-case extensions, one nested) and dogs/ (2 images). Returns {relpath: PIL image}."""
    files = {
        "cats/a.png": helpers.noise(1, sizes),
        "cats/B.PNG": helpers.noise(2, sizes),
        "cats/deep/c.bmp": helpers.noise(3, sizes),
        "dogs/d.webp": helpers.noise(4, sizes),
        "dogs/e.tiff": helpers.noise(5, sizes),
    }
    for rel, img in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        fmt = {"webp": "WEBP", "bmp": "BMP", "tiff": "TIFF"}.get(p.suffix.lower()[1:], "PNG")
        img.save(p, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    (root / ".DS_Store").write_bytes(b"junk")  # hidden: ignored, not reported
    return files


def _chw(img):
    return np.asarray(img.convert("RGB")).transpose(2, 0, 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_class_folders_become_labels_and_pixels_survive(tmp_path, helpers, workers):
    files = _class_folder(tmp_path / "src", helpers)
    r = prepare_dataset(tmp_path / "src", tmp_path / "out", PrepareOptions(workers=workers))
    assert (r.count, r.resolution, r.channels, r.source_kind) == (5, 16, 3, "folder")
    ds = PreparedDataset(tmp_path / "out")
    assert ds.label_names == ["cats", "dogs"] and ds.shape == (5, 3, 16, 16)
    full = ds.full_manifest()
    paths = [e["path"] for e in full["images"]]
    assert sorted(paths) == sorted(files)
    imgs, labels = ds.get_batch(np.arange(5))
    for i, rel in enumerate(paths):
        assert np.array_equal(imgs[i], _chw(files[rel])), rel  # lossless sources must survive bit-exactly
        assert labels[i] == (0 if rel.startswith("cats/") else 1)
        import hashlib

        assert full["images"][i]["sha256"] == hashlib.sha256((tmp_path / "src" / rel).read_bytes()).hexdigest()
    assert full["skipped"] == [] and full["skipped_counts"] == {}
    assert full["source"] == str((tmp_path / "src").resolve()) and full["ganctl_version"] and full["created"]
    assert full["options"]["policy"] == "center-crop"


def test_flat_folder_is_unlabelled_and_greyscale_defaults_to_one_channel(tmp_path, helpers):
    src = tmp_path / "flat"
    src.mkdir()
    for i in range(3):
        helpers.noise(i, (12, 12), "L").save(src / f"{i}.png")
    r = prepare_dataset(src, tmp_path / "out", PrepareOptions(workers=1))
    ds = PreparedDataset(tmp_path / "out")
    assert r.channels == 1 and ds.label_names == [] and ds.labels.tolist() == [-1, -1, -1]
    assert np.array_equal(ds.get_batch([1])[0][0, 0], np.asarray(Image.open(src / "1.png")))


def test_mixed_sizes_need_resolution(tmp_path, helpers):
    src = tmp_path / "mixed"
    src.mkdir()
    helpers.noise(1, (16, 16)).save(src / "a.png")
    helpers.noise(2, (24, 16)).save(src / "b.png")
    with pytest.raises(DataError, match="--resolution"):
        prepare_dataset(src, tmp_path / "out", PrepareOptions(workers=1))
    assert not (tmp_path / "out").exists()  # a refused prepare leaves no DEST behind


@pytest.mark.parametrize("policy", ["center-crop", "pad", "stretch"])
def test_policies_on_a_wide_image(tmp_path, policy):
    src = tmp_path / "wide"
    src.mkdir()
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :10] = (255, 0, 0)  # red left quarter, then black, blue right quarter
    arr[:, 30:] = (0, 0, 255)
    Image.fromarray(arr).save(src / "w.png")
    prepare_dataset(src, tmp_path / policy, PrepareOptions(resolution=20, policy=policy, workers=1))
    img = PreparedDataset(tmp_path / policy).get_batch([0])[0][0]
    assert img.shape == (3, 20, 20)
    if policy == "center-crop":  # the middle 20 columns: no red or blue survives at the centre
        assert img[0, 10, 10] < 20 and img[2, 10, 10] < 20
    elif policy == "pad":  # scaled to 20x10, black bars above and below
        assert img[:, 0].max() == 0 and img[:, 19].max() == 0 and img[0, 10, 1] > 200 and img[2, 10, 18] > 200
    else:  # stretch keeps both stripes at the edges and fills every row
        assert img[0, 0, 0] > 200 and img[2, 19, 19] > 200


def test_channels_and_max_images(tmp_path, helpers):
    _class_folder(tmp_path / "src", helpers)
    r = prepare_dataset(tmp_path / "src", tmp_path / "out", PrepareOptions(channels=1, resolution=8, max_images=3, workers=1))
    ds = PreparedDataset(tmp_path / "out")
    assert r.count == 3 and ds.shape == (3, 1, 8, 8)


def test_zip_with_wrapping_folder_matches_the_folder(tmp_path, helpers):
    files = _class_folder(tmp_path / "src", helpers)
    zpath = tmp_path / "src.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for rel in files:
            zf.write(tmp_path / "src" / rel, f"wrapped/{rel}")
        zf.writestr("wrapped/__MACOSX/._a.png", b"junk")
    prepare_dataset(tmp_path / "src", tmp_path / "from_dir", PrepareOptions(workers=1))
    r = prepare_dataset(zpath, tmp_path / "from_zip", PrepareOptions(workers=2))
    a, b = PreparedDataset(tmp_path / "from_dir"), PreparedDataset(tmp_path / "from_zip")
    assert r.source_kind == "zip" and a.label_names == b.label_names == ["cats", "dogs"]
    assert np.array_equal(a.get_batch(range(5))[0], b.get_batch(range(5))[0])
    assert a.labels.tolist() == b.labels.tolist()
    assert [e["sha256"] for e in a.full_manifest()["images"]] == [e["sha256"] for e in b.full_manifest()["images"]]


def test_nvlabs_folder_and_zip(tmp_path, helpers):
    src = tmp_path / "nv"
    (src / "00000").mkdir(parents=True)
    for i in range(4):
        helpers.noise(i, (8, 8)).save(src / "00000" / f"img{i:08d}.png")
    labels = [[f"00000/img{i:08d}.png", [2, 0, 1, 2][i]] for i in range(3)] + [["00000/gone.png", 1]]
    (src / "dataset.json").write_text(json.dumps({"labels": labels}))
    r = prepare_dataset(src, tmp_path / "out", PrepareOptions(workers=1))
    ds = PreparedDataset(tmp_path / "out")
    assert r.source_kind == "nvlabs-folder" and ds.labels.tolist() == [2, 0, 1] and ds.label_names == ["0", "1", "2"]
    assert r.skipped_counts == {"missing-file": 1, "missing-label": 1}

    zpath = tmp_path / "nv.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for i in range(4):
            zf.write(src / "00000" / f"img{i:08d}.png", f"00000/img{i:08d}.png")
        zf.writestr("dataset.json", json.dumps({"labels": None}))
    r = prepare_dataset(zpath, tmp_path / "outz", PrepareOptions(workers=1))
    dz = PreparedDataset(tmp_path / "outz")
    assert r.source_kind == "nvlabs-zip" and dz.labels.tolist() == [-1] * 4 and dz.label_names == []
    assert np.array_equal(dz.get_batch([0, 1, 2])[0], ds.get_batch([0, 1, 2])[0])


def test_split_is_refused_for_folders(tmp_path, helpers):
    _class_folder(tmp_path / "src", helpers)
    with pytest.raises(DataError, match="--split"):
        prepare_dataset(tmp_path / "src", tmp_path / "out", PrepareOptions(split="test"))


def test_big_output_goes_through_a_memmap_and_is_cleaned_up(tmp_path, helpers, monkeypatch):
    # Lower the in-RAM limit so this small source takes the memmap path that multi-GB sources take.
    import ganctl.data.prepare as prep

    monkeypatch.setattr(prep, "_IN_RAM_LIMIT", 100)
    files = _class_folder(tmp_path / "src", helpers)
    prepare_dataset(tmp_path / "src", tmp_path / "out", PrepareOptions(workers=1))
    ds = PreparedDataset(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dataset.safetensors", "manifest.json"]
    first = ds.full_manifest()["images"][0]["path"]
    assert np.array_equal(ds.get_batch([0])[0][0], _chw(files[first]))


def test_zip_with_corrupt_member_and_bomb_member(tmp_path, helpers):
    zpath = tmp_path / "dirty.zip"
    good = helpers.png_bytes(helpers.noise(1))
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", good)
        zf.writestr("b.png", helpers.png_bytes(helpers.noise(2), compress_level=0))
        zf.writestr("bomb.png", b"\0" * (3 << 20))  # 3 MiB of zeros: a few KiB compressed
    raw = bytearray(zpath.read_bytes())
    at = raw.find(b"b.png", raw.find(b"b.png") + 1)  # flip a byte inside b.png's stored data (CRC mismatch)
    first = raw.find(b"b.png") + len(b"b.png")
    raw[first + 200] ^= 0xFF
    zpath.write_bytes(bytes(raw))
    assert at > 0
    r = prepare_dataset(zpath, tmp_path / "out", PrepareOptions(workers=1, max_pixels=4096))
    m = PreparedDataset(tmp_path / "out").full_manifest()
    kinds = {s["path"]: s["kind"] for s in m["skipped"]}
    assert r.count == 1 and kinds == {"b.png": "truncated", "bomb.png": "huge"}, m["skipped"]
