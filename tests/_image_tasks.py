"""Image-to-image tasks made from a labelled set of real images: the translation learning tests' and the quality
benchmark's (tests/benchmarks/bench_quality.py) one source of them.

pix2pix, two tasks (PIX2PIX_INPUTS): `sobel`, Sobel gradient magnitude -> the image. The gradient magnitude keeps how
much brighter one side of an edge is, so an object's interior intensity is largely determined by its outline (binary
edges leave it ambiguous, and a distance then measures a guess). Colour images get the Sobel magnitude of their
luminance (ITU-R 601 luma, as ganctl's RGB -> L conversion): the network has to invent the colours from the shapes.
`gray`, the luminance -> the colour image: the pix2pix paper's BW -> colour task, the one a colour set is measured on
(on a grey set the input would be the answer). Both inputs are one grey plane, repeated over the target's channels.
CycleGAN: two classes of the set as two unpaired domains. Super-resolution needs no builder: the family degrades the
prepared image set itself on the fly.

Datasets are prepared through the real CLI (`ganctl prepare-data --pairs / --unpaired`) from PNG folders, as a user
would prepare their own pairs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

LUMA = np.array([0.299, 0.587, 0.114])


def sobel_magnitude(imgs: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> uint8 gradient magnitude (Sobel, zero padding), scaled by 1/4 so a 0 -> 255 step is 255."""
    x = np.pad(imgs.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    gx = (x[:, :-2, 2:] + 2 * x[:, 1:-1, 2:] + x[:, 2:, 2:]) - (x[:, :-2, :-2] + 2 * x[:, 1:-1, :-2] + x[:, 2:, :-2])
    gy = (x[:, 2:, :-2] + 2 * x[:, 2:, 1:-1] + x[:, 2:, 2:]) - (x[:, :-2, :-2] + 2 * x[:, :-2, 1:-1] + x[:, :-2, 2:])
    return np.clip(np.hypot(gx, gy) / 4.0, 0, 255).round().astype(np.uint8)


def luma(imgs: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) RGB -> float (N, H, W) ITU-R 601 luma, unrounded."""
    return np.tensordot(LUMA, imgs.astype(np.float64), axes=([0], [1]))


def luminance(imgs: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) with C 1 or 3 -> uint8 (N, H, W): the grey channel, or ITU-R 601 luma of RGB."""
    if imgs.shape[1] == 1:
        return imgs[:, 0]
    return luma(imgs).round().astype(np.uint8)


def sobel_inputs(imgs: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) images -> their `sobel` pix2pix inputs, uint8 (N, C, H, W): the Sobel magnitude of the
    luminance, repeated over C channels (what `prepare-data --pairs` makes of a grey input beside an RGB target)."""
    return np.repeat(sobel_magnitude(luminance(imgs))[:, None], imgs.shape[1], axis=1)


def gray_inputs(imgs: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) images -> their `gray` pix2pix inputs: the luminance, repeated over C channels."""
    return np.repeat(luminance(imgs)[:, None], imgs.shape[1], axis=1)


def chroma_planes(imgs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 (N, 3, H, W) RGB -> ITU-R 601 (Y, Cb, Cr), each float (N, H, W), Cb and Cr centred on 0."""
    y = luma(imgs)
    return y, (imgs[:, 2] - y) / 1.772, (imgs[:, 0] - y) / 1.402


def recolour(imgs: np.ndarray, hue_deg: float = 0.0, chroma_scale: float = 1.0) -> np.ndarray:
    """uint8 (N, 3, H, W) RGB -> the same images with their luma kept and their chroma (Cb, Cr) turned by `hue_deg` and
    scaled by `chroma_scale`: what a colouriser that gets every shape and brightness right but the hue or the
    saturation wrong would draw. Out-of-gamut values are clipped, so luma holds to +-1 only inside the gamut."""
    y, cb, cr = chroma_planes(imgs)
    t = np.deg2rad(hue_deg)
    cb, cr = chroma_scale * (cb * np.cos(t) - cr * np.sin(t)), chroma_scale * (cb * np.sin(t) + cr * np.cos(t))
    r, b = y + 1.402 * cr, y + 1.772 * cb
    g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1]
    return np.clip(np.stack([r, g, b], axis=1), 0, 255).round().astype(np.uint8)


def colour_errors(out: np.ndarray, target: np.ndarray, min_chroma: float = 8.0) -> tuple[float, float]:
    """(hue error in degrees, chroma ratio) of outputs against their targets. The hue error is the chroma-weighted
    mean absolute angle between the two (Cb, Cr) vectors over pixels where both have chroma >= min_chroma (of 255);
    the ratio is the outputs' summed chroma over the targets' where the target has colour."""
    _, ob, orr = chroma_planes(out)
    _, tb, tr = chroma_planes(target)
    oc, tc = np.hypot(ob, orr), np.hypot(tb, tr)
    both = (oc >= min_chroma) & (tc >= min_chroma)
    angle = np.abs(np.angle(np.exp(1j * (np.arctan2(orr, ob) - np.arctan2(tr, tb)))))
    hue_err = float(np.degrees((angle * tc)[both].sum() / max(tc[both].sum(), 1e-12)))
    coloured = tc >= min_chroma
    return hue_err, float(oc[coloured].sum() / max(tc[coloured].sum(), 1e-12))


# pix2pix task name -> (how a row names its input, the input maker)
PIX2PIX_INPUTS = {"sobel": ("Sobel", sobel_inputs), "gray": ("luminance", gray_inputs)}


def pix2pix_input_for(channels: int) -> str:
    """The task a set is measured on: edges for a grey set, BW -> colour for a colour one."""
    return "sobel" if channels == 1 else "gray"


def write_pngs(folder: Path, imgs: np.ndarray) -> Path:
    """uint8 (N, H, W) or (N, C, H, W) with C 1 or 3 -> folder/00000.png ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(imgs):
        if im.ndim == 3:
            im = im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0)
        Image.fromarray(np.ascontiguousarray(im)).save(folder / f"{i:05d}.png")
    return folder


def _prepare(flag: str, a: Path, b: Path, dest: Path) -> Path:
    cmd = [sys.executable, "-m", "ganctl", "prepare-data", flag, str(a), str(b), str(dest), "--workers", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}): {p.stderr.strip()[-500:]}")
    return dest


def prepare_input_pairs(images: np.ndarray, dest: Path, kind: str = "sobel") -> Path:
    """A prepared paired dataset at dest: PIX2PIX_INPUTS[kind] inputs -> `images` (uint8 N, C, H, W). Kept if present."""
    if (dest / "manifest.json").is_file():
        return dest
    work = dest.with_name(dest.name + ".png")
    shutil.rmtree(work, ignore_errors=True)
    inputs = PIX2PIX_INPUTS[kind][1](images)[:, :1]
    _prepare("--pairs", write_pngs(work / "A", inputs), write_pngs(work / "B", images), dest)
    shutil.rmtree(work)
    return dest


def prepare_domains(images: np.ndarray, labels: np.ndarray, a: int, b: int, dest: Path) -> Path:
    """A prepared unpaired dataset at dest: domain A the images of class a, domain B those of class b. Kept if present."""
    if (dest / "manifest.json").is_file():
        return dest
    work = dest.with_name(dest.name + ".png")
    shutil.rmtree(work, ignore_errors=True)
    _prepare("--unpaired", write_pngs(work / "A", images[labels == a]), write_pngs(work / "B", images[labels == b]), dest)
    shutil.rmtree(work)
    return dest
