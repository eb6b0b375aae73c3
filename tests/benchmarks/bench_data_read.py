"""Benchmark: reading random training batches from a prepared dataset vs. decoding PNG files (ImageFolder style).

Two datasets, each read as random batches of 64 in one process:
  - Fashion-MNIST 28x28 greyscale (the real files from the dataset-fashion-mnist package)
  - a synthetic 256x256 RGB set (smooth gradients + shapes, so the PNGs compress like photos rather than noise)
ours     = PreparedDataset.get_batch (memory-mapped uint8) -> uint8 (64, C, H, W)
baseline = the same images saved as PNG files in ImageFolder layout, each opened with PIL and converted as
           torchvision's ImageFolder loader does, stacked into the same uint8 (64, C, H, W) batch
Both run in the same process, same random indices, after a warm-up pass over every image (page cache warm for both,
as in any epoch after the first).

Usage: python tests/benchmarks/bench_data_read.py [--synthetic N] [--seconds S] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FASHION = Path("/usr/share/datasets/fashion-mnist")
BATCH = 64


def _rate(read_batch, n_items: int, seconds: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    for start in range(0, n_items, BATCH):  # warm-up: every item once (page cache, memmap pages), as after epoch 1
        read_batch(np.arange(start, min(start + BATCH, n_items)))
    done, t0 = 0, time.perf_counter()
    while True:
        read_batch(rng.integers(0, n_items, BATCH))
        done += BATCH
        dt = time.perf_counter() - t0
        if dt >= seconds and done >= 10 * BATCH:
            return done / dt


def _synthetic(i: int, size: int = 256) -> Image.Image:
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1)) % 1.0
    img = Image.fromarray((c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.integers(0, size - 40, 2)
        w, h = rng.integers(20, 120, 2)
        d.ellipse((int(x0), int(y0), int(x0 + w), int(y0 + h)), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def _png_tree_from_dataset(ds, root: Path) -> None:
    """Write every image of a prepared dataset as a PNG under root/<label>/ (ImageFolder layout)."""
    for i in range(len(ds)):
        img, lab = ds.get_batch([i])
        arr = img[0, 0] if img.shape[1] == 1 else img[0].transpose(1, 2, 0)
        d = root / f"class{max(int(lab[0]), 0):02d}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(d / f"{i:06d}.png")


def _measure(name: str, ds, png_root: Path, seconds: float) -> tuple[str, float, float]:
    # ImageFolder's layout and loader (sorted class folders, PIL open + convert), stacked with numpy into the same
    # uint8 (B, C, H, W) batch ours returns. torchvision's PILToTensor + torch.stack is left out on purpose: on
    # torch 2.14 CPU, stacking permuted uint8 tensors costs more than the decode itself and would flatter us.
    samples = sorted(p for p in png_root.rglob("*.png"))
    mode = "L" if ds.channels == 1 else "RGB"

    def ours(idx):
        return ds.get_batch(idx)

    def baseline(idx):
        imgs = []
        for i in idx:
            with open(samples[int(i)], "rb") as f:
                arr = np.asarray(Image.open(f).convert(mode))
            imgs.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        return np.stack(imgs)

    return name, _rate(ours, len(ds), seconds, 1), _rate(baseline, len(samples), seconds, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", type=int, default=2000, help="number of synthetic 256x256 RGB images")
    ap.add_argument("--fashion-png", type=int, default=10000, help="Fashion-MNIST images also written as PNGs for the baseline")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated files here (default: a temp dir, removed)")
    args = ap.parse_args()

    from ganctl.data.dataset import PreparedDataset
    from ganctl.data.prepare import PrepareOptions, prepare_dataset

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_data_read_"))
    rows, notes = [], []
    try:
        if (FASHION / "train-images-idx3-ubyte.gz").is_file():
            r = prepare_dataset(FASHION, work / "fmnist", PrepareOptions(max_images=args.fashion_png))
            ds = PreparedDataset(work / "fmnist")
            if not (work / "fmnist_png").exists():
                _png_tree_from_dataset(ds, work / "fmnist_png")
            rows.append(_measure(f"Fashion-MNIST 28x28x1 ({len(ds)} imgs)", ds, work / "fmnist_png", args.seconds))
            notes.append(f"prepare-data Fashion-MNIST ({r.count} imgs): {r.seconds:.2f} s")
        else:
            notes.append("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): row skipped")

        src = work / "synth_png"
        if not src.exists():
            (src / "class00").mkdir(parents=True)
            for i in range(args.synthetic):
                _synthetic(i).save(src / "class00" / f"{i:06d}.png")
        workers = min(4, os.cpu_count() or 1)
        r = prepare_dataset(src, work / "synth", PrepareOptions(workers=workers))
        ds = PreparedDataset(work / "synth")
        rows.append(_measure(f"synthetic 256x256x3 ({len(ds)} imgs)", ds, src, args.seconds))
        png_mb = sum(p.stat().st_size for p in src.rglob("*.png")) / 2**20
        notes.append(f"prepare-data synthetic ({r.count} PNGs, {png_mb:.0f} MiB): {r.seconds:.1f} s with {workers} workers "
                     f"= {r.count / r.seconds:.0f} img/s; dataset file {ds.path.stat().st_size / 2**20:.0f} MiB")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print(f"# bench_data_read: random batches of {BATCH}, one process, after one warm-up pass over all images")
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"| dataset | ours: PreparedDataset.get_batch (img/s) | baseline: PNG files + PIL decode (img/s) | ours / baseline |")
    print(f"|---|---:|---:|---:|")
    for name, ours, base in rows:
        print(f"| {name} | {ours:,.0f} | {base:,.0f} | {ours / base:.1f}x |")
    for n in notes:
        print(f"# {n}")
    print("# for scale: NVlabs StyleGAN2 256x256 on 1x H100 trains at ~80 img/s (12.5 s/kimg, FACTS.md)")


if __name__ == "__main__":
    main()
