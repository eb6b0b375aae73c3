"""Image-to-image translation speed, side by side with the pix2pix/CycleGAN reference code on the same weights and images.

    git clone https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix /tmp/cyclegan_ref   # and: pip install dominate
    OMP_NUM_THREADS=1 python tests/benchmarks/bench_translate.py /tmp/cyclegan_ref --n 32 --size 256 --threads 1
    python tests/benchmarks/bench_translate.py --device cuda --n 64 --size 256 --train-size 256   # ganctl only (GPU kit)

(a) `ganctl translate NET.pth FOLDER` against the reference's own `test.py --model test` (run as a user runs it, in its
    folder, `--gpu_ids -1` on CPU) on the same `latest_net_G.pth` and the same folder of PNGs, for unet_256 (batch norm,
    dropout) and resnet_9blocks (instance norm), both full width (ngf 64, random weights: speed does not depend on them).
    Two modes: deterministic (reference `--eval`; ganctl `--dropout off --bn running`, whose same-size images batch) —
    where the written pixels are compared, at most 1 level of 255 apart (the reference truncates to uint8, ganctl rounds)
    — and the test-time default of both (train-mode batch norm and dropout, one image per pass; the reference's dropout
    is unseeded, so pixels are not compared there: tests/interop/test_pix2pix_parity.py shows equality under one seed).
    Each side is one process from start to finish (python start, imports, network build and load, reading, the forward
    passes, PNG writing; the reference also writes the input copies and an HTML page, as its test.py always does): CPU
    time of the child (user + system) and wall time, per image.
(b) The CycleGAN training step (resnet_9blocks, 2 PatchGANs, LSGAN + cycle + identity, history pool, batch 1): the
    reference's `CycleGANModel.optimize_parameters` (its model built by its own `TrainOptions().parse()`, timed around
    the call only, on tensors already in memory) against ganctl's engine (`ganctl train --preset cyclegan-horse2zebra`
    on a prepared unpaired dataset of that size: the whole step with its data feed), its cost per step being the
    difference of two runs (2 and 2 + STEPS steps), so start-up, start grid and final checkpoint cancel. s/step, CPU
    (child process time) and wall.

Print ours vs the reference measured in the same run and the ratio (reference / ganctl: > 1 means ganctl is faster).
Without the reference folder only ganctl's side runs (the GPU session kit, whose machine has no copy of it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REFERENCE_STEP = r"""
import json, sys, time, torch
ref, tmp, size, steps, warm, device = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
sys.path.insert(0, ref)
sys.argv = ["train.py", "--dataroot", tmp, "--name", "bench_cyclegan", "--model", "cycle_gan", "--checkpoints_dir", tmp,
            "--gpu_ids", "0" if device == "cuda" else "-1", "--load_size", str(size), "--crop_size", str(size),
            "--display_id", "-1", "--batch_size", "1"]
from options.train_options import TrainOptions
from models import create_model
opt = TrainOptions().parse()
model = create_model(opt)
model.setup(opt)
g = torch.Generator().manual_seed(0)
data = {"A": torch.rand(1, 3, size, size, generator=g) * 2 - 1, "B": torch.rand(1, 3, size, size, generator=g) * 2 - 1,
        "A_paths": ["a"], "B_paths": ["b"]}
cpu, wall = [], []
for i in range(warm + steps):
    if device == "cuda":
        torch.cuda.synchronize()
    c0, w0 = time.process_time(), time.perf_counter()
    model.set_input(data)
    model.optimize_parameters()
    if device == "cuda":
        torch.cuda.synchronize()
    if i >= warm:
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
print("RESULT " + json.dumps({"cpu": sum(cpu) / len(cpu), "wall": sum(wall) / len(wall)}))
"""


def _child(cmd: list, cwd=None, env=None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(CPU s of the child, wall s, result) of one subprocess run to completion."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), wall, proc


def _images(folder: Path, n: int, size: int, seed: int = 0) -> None:
    """Smooth seeded RGB PNGs (upsampled noise): photo-like enough for PNG sizes, the same for both tools."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = Image.fromarray(rng.integers(0, 256, (size // 16, size // 16, 3), dtype=np.uint8))
        small.resize((size, size), Image.BICUBIC).save(folder / f"img{i:03d}.png")


def _weights(ck: Path, net: str) -> dict:
    """A full-width latest_net_G.pth (ganctl's networks have the reference's keys) and the flags the reference needs."""
    import torch

    from ganctl.models.translation.networks import build_generator, init_weights

    unet = net.startswith("unet")
    norm, dropout = ("batch", True) if unet else ("instance", False)
    torch.manual_seed(0)
    (ck / net).mkdir(parents=True)
    torch.save(init_weights(build_generator(net, 3, 3, 64, norm, dropout)).state_dict(), ck / net / "latest_net_G.pth")
    return {"norm": norm, "flags": ["--netG", net, "--norm", norm] + ([] if dropout else ["--no_dropout"])}


def _max_diff(ref_dir: Path, ours_dir: Path, n: int) -> float:
    from PIL import Image

    worst = 0.0
    for i in range(n):
        a = np.asarray(Image.open(ref_dir / f"img{i:03d}_fake.png"), dtype=np.int16)
        b = np.asarray(Image.open(ours_dir / f"img{i:03d}.png"), dtype=np.int16)
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def bench_translate(ref: Path, tmp: Path, args, env: dict) -> None:
    _images(tmp / "in", args.n, args.size)
    print(f"(a) translate {args.n} images of {args.size}x{args.size} px on {args.device}, {args.threads} thread(s); per image")
    print(f"{'network':<16}{'mode':<15}{'reference cpu':>14}{'wall':>8}{'ganctl cpu':>12}{'wall':>8}{'ratio cpu':>11}"
          f"{'wall':>7}{'max diff':>10}")
    for net in args.nets:
        w = _weights(tmp / "ck", net)
        for mode in ("deterministic", "default"):
            out_ref, out_ours = tmp / f"ref-{net}-{mode}", tmp / f"ours-{net}-{mode}"
            ref_cmd = [sys.executable, (ref or Path(".")) / "test.py", "--dataroot", tmp / "in", "--name", net, "--model", "test",
                       *w["flags"], "--dataset_mode", "single", "--checkpoints_dir", tmp / "ck", "--results_dir", out_ref,
                       "--num_test", args.n, "--load_size", args.size, "--crop_size", args.size,
                       "--gpu_ids", "0" if args.device == "cuda" else "-1"] + (["--eval"] if mode == "deterministic" else [])
            ours_cmd = [sys.executable, "-m", "ganctl", "translate", tmp / "ck" / net / "latest_net_G.pth", tmp / "in",
                        "--out", out_ours, "--device", args.device] + (
                ["--dropout", "off", "--bn", "running", "--batch", args.batch] if mode == "deterministic" else [])
            rc, rw = _child(ref_cmd, cwd=ref, env=env)[:2] if ref else (float("nan"), float("nan"))
            oc, ow, _ = _child(ours_cmd, env=env)
            diff = _max_diff(out_ref / net / "test_latest" / "images", out_ours, args.n) \
                if ref and mode == "deterministic" else None
            n = args.n
            print(f"{net:<16}{mode:<15}{rc / n:>14.3f}{rw / n:>8.3f}{oc / n:>12.3f}{ow / n:>8.3f}{rc / oc:>11.2f}"
                  f"{rw / ow:>7.2f}{'-' if diff is None else f'{diff:.0f}/255':>10}")


def bench_train_step(ref: Path, tmp: Path, args, env: dict) -> None:
    size, steps = args.train_size, args.steps
    r = {"cpu": float("nan"), "wall": float("nan")}
    if ref:
        _, _, proc = _child([sys.executable, "-c", REFERENCE_STEP, ref, tmp, size, steps, 2, args.device], cwd=ref, env=env)
        r = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    for side in "AB":
        _images(tmp / f"train{side}", 8, size, seed=ord(side))
    data = tmp / "unpaired"
    _child([sys.executable, "-m", "ganctl", "prepare-data", "--unpaired", tmp / "trainA", tmp / "trainB", data,
            "--resolution", size], env=env)
    warm = 2  # ganctl's step cost is the difference of two runs, 2 and 2 + `steps` steps: start-up, the start grid
    runs = []  # and the final checkpoint cancel out; what remains is the engine's whole step with its data feed
    for n in (warm, warm + steps):
        cmd = [sys.executable, "-m", "ganctl", "train", "--preset", "cyclegan-horse2zebra", "--data", data, "--outdir",
               tmp / f"runs{n}", "--kimg", n / 1000, "--device", args.device, f"train.tick_kimg={n / 1000}",
               "train.grid_size=1", f"train.threads={args.threads}"]
        runs.append(_child(cmd, env=env)[:2])
    oc, ow = (runs[1][0] - runs[0][0]) / steps, (runs[1][1] - runs[0][1]) / steps
    print(f"(b) CycleGAN training step, resnet_9blocks + 2 PatchGANs, batch 1, {size} px, {args.device}, "
          f"{args.threads} thread(s); s/step, {steps} steps after warm-up")
    print(f"  reference optimize_parameters   cpu {r['cpu']:7.3f}  wall {r['wall']:7.3f}")
    print(f"  ganctl engine step              cpu {oc:7.3f}  wall {ow:7.3f}   (runs of {warm} and {warm + steps} steps: "
          f"cpu {runs[0][0]:.1f} / {runs[1][0]:.1f} s)")
    print(f"  ratio reference/ganctl          cpu {r['cpu'] / oc:7.2f}  wall {r['wall'] / ow:7.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reference", type=Path, nargs="?", default=None,
                    help="pytorch-CycleGAN-and-pix2pix checkout (its test.py, options/, models/ ...); without it, ganctl only")
    ap.add_argument("--n", type=int, default=32, help="images to translate")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--nets", nargs="+", default=["unet_256", "resnet_9blocks"])
    ap.add_argument("--batch", type=int, default=8, help="ganctl --batch in the deterministic mode")
    ap.add_argument("--train-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4, help="timed training steps (after 2 warm-up steps)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip", choices=["translate", "train"], default=None)
    args = ap.parse_args()
    ref = args.reference.resolve() if args.reference else None
    if ref and (not (ref / "test.py").is_file() or not (ref / "models" / "networks.py").is_file()):
        sys.exit(f"{ref}: not a pytorch-CycleGAN-and-pix2pix checkout (no test.py / models/networks.py)")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    import torch

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.skip != "translate":
            bench_translate(ref, Path(tmp), args, env)
        if args.skip != "train":
            bench_train_step(ref, Path(tmp), args, env)


if __name__ == "__main__":
    main()
