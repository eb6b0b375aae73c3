"""Decoding one encoded image file into the dataset's pixel format, or saying precisely why it cannot be used.

This module owns the per-image rules of `ganctl prepare-data`: which inputs are skipped and under which reason
(`SKIP_KINDS`), how odd pixel formats become 8-bit L or RGB, and the resolution policies. It runs inside the
worker processes, so it imports only PIL and numpy.

Conversions (the image is kept, and the conversion is counted in the manifest):
- CMYK, YCbCr, LAB, HSV -> RGB with PIL's converter.
- 16-bit and 32-bit integer greyscale -> 8-bit by scaling the full range (v * 255 / 65535, rounded). PIL's own
  convert('L') clips everything above 255 to white, which destroys 16-bit images; we never use it for these.
- palette (P) -> RGB, or L when every palette entry is grey; palette transparency becomes alpha (below).
- EXIF orientation (phone photos) -> applied, so the stored image is upright.
- alpha (RGBA, LA, PA, transparency key) -> composited on WHITE. Dropping alpha would expose whatever colour the
  editor left under transparent pixels (often black or garbage); white is how the image looks in a browser/viewer.
"""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# A truncated file must be reported, never silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga"}
)
POLICIES = ("center-crop", "pad", "stretch")
# Image-to-image datasets may also keep the sources' aspect ratio: every image is scaled to cover one H x W size
# (both multiples of the network's factor) and centre-cropped to it; see ganctl.data.prepare_pairs.
PAIR_POLICIES = POLICIES + ("keep-aspect",)
MIN_SIDE = 8  # smaller images carry no usable structure for any GAN resolution
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024

# kind -> one-line meaning (the manifest's skipped_counts use these keys)
SKIP_KINDS = {
    "empty": "zero-byte file",
    "not-an-image": "not a decodable image",
    "unsupported-extension": "file extension is not an image type",
    "truncated": "truncated or corrupt image data",
    "tiny": "smaller than the minimum side",
    "huge": "more pixels than the cap (decompression-bomb guard)",
    "unsupported-mode": "pixel format that cannot be converted",
    "duplicate": "same bytes as an earlier input",
    "missing-file": "listed in dataset.json but not present",
    "missing-label": "image not listed in dataset.json",
    "unreadable": "could not be read from disk",
    "broken-link": "symbolic link whose target does not exist",
    "link-cycle": "symbolic link to a folder already being listed",
    "unmatched": "no partner with the same relative path on the other side",
    "bad-aligned": "an A|B side-by-side image whose width is not even",
}

_EXIF_ORIENTATION = 0x0112
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


class Skip(Exception):
    """An input that is not used; `kind` is a SKIP_KINDS key, `reason` the human detail."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if len(data) == 0:
        raise Skip("empty", "zero-byte file")
    # PIL raises DecompressionBombError above 2x MAX_IMAGE_PIXELS and warns above 1x; the warning is made an error
    # too, and our own cap is checked right after the header is read, before any pixel is decoded.
    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels  # PIL checks it in open(); restored below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Skip("huge", f"decompression bomb refused by PIL ({e})") from None
    except UnidentifiedImageError:
        raise Skip("not-an-image", "not a recognised image format") from None
    except Exception as e:  # noqa: BLE001 - PIL's parsers raise many types on hostile bytes; all mean "corrupt"
        raise Skip("truncated", f"corrupt header ({type(e).__name__}: {e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    w, h = img.size
    if w * h > max_pixels:
        raise Skip("huge", f"{w}x{h} = {w * h} pixels > cap {max_pixels} (--max-pixels)")
    return img


def is_grey(img: Image.Image) -> bool:
    """True when the image carries no colour (from the header alone where possible)."""
    if img.mode in _GREY_MODES:
        return True
    if img.mode in ("P", "PA"):
        pal = img.getpalette() or []
        rgb = np.asarray(pal[: len(pal) - len(pal) % 3], dtype=np.int32).reshape(-1, 3)
        return bool(len(rgb)) and bool(np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]))
    return False


def probe(data: bytes, min_side: int, max_pixels: int) -> tuple[int, int, bool]:
    """Header-only look: (width, height, grey). Raises Skip for inputs that will certainly be skipped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        img = _open(data, max_pixels)
    w, h = img.size
    if min(w, h) < min_side:
        raise Skip("tiny", f"{w}x{h} is below the minimum side {min_side} px (--min-size)")
    return w, h, is_grey(img)


def _composite_on_white(arr: np.ndarray) -> np.ndarray:
    """(H, W, C+1) uint8 with alpha last -> (H, W, C) on white, rounding to nearest."""
    a = arr[..., -1:].astype(np.uint32)
    c = arr[..., :-1].astype(np.uint32)
    return ((c * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def to_8bit(img: Image.Image) -> tuple[np.ndarray, str | None]:
    """Decoded pixels as uint8 (H, W) or (H, W, 3), and the name of the conversion applied (None if none)."""
    mode = img.mode
    if mode in ("L", "RGB") and "transparency" in img.info:  # a colour key: one value means transparent
        rgb = _composite_on_white(np.asarray(img.convert("RGBA")))
        return (rgb[..., 0].copy() if mode == "L" else rgb), "alpha"
    if mode in ("L", "RGB"):
        return np.asarray(img), None
    if mode == "1":
        return np.asarray(img.convert("L")), None
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        v = np.asarray(img).astype(np.int64)
        # 'I' holds 16-bit PNG/TIFF data in older Pillows; values above 16 bits are scaled by their own range.
        top = 65535 if v.max(initial=0) <= 65535 else int(v.max())
        v = np.clip(v, 0, top)
        return ((v * 255 + top // 2) // top).astype(np.uint8), "16-bit"
    if mode == "F":
        v = np.asarray(img, dtype=np.float64)
        scale = 255.0 if v.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(np.rint(v * scale), 0, 255).astype(np.uint8), "float"
    if mode in ("P", "PA"):
        grey = is_grey(img)
        has_alpha = mode == "PA" or "transparency" in img.info
        if has_alpha:
            rgb = _composite_on_white(np.asarray(img.convert("RGBA")))
            return (rgb[..., 0].copy() if grey else rgb), "palette+alpha"
        return np.asarray(img.convert("L" if grey else "RGB")), "palette"
    if mode in ("LA", "La"):
        return _composite_on_white(np.asarray(img.convert("LA")))[..., 0], "alpha"
    if mode in ("RGBA", "RGBa"):
        return _composite_on_white(np.asarray(img.convert("RGBA"))), "alpha"
    if mode == "RGBX":
        return np.asarray(img.convert("RGB")), None
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB")), mode.lower()
    raise Skip("unsupported-mode", f"pixel mode {mode!r} is not supported")


def fit(pixels: np.ndarray, resolution, policy: str) -> np.ndarray:
    """Apply the resolution policy; an image already at the size is returned untouched (bit-exact).

    `resolution` is N (N x N) or, for policy keep-aspect, an (H, W) size: scaled to cover it, centre-cropped."""
    h, w = pixels.shape[:2]
    th, tw = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
    if h == th and w == tw:
        return pixels
    img = Image.fromarray(pixels)
    lanczos = Image.Resampling.LANCZOS
    if policy == "keep-aspect":
        s = max(th / h, tw / w)
        nw, nh = max(tw, round(w * s)), max(th, round(h * s))
        img = img.resize((nw, nh), lanczos)
        left, top = (nw - tw) // 2, (nh - th) // 2
        return np.asarray(img.crop((left, top, left + tw, top + th)))
    if th != tw:
        raise ValueError(f"policy {policy!r} makes square images; got size {th}x{tw}")
    resolution = th
    if policy == "stretch":
        return np.asarray(img.resize((resolution, resolution), lanczos))
    if policy == "center-crop":
        s = resolution / min(w, h)
        nw, nh = max(resolution, round(w * s)), max(resolution, round(h * s))
        img = img.resize((nw, nh), lanczos)
        left, top = (nw - resolution) // 2, (nh - resolution) // 2
        return np.asarray(img.crop((left, top, left + resolution, top + resolution)))
    if policy == "pad":
        # Centre on a black square; only images too big to fit are scaled down (long side -> resolution), so e.g.
        # 28x28 MNIST at --resolution 32 keeps its exact pixels inside a 2-px border, as DCGAN-era code pads it.
        s = min(1.0, resolution / max(w, h))
        nw, nh = min(resolution, max(1, round(w * s))), min(resolution, max(1, round(h * s)))
        small = pixels if (nw, nh) == (w, h) else np.asarray(img.resize((nw, nh), lanczos))
        out = np.zeros((resolution, resolution) + pixels.shape[2:], dtype=np.uint8)
        top, left = (resolution - nh) // 2, (resolution - nw) // 2
        out[top : top + nh, left : left + nw] = small
        return out
    raise ValueError(f"unknown policy {policy!r}")


def to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """(H, W[, 3]) uint8 -> (C, H, W) uint8. RGB -> L uses PIL's ITU-R 601-2 luma."""
    if pixels.ndim == 2:
        return np.broadcast_to(pixels, (channels,) + pixels.shape).copy() if channels == 3 else pixels[None].copy()
    if channels == 1:
        return np.asarray(Image.fromarray(pixels).convert("L"))[None].copy()
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def decode(data: bytes, resolution: int, channels: int, policy: str, min_side: int, max_pixels: int):
    """Full decode of one file: returns (pixels C x H x W uint8, sha256 hex, (w, h), conversion or None).

    Raises Skip for every unusable input. The sha256 is of the file bytes, so duplicates are found exactly.
    """
    with warnings.catch_warnings():
        # PIL warns about odd metadata (EXIF/TIFF tags) on images that decode fine; not worth a line per file.
        warnings.simplefilter("ignore", UserWarning)
        return _decode(data, resolution, channels, policy, min_side, max_pixels)


def _decode(data: bytes, resolution, channels: int, policy: str, min_side: int, max_pixels: int):
    pixels, sha, size, conversion = _load(data, min_side, max_pixels)
    return to_channels(fit(pixels, resolution, policy), channels), sha, size, conversion


def load(data: bytes, min_side: int, max_pixels: int):
    """Decode one file to 8-bit pixels without resizing: ((H, W[, 3]) uint8, sha256 hex, (w, h), conversion or None).

    For callers that cut the image before fitting it (side-by-side A|B pairs). Raises Skip like `decode`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _load(data, min_side, max_pixels)


def _load(data: bytes, min_side: int, max_pixels: int):
    img = _open(data, max_pixels)
    w, h = img.size
    if min(w, h) < min_side:
        raise Skip("tiny", f"{w}x{h} is below the minimum side {min_side} px (--min-size)")
    try:
        img.load()
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)  # animated GIF/WebP/TIFF: the first frame is the image
        if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            img = ImageOps.exif_transpose(img)  # phone photos: store the image upright, as viewers show it
        pixels, conversion = to_8bit(img)
    except Skip:
        raise
    except Exception as e:  # noqa: BLE001 - as above: any failure inside a decoder is a corrupt input, not our bug
        raise Skip("truncated", f"cannot decode pixel data ({type(e).__name__}: {e})") from None
    return pixels, hashlib.sha256(data).hexdigest(), (w, h), conversion
