"""Offline image-to-image tasks made from real Fashion-MNIST images, for the translation learning tests.

pix2pix: Sobel gradient magnitude -> the image (32x32, grayscale; the Sobel helper and the reason for it are in
tests/_image_tasks.py, which the quality benchmark shares). CycleGAN: two classes as two unpaired domains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _image_tasks import sobel_magnitude, write_pngs
from _testdata import load_fmnist


def padded(imgs: np.ndarray) -> np.ndarray:
    return np.pad(imgs, ((0, 0), (2, 2), (2, 2)))


def edge_pairs(root: Path, split: str, start: int, n: int) -> tuple[Path, Path]:
    """root/edges/ and root/images/: n Fashion-MNIST images of `split` from index `start`, padded to 32x32."""
    imgs = padded(load_fmnist(split, start + n)[0][start:])
    return write_pngs(root / "edges", sobel_magnitude(imgs)), write_pngs(root / "images", imgs)


def class_images(split: str, label: int, n: int | None = None) -> np.ndarray:
    imgs, labels = load_fmnist(split)
    sel = padded(imgs[labels == label])
    return sel if n is None else sel[:n]
