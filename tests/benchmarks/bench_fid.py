"""Benchmark: `ganctl fid` vs pytorch-fid end to end on the same PNG folders with the same (seeded random) weights.

Not a test: prints a table (seconds, img/s, ratio) and both FID values. Both tools run as CLI subprocesses, one after
the other, on two folders of N Fashion-MNIST images upscaled to --size (RGB PNG). The weights file is a seeded random
state dict with the real file's keys (nothing is downloaded), placed where pytorch-fid looks for it.

  python tests/benchmarks/bench_fid.py --n 100 --size 64 --device cpu
  python tests/benchmarks/bench_fid.py --n 5000 --size 256 --device cuda --batch-size 200   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from metrics_testdata import fashion_mnist  # noqa: E402
from random_inception import WEIGHTS_NAME, write_random_inception  # noqa: E402


def write_set(dest: Path, start: int, n: int, size: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    imgs = []
    while len(imgs) < n:  # t10k has 10k images; wrap around for larger N
        take = min(n - len(imgs), 10000 - (start % 10000))
        imgs += list(fashion_mnist(start % 10000, take))
        start += take
    for i, im in enumerate(imgs):
        Image.fromarray(im).convert("RGB").resize((size, size), Image.BICUBIC).save(dest / f"{i:06d}.png")


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    return dt, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100, help="images per side")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--workers", type=int, default=min(8, max(1, (os.cpu_count() or 2) - 1)))
    ap.add_argument("--tf32", action="store_true", help="ganctl: allow TF32 (pytorch-fid runs with PyTorch defaults)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_random_inception(tmp / "th" / "hub" / "checkpoints" / WEIGHTS_NAME)
        write_set(tmp / "a", 0, args.n, args.size)
        write_set(tmp / "b", 5000, args.n, args.size)
        env = dict(os.environ, TORCH_HOME=str(tmp / "th"), GANCTL_OFFLINE="1")
        t_ref, out_ref = timed([sys.executable, "-m", "pytorch_fid", str(tmp / "a"), str(tmp / "b"), "--device", args.device,
                                "--batch-size", str(args.batch_size), "--num-workers", str(args.workers)], env)
        fid_ref = float(out_ref.split("FID:")[-1])
        cmd = [sys.executable, "-m", "ganctl", "fid", str(tmp / "a"), str(tmp / "b"), "--json", "--weights",
               str(tmp / "th" / "hub" / "checkpoints" / WEIGHTS_NAME), "--device", args.device,
               "--batch-size", str(args.batch_size), "--workers", str(args.workers)] + (["--tf32"] if args.tf32 else [])
        t_ours, out_ours = timed(cmd, env)
        res = json.loads(out_ours)
    total = 2 * args.n
    print(f"bench_fid: {total} PNGs ({args.n} per side, {args.size}x{args.size} RGB), device {res['device']}, "
          f"batch {args.batch_size}, workers {args.workers}, {platform.node()} {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{'tool':<12} {'seconds':>9} {'img/s':>8} {'FID':>22}")
    print(f"{'ganctl':<12} {t_ours:9.2f} {total / t_ours:8.2f} {res['fid']:22.10f}")
    print(f"{'pytorch-fid':<12} {t_ref:9.2f} {total / t_ref:8.2f} {fid_ref:22.10f}")
    print(f"ratio (ganctl speed / pytorch-fid speed): {t_ref / t_ours:.2f}x; |FID diff| / FID = "
          f"{abs(res['fid'] - fid_ref) / abs(fid_ref):.2e} (N < 2048: pytorch-fid's sqrtm error dominates this)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
