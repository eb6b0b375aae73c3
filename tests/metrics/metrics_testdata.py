"""Helpers for the metric tests and the FID benchmark: real images (Fashion-MNIST, odd-sized photo-like files in
several PIL modes) and running the ganctl CLI in a subprocess. A uniquely named module so that it never clashes with
other folders' conftest.py."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FMNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def fashion_mnist(start: int, count: int) -> np.ndarray:
    if not FMNIST.is_file():
        pytest.skip(f"{FMNIST} missing (apt-get install dataset-fashion-mnist)")
    with gzip.open(FMNIST) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    return raw[start:start + count]


def smooth_photo(rng: np.random.Generator, h: int, w: int, channels: int = 3) -> np.ndarray:
    """A photo-like image: a smooth random field plus an edge, uint8 (h, w, channels)."""
    coarse = rng.random((max(2, h // 8), max(2, w // 8), channels))
    img = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8).squeeze() if channels == 1 else (coarse * 255).astype(np.uint8))
                     .resize((w, h), Image.BICUBIC), dtype=np.float64).reshape(h, w, channels)
    img[: h // 3, :, :] = 255 - img[: h // 3, :, :]
    return img.clip(0, 255).astype(np.uint8)


def write_fmnist(dest: Path, start: int, count: int, ext: str = ".png", prefix: str = "") -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, im in enumerate(fashion_mnist(start, count)):
        p = dest / f"{prefix}{start + i:05d}{ext}"
        Image.fromarray(im).save(p, format="PNG")
        out.append(p)
    return out


def write_odd_images(dest: Path, seed: int = 0) -> list[Path]:
    """Mixed sizes and modes, as users' folders have them: RGB, RGBA, L, P, LA at odd sizes."""
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    specs = [("odd_rgb", 37, 53, "RGB"), ("odd_rgba", 61, 45, "RGBA"), ("odd_gray", 100, 81, "L"),
             ("odd_pal", 29, 29, "P"), ("odd_la", 300, 211, "LA")]
    out = []
    for name, h, w, mode in specs:
        rgb = Image.fromarray(smooth_photo(rng, h, w))
        if mode == "RGBA":
            img = rgb.convert("RGBA")
            img.putalpha(Image.fromarray(smooth_photo(rng, h, w, 1)[:, :, 0]))
        elif mode == "P":
            img = rgb.convert("P", palette=Image.ADAPTIVE, colors=32)
        else:
            img = rgb.convert(mode)
        p = dest / f"{name}.png"
        img.save(p)
        out.append(p)
    return out


def run_cli(*args, env_extra: dict | None = None, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update({"GANCTL_OFFLINE": "1", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2")})
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, "-m", "ganctl", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"ganctl {' '.join(map(str, args))} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def run_json(*args, **kw) -> dict:
    return json.loads(run_cli(*args, "--json", **kw).stdout)
