"""Every dirty-input kind is skipped with its reason, or converted correctly; --strict refuses; never a traceback."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganctl.data.dataset import PreparedDataset
from ganctl.data.prepare import PrepareOptions, prepare_dataset
from ganctl.errors import DataError


@pytest.fixture
def prepared(dirty, tmp_path):
    root, expect = dirty
    r = prepare_dataset(root, tmp_path / "out", PrepareOptions(workers=2))
    ds = PreparedDataset(tmp_path / "out")
    m = ds.full_manifest()
    by_path = {e["path"]: i for i, e in enumerate(m["images"])}
    return root, expect, r, ds, m, by_path


def test_each_dirty_kind_is_skipped_with_its_reason(prepared):
    root, expect, r, ds, m, by_path = prepared
    skipped = {s["path"]: s for s in m["skipped"]}
    for rel, outcome in expect.items():
        if outcome == "ok":
            assert rel in by_path, rel
        else:
            assert skipped[rel]["kind"] == outcome, (rel, skipped[rel])
    assert skipped["h_dup_of_a.png"]["reason"] == "duplicate of a_clean.png"
    assert "decompression bomb" in skipped["g_bomb.png"]["reason"]
    want = {}
    for outcome in expect.values():
        if outcome != "ok":
            want[outcome] = want.get(outcome, 0) + 1
    assert m["skipped_counts"] == want and r.skipped_counts == want
    assert r.count == sum(o == "ok" for o in expect.values()) == len(ds)


def test_conversions_are_correct(prepared):
    root, expect, r, ds, m, by_path = prepared
    assert r.channels == 3 and r.resolution == 16
    img = lambda rel: ds.get_batch([by_path[rel]])[0][0].transpose(1, 2, 0)  # noqa: E731

    # 16-bit greyscale scales the full range (1000 -> 4, 32768 -> 128), where PIL's convert('L') would clip to 255.
    k = img("k_16bit.png")[:, :, 0]
    assert [int(k[0, 0]), int(k[0, 4]), int(k[0, 8]), int(k[0, 12])] == [0, 4, 128, 255]
    # RGBA composited on white: transparent -> white, opaque kept, 50% black -> mid grey
    a = img("m_rgba.png")
    assert a[0, 0].tolist() == [255, 255, 255] and a[15, 15].tolist() == [0, 0, 255] and a[15, 0].tolist() == [127, 127, 127]
    # palette and CMYK: same as PIL's RGB conversion of the decoded file
    assert np.array_equal(img("l_palette.png"), np.asarray(Image.open(root / "l_palette.png").convert("RGB")))
    assert np.array_equal(img("j_cmyk.jpg"), np.asarray(Image.open(root / "j_cmyk.jpg").convert("RGB")))
    assert m["converted_counts"] == {"16-bit": 1, "alpha": 1, "cmyk": 1, "palette": 1}


def test_strict_refuses_and_writes_nothing(dirty, tmp_path):
    root, _ = dirty
    with pytest.raises(DataError, match=r"--strict: 8 input\(s\) would be skipped") as e:
        prepare_dataset(root, tmp_path / "out", PrepareOptions(strict=True, workers=1))
    assert "\n" not in e.value.message
    assert not (tmp_path / "out").exists()


def test_strict_on_an_existing_dest_leaves_it_alone(dirty, tmp_path):
    root, _ = dirty
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError):
        prepare_dataset(root, tmp_path / "out", PrepareOptions(strict=True, workers=1))
    assert list((tmp_path / "out").iterdir()) == []


def test_pixel_cap_and_min_size_options(tmp_path, helpers):
    src = tmp_path / "s"
    src.mkdir()
    helpers.noise(1, (64, 64)).save(src / "big.png")
    helpers.noise(2, (12, 12)).save(src / "small.png")
    helpers.noise(3, (32, 32)).save(src / "mid.png")
    r = prepare_dataset(src, tmp_path / "out", PrepareOptions(resolution=16, max_pixels=2000, min_size=16, workers=1))
    assert r.count == 1 and r.skipped_counts == {"huge": 1, "tiny": 1}


def test_all_inputs_bad_is_a_clear_error(tmp_path):
    src = tmp_path / "bad"
    src.mkdir()
    (src / "a.png").write_bytes(b"")
    (src / "b.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"no usable images \(2 skipped: empty 1, not-an-image 1\)"):
        prepare_dataset(src, tmp_path / "out", PrepareOptions(workers=1))
    with pytest.raises(DataError, match="no usable images"):
        prepare_dataset(src, tmp_path / "out", PrepareOptions(resolution=8, workers=1))


def test_duplicates_can_be_kept(dirty, tmp_path):
    root, expect = dirty
    r = prepare_dataset(root, tmp_path / "out", PrepareOptions(keep_duplicates=True, workers=1))
    assert "duplicate" not in r.skipped_counts and r.count == sum(o in ("ok", "duplicate") for o in expect.values())


def test_exif_orientation_is_applied(tmp_path):
    from PIL import ImageOps

    src = tmp_path / "exif"
    src.mkdir()
    arr = np.zeros((16, 16, 3), dtype=np.uint8)
    arr[:, :8] = (255, 0, 0)  # left half red
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(src / "phone.png", exif=exif)
    prepare_dataset(src, tmp_path / "out", PrepareOptions(workers=1))
    got = PreparedDataset(tmp_path / "out").get_batch([0])[0][0].transpose(1, 2, 0)
    want = np.asarray(ImageOps.exif_transpose(Image.open(src / "phone.png")).convert("RGB"))
    assert np.array_equal(got, want) and not np.array_equal(got, arr)
    assert got[0, 15].tolist() == [255, 0, 0] and got[15, 15].tolist() == [0, 0, 0]  # red is now on top


def test_mangled_files_never_escape_as_exceptions(helpers, capfd):
    # Random byte flips and cuts in every common format: each result is an image or a Skip, never another exception.
    import io

    from ganctl.data import decode as dec

    rng = np.random.default_rng(0)
    img = helpers.noise(7, (24, 24))
    kinds = set()
    for fmt in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        data = buf.getvalue()
        for k in range(40):
            d = bytearray(data)
            for _ in range(int(rng.integers(1, 6))):
                d[int(rng.integers(0, len(d)))] = int(rng.integers(0, 256))
            if k % 3 == 0:
                d = d[: int(rng.integers(1, len(d)))]
            try:
                out = dec.decode(bytes(d), 16, 3, "center-crop", 8, dec.DEFAULT_MAX_PIXELS)[0]
                assert out.shape == (3, 16, 16)
                kinds.add("ok")
            except dec.Skip as s:
                kinds.add(s.kind)
    assert {"ok", "truncated", "not-an-image"} <= kinds
    assert "Warning" not in capfd.readouterr().err  # PIL's metadata warnings are not printed per file
