"""Offline image-to-image tasks made from real Fashion-MNIST images, for the translation learning tests.

pix2pix: Sobel gradient magnitude -> the image (32x32, grayscale). The gradient magnitude keeps how much brighter one
side of an edge is, so the garment's interior intensity is largely determined by its outline (binary edges leave it
ambiguous, and an L1 test then measures a guess). CycleGAN: two classes as two unpaired domains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from _testdata import load_fmnist


def padded(imgs: np.ndarray) -> np.ndarray:
    return np.pad(imgs, ((0, 0), (2, 2), (2, 2)))


def sobel_magnitude(imgs: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> uint8 gradient magnitude (Sobel, zero padding), scaled by 1/4 so a 0 -> 255 step is 255."""
    x = np.pad(imgs.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    gx = (x[:, :-2, 2:] + 2 * x[:, 1:-1, 2:] + x[:, 2:, 2:]) - (x[:, :-2, :-2] + 2 * x[:, 1:-1, :-2] + x[:, 2:, :-2])
    gy = (x[:, 2:, :-2] + 2 * x[:, 2:, 1:-1] + x[:, 2:, 2:]) - (x[:, :-2, :-2] + 2 * x[:, :-2, 1:-1] + x[:, :-2, 2:])
    return np.clip(np.hypot(gx, gy) / 4.0, 0, 255).round().astype(np.uint8)


def write_pngs(folder: Path, imgs: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(folder / f"{i:05d}.png")
    return folder


def edge_pairs(root: Path, split: str, start: int, n: int) -> tuple[Path, Path]:
    """root/edges/ and root/images/: n Fashion-MNIST images of `split` from index `start`, padded to 32x32."""
    imgs = padded(load_fmnist(split, start + n)[0][start:])
    return write_pngs(root / "edges", sobel_magnitude(imgs)), write_pngs(root / "images", imgs)


def class_images(split: str, label: int, n: int | None = None) -> np.ndarray:
    imgs, labels = load_fmnist(split)
    sel = padded(imgs[labels == label])
    return sel if n is None else sel[:n]
