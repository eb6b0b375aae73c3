"""Real image files for the prepare-data tests, written with PIL into tmp_path (nothing is downloaded)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FASHION = Path("/usr/share/datasets/fashion-mnist")


def noise(seed: int, size=(16, 16), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A PNG whose header claims width x height pixels (10 G by default) but carries almost no data."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")


def write_dirty(root: Path) -> dict[str, str]:
    """One file per dirty-input kind plus clean 16x16 RGB images. Returns {relative path: expected outcome}."""
    root.mkdir(parents=True, exist_ok=True)
    expect = {}

    def put(name, data, outcome):
        (root / name).write_bytes(data)
        expect[name] = outcome

    put("a_clean.png", png_bytes(noise(1)), "ok")
    put("b_clean_upper.PNG", png_bytes(noise(2)), "ok")
    put("c_zero.png", b"", "empty")
    put("d_truncated.png", png_bytes(noise(3))[:300], "truncated")
    put("e_text.jpg", b"this is not an image at all\n" * 4, "not-an-image")
    put("f_tiny.png", png_bytes(noise(4, size=(4, 4))), "tiny")
    put("g_bomb.png", bomb_png(), "huge")
    put("h_dup_of_a.png", (root / "a_clean.png").read_bytes(), "duplicate")
    put("i_notes.txt", b"hello", "unsupported-extension")
    cmyk = Image.fromarray(np.random.default_rng(5).integers(0, 256, (16, 16, 4), dtype=np.uint8), "CMYK")
    put("j_cmyk.jpg", png_bytes(cmyk, "JPEG", quality=95), "ok")
    sixteen = np.array([[0, 1000, 32768, 65535]] * 4, dtype=np.uint16).repeat(4, 0).repeat(4, 1)
    put("k_16bit.png", png_bytes(Image.fromarray(sixteen)), "ok")  # uint16 -> mode I;16
    pal = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16) % 4, "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30] + [0] * (256 * 3 - 12))
    put("l_palette.png", png_bytes(pal), "ok")
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[:8] = (255, 0, 0, 0)  # fully transparent red -> white
    rgba[8:] = (0, 0, 255, 255)  # opaque blue stays blue
    rgba[8:, :8] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    put("m_rgba.png", png_bytes(Image.fromarray(rgba, "RGBA")), "ok")
    jpg = png_bytes(noise(6), "JPEG", quality=90)
    put("n_truncated.jpeg", jpg[: len(jpg) // 2], "truncated")
    return expect


def run_cli(*args, cwd=None):
    """`python -m ganctl ...` in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "ganctl", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def dirty(tmp_path):
    root = tmp_path / "dirty"
    return root, write_dirty(root)


@pytest.fixture
def fashion():
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    return FASHION


@pytest.fixture
def helpers():
    """The functions above, for tests (importing from conftest is fragile when several test folders have one)."""
    from types import SimpleNamespace

    return SimpleNamespace(noise=noise, png_bytes=png_bytes, bomb_png=bomb_png, write_dirty=write_dirty, run_cli=run_cli)
