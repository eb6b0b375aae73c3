"""Benchmark: `ganctl pr` vs torch-fidelity 0.4.0's prc end to end on the same PNG folders with the same (seeded random)
VGG16 weights, plus the nearest-neighbour search's throughput (ganctl.metrics.nearest.knn, pixel space).

Not a test: prints seconds, img/s, the ratio and both tools' precision/recall (which must agree). Both tools run as
subprocesses, one after the other, on two folders of N Fashion-MNIST images upscaled to --size (RGB PNG).
torch-fidelity 0.4.0 (the first release with prc) is imported from $GANCTL_TORCH_FIDELITY_040
(default /opt/torch-fidelity-0.4.0: `pip install --no-deps --target /opt/torch-fidelity-0.4.0 torch-fidelity==0.4.0`).

  python tests/benchmarks/bench_pr.py --n 100 --size 64 --device cpu
  python tests/benchmarks/bench_pr.py --n 10000 --size 256 --device cuda --batch-size 200   # on a GPU machine
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from bench_fid import write_set  # noqa: E402
from random_vgg16 import WEIGHTS_NAME, write_random_vgg16  # noqa: E402

TF040 = os.environ.get("GANCTL_TORCH_FIDELITY_040", "/opt/torch-fidelity-0.4.0")

FIDELITY = r"""
import json, sys, time, torch_fidelity
t0 = time.perf_counter()
m = torch_fidelity.calculate_metrics(input1=sys.argv[2], input2=sys.argv[1], cuda=sys.argv[4] == "cuda", prc=True,
                                     feature_extractor="vgg16", feature_extractor_weights_path=sys.argv[3],
                                     batch_size=int(sys.argv[5]), verbose=False, cache=False)
print(json.dumps({**m, "seconds": time.perf_counter() - t0}))
"""


def timed(cmd, env) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{cmd[:4]} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t0, r.stdout


def knn_rate(n_query: int, n_train: int, size: int, device: str) -> float:
    from ganctl.metrics.nearest import knn

    g = torch.Generator().manual_seed(0)
    q = torch.rand(n_query, 3 * size * size, generator=g).to(device)
    train = torch.rand(n_train, 3 * size * size, generator=g)
    blocks = [(s, train[s:s + 1024]) for s in range(0, n_train, 1024)]
    t0 = time.perf_counter()
    knn(q, blocks, 3)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n_query / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="images per side")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--workers", type=int, default=-1)
    ap.add_argument("--knn-train", type=int, default=10000, help="training images for the nearest-neighbour rate")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = write_random_vgg16(tmp / WEIGHTS_NAME)
        write_set(tmp / "real", 0, args.n, args.size)
        write_set(tmp / "fake", 5000, args.n, args.size)
        env = dict(os.environ, GANCTL_OFFLINE="1")
        ours_s, out = timed([sys.executable, "-m", "ganctl", "pr", str(tmp / "real"), str(tmp / "fake"), "--weights",
                             str(weights), "--device", args.device, "--batch-size", str(args.batch_size), "--workers",
                             str(args.workers), "--json", "--no-progress"], env)
        ours = json.loads(out)
        ref_env = dict(env, PYTHONPATH=TF040)
        ref_s, out = timed([sys.executable, "-c", FIDELITY, str(tmp / "real"), str(tmp / "fake"), str(weights),
                            args.device, str(args.batch_size)], ref_env)
        ref = json.loads(out.strip().splitlines()[-1])
    rate = knn_rate(256, args.knn_train, 32, args.device)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"torch {torch.__version__}, device {args.device}, n={args.n} per side at {args.size}px, batch {args.batch_size}")
    print(f"{'tool':<22}{'seconds':>10}{'img/s':>10}{'precision':>12}{'recall':>10}")
    for name, s, m in (("ganctl pr", ours_s, ours), ("torch-fidelity 0.4.0", ref_s, ref)):
        print(f"{name:<22}{s:>10.2f}{2 * args.n / s:>10.1f}{m['precision']:>12.6f}{m['recall']:>10.6f}")
    print(f"speed-up (torch-fidelity seconds / ganctl seconds): {ref_s / ours_s:.2f}x")
    print(f"precision/recall equal to 1e-6: {abs(ours['precision'] - ref['precision']) <= 1e-6 and abs(ours['recall'] - ref['recall']) <= 1e-6}")
    print(f"nearest-neighbour search (knn, 32x32x3 pixels, 256 queries vs {args.knn_train} training images, k=3): "
          f"{rate:.1f} generated images/s")


if __name__ == "__main__":
    main()
