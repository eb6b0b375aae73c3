"""Multi-process scaling: training throughput with 1 and N processes (gloo on CPU, NCCL on GPUs), same global batch.

Each CPU process gets one thread, so N processes use N cores; efficiency = throughput(N) / (N x throughput(1)).
Throughput is read from the runs' own stats.jsonl (images/s of the ticks after the first, which includes start-up).

    python tests/benchmarks/bench_scaling.py [--nproc 2] [--preset dcgan-fashion-mnist] [--kimg 1.5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import make_dataset  # noqa: E402


def run(nproc: int, data: Path, out: Path, preset: str, kimg: float, device: str) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "ganctl", "train", "--preset", preset, "--data", str(data), "--kimg", str(kimg),
           "--outdir", str(out), "--device", device, "--gpus", str(nproc), "train.tick_kimg=0.25", "train.grid_size=4",
           "model.conditional=false"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(p.stderr)
    stats = next(out.glob("*/*/stats.jsonl"))
    ticks = [json.loads(x) for x in stats.read_text().splitlines()][1:]
    return sum(t["Timing/images_per_sec"] for t in ticks) / len(ticks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--preset", default="dcgan-fashion-mnist")
    ap.add_argument("--kimg", type=float, default=1.5)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp) / "d", 4096, 32, "fm32")
        one = run(1, data, Path(tmp) / "one", a.preset, a.kimg, a.device)
        many = run(a.nproc, data, Path(tmp) / "many", a.preset, a.kimg, a.device)
    print(f"{'preset':<22}{'procs':>6}{'img/s (1 proc)':>16}{'img/s (N procs)':>17}{'speed-up':>10}{'efficiency':>12}")
    print(f"{a.preset:<22}{a.nproc:>6}{one:>16.1f}{many:>17.1f}{many / one:>10.2f}{many / one / a.nproc:>12.2f}")


if __name__ == "__main__":
    main()
