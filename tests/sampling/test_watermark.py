"""ganctl's invisible watermark (sampling/watermark.py) on real images: Fashion-MNIST grids of 32x32 tiles (what
`sample --grid` writes for the 32x32 models) and Fashion-MNIST upscaled to 256x256. The mark must survive PNG re-save,
JPEG q75 and a brightness change with marking PSNR >= 38 dB on photo-like content, must not be found in unmarked
images, and images under 128x128 are refused with one line. The false-positive rate on many more real images is
measured by tests/benchmarks/fpr_watermark.py (README)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import load_fmnist  # noqa: E402

from ganctl.errors import UsageError  # noqa: E402
from ganctl.sampling import watermark as W  # noqa: E402


@pytest.fixture(scope="module")
def images():
    imgs, _ = load_fmnist("test", 64 * 3 + 3)
    padded = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))
    grids = [padded[i * 64:(i + 1) * 64].reshape(8, 8, 32, 32).transpose(0, 2, 1, 3).reshape(256, 256)[..., None]
             for i in range(3)]
    ups = [np.repeat(np.asarray(Image.fromarray(im).resize((256, 256), Image.BICUBIC))[..., None], 3, -1)
           for im in imgs[-3:]]
    return grids, ups


def jpeg(a, q):
    buf = io.BytesIO()
    Image.fromarray(a.squeeze(-1) if a.shape[-1] == 1 else a).save(buf, format="JPEG", quality=q)
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    return out[..., None] if out.ndim == 2 else out


def test_payload_roundtrip_and_jpeg75(images):
    grids, ups = images
    for i, im in enumerate(grids + ups):
        data = 0x9E3779B9 ^ i
        marked = W.embed(im, data)
        assert marked.dtype == np.uint8 and marked.shape == im.shape
        for attacked in (marked, jpeg(marked, 75), np.clip(marked.astype(int) + 20, 0, 255).astype(np.uint8)):
            d = W.detect(attacked)
            assert d.verdict == "watermarked", (i, d)
            assert d.payload == f"{data:08x}", (i, d)


def test_psnr(images):
    grids, ups = images
    # Photo-like content (upscaled): well above the 38 dB goal; black-background grids cost more (host cancellation).
    assert min(W.psnr(im, W.embed(im, 1)) for im in ups) >= 40
    assert min(W.psnr(im, W.embed(im, 1)) for im in grids) >= 36


def test_unmarked_not_detected(images):
    grids, ups = images
    for im in grids + ups:
        d = W.detect(im)
        assert d.verdict == "not detected", d
        assert d.matching_bits < W.LIKELY


def test_crop_of_photo_like_image(images):
    _, ups = images
    marked = W.embed(ups[0], 0x1234ABCD)
    d = W.detect(marked[25:, 25:])
    assert d.verdict == "watermarked" and d.payload == "1234abcd" and d.offset != (0, 0)


def test_small_images_refused():
    with pytest.raises(UsageError, match="at least 128x128"):
        W.embed(np.zeros((64, 256, 3), np.uint8))
    with pytest.raises(UsageError, match="at least 128x128"):
        W.detect(np.zeros((100, 100), np.uint8))


def test_payload_parsing():
    assert W.parse_payload(None, "deadbeef" + "0" * 56) == 0xDEADBEEF
    assert W.parse_payload("0x0000002a", None) == 42
    assert W.parse_payload("my studio", None) == W.parse_payload("my studio", "ff" * 32) != 0
