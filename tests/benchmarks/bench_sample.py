"""Benchmark: PNG writing throughput of `ganctl sample` (ganctl.sampling.writer.PngWriter) with its thread pool vs one
thread, on images like generated ones (smooth colour fields plus fine noise, which PNG compresses about as badly).

On a GPU, generation outruns single-threaded PNG encoding by far (a 1024x1024 PNG takes ~0.1 s to encode), so this
rate is what bounds `ganctl sample` there; bench_stylegan2.py measures the generation side.

Usage: python tests/benchmarks/bench_sample.py [--res 256] [--n 128] [--workers N]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from ganctl.sampling.writer import PngWriter, default_workers


def images(n: int, res: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:res, 0:res] / res
    out = []
    for _ in range(n):
        f = rng.uniform(1, 6, 3)
        base = 0.5 + 0.5 * np.sin(2 * np.pi * (f[:, None, None] * xx + f[::-1, None, None] * yy))
        img = np.clip(base.transpose(1, 2, 0) * 255 + rng.normal(0, 8, (res, res, 3)), 0, 255).astype(np.uint8)
        out.append(img)
    return out


def rate(imgs, workers: int, folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with PngWriter(workers) as w:
        for i, img in enumerate(imgs):
            w.submit(img, folder / f"seed{i:04d}.png")
    return len(imgs) / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--workers", type=int, default=default_workers())
    args = ap.parse_args()
    imgs = images(args.n, args.res)
    print(f"# bench_sample {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  "
          f"{platform.machine()} {os.cpu_count()} CPUs  {args.n} PNGs of {args.res}x{args.res}x3")
    with tempfile.TemporaryDirectory() as d:
        rate(imgs[:8], 1, Path(d) / "warm-up")  # PIL/zlib imports and first file creation, outside the timings
        # Alternate the two, twice, and keep each one's best: neither gets a colder page cache than the other.
        serial = pooled = 0.0
        for rep in range(2):
            serial = max(serial, rate(imgs, 1, Path(d) / f"serial{rep}"))
            pooled = max(pooled, rate(imgs, args.workers, Path(d) / f"pool{rep}"))
    print(f"| writer | img/s |\n|---|---|\n| 1 thread | {serial:.1f} |\n| {args.workers} threads | {pooled:.1f} |")
    print(f"ratio {pooled / serial:.2f}x")


if __name__ == "__main__":
    main()
