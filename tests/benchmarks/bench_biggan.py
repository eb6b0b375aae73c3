"""BigGAN engine overhead: ganctl's training throughput vs a minimal hand-written loop of the same networks, per preset.

Both sides build the preset's G and D (class-conditional, on real Fashion-MNIST padded to 32), Adam with the preset's
lr/betas/eps, the hinge loss and `d_steps` D steps per G step. The hand loop keeps the images in memory and does
nothing else; ganctl runs its real engine (data feed, per-step seeding, EMA, stats). ganctl's rate is reported twice:
in the training loop (from its tick timings) and end to end (start-up, first and last grids and checkpoint included).
With `--imagenet128-steps N` (meant for a GPU) it also times N steps of the full biggan-imagenet128 networks at
batch_gpu 256, hand loop only, and prints the seconds per 2048-image iteration that implies.

    python tests/benchmarks/bench_biggan.py [--presets biggan-tiny,biggan-cifar] [--kimg 1,0.2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import make_dataset  # noqa: E402

from ganctl import api  # noqa: E402
from ganctl.config import resolve_config  # noqa: E402
from ganctl.data.dataset import PreparedDataset  # noqa: E402
from ganctl.models import build_networks  # noqa: E402


def _adam(params, o):
    return torch.optim.Adam(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"])


def hand_loop(cfg: dict, images: torch.Tensor, labels: torch.Tensor, res: int, channels: int, nimg: int, device,
              autocast: bool = False) -> float:
    """img/s (images shown to D, as ganctl counts them) of a bare hinge-loss BigGAN loop."""
    torch.manual_seed(0)
    G, D = build_networks(cfg, res, channels, 10 if labels is not None else 0)
    G.to(device).train()
    D.to(device).train()
    og, od = _adam(G.parameters(), cfg["optim"]["g"]), _adam(D.parameters(), cfg["optim"]["d"])
    b, d_steps = cfg["train"]["batch_gpu"] or cfg["train"]["batch"], cfg["optim"]["d_steps"]
    ncls = 1000 if labels is None else 10
    steps = max(nimg // (b * d_steps), 1)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else torch.autocast(device.type, enabled=False)

    def batch():
        if images is None:
            return torch.randn(b, channels, res, res, device=device), torch.randint(ncls, (b,), device=device)
        idx = torch.randint(len(images), (b,), device=device)
        return images[idx], labels[idx]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        for _ in range(d_steps):
            real, c = batch()
            z, gc = torch.randn(b, G.z_dim, device=device), torch.randint(ncls, (b,), device=device)
            od.zero_grad(set_to_none=True)
            with ctx:
                with torch.no_grad():
                    fake = G(z, gc)
                loss_d = F.relu(1 + D(fake, gc)).mean() + F.relu(1 - D(real, c)).mean()
            loss_d.backward()
            od.step()
        og.zero_grad(set_to_none=True)
        gc = torch.randint(ncls, (b,), device=device)
        with ctx:
            loss_g = -D(G(torch.randn(b, G.z_dim, device=device), gc), gc).mean()
        loss_g.backward()
        og.step()
    sync()
    return steps * b * d_steps / (time.perf_counter() - t0)


def bench_preset(preset: str, kimg: float, ds_path: Path, device: torch.device, tmp: Path) -> str:
    ds = PreparedDataset(ds_path)
    overrides = ["train.grid_size=16", f"train.tick_kimg={kimg / 2}", "train.tensorboard=false"]
    cfg = resolve_config(preset, None, overrides)
    images = torch.from_numpy(np.array(ds.images)).to(device).float().div(127.5).sub(1)
    labels = torch.from_numpy(ds.labels).to(device)
    nimg = int(kimg * 1000)
    hand_loop(cfg, images, labels, ds.resolution, ds.channels, min(nimg, 512), device)  # warm-up
    hand = hand_loop(cfg, images, labels, ds.resolution, ds.channels, nimg, device)
    t0 = time.perf_counter()
    res = api.train(preset=preset, data=str(ds_path), outdir=str(tmp / preset), kimg=kimg, device=str(device),
                    overrides=overrides)
    end_to_end = nimg / (time.perf_counter() - t0)
    ticks = [json.loads(line) for line in (Path(res["run_dir"]) / "stats.jsonl").read_text().splitlines()]
    in_loop = ticks[-1]["Progress/kimg"] * 1000 / sum(t["Timing/sec_per_tick"] for t in ticks)
    hand2 = hand_loop(cfg, images, labels, ds.resolution, ds.channels, nimg, device)  # after, to bracket machine noise
    base = (hand + hand2) / 2
    return (f"{preset:<20}{cfg['train']['batch']:>6}{cfg['optim']['d_steps']:>4}{kimg:>7}{base:>11.1f}{in_loop:>11.1f}"
            f"{end_to_end:>11.1f}{in_loop / base:>10.3f}   (hand before/after {hand:.1f}/{hand2:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="biggan-tiny,biggan-cifar")
    ap.add_argument("--kimg", default="1,0.2", help="per preset, comma-separated")
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--imagenet128-steps", type=int, default=0)
    args = ap.parse_args()
    device = torch.device(args.device)
    presets = args.presets.split(",") if args.presets else []
    kimgs = [float(k) for k in args.kimg.split(",")]
    print(f"machine: {torch.get_num_threads()} CPU threads, device {device}, torch {torch.__version__}")
    print(f"{'preset':<20}{'batch':>6}{'D':>4}{'kimg':>7}{'hand img/s':>11}{'loop img/s':>11}{'e2e img/s':>11}{'loop/hand':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        ds_path = make_dataset(Path(tmp) / "fm32", args.images, 32, "fm32")
        for preset, kimg in zip(presets, kimgs + kimgs[-1:] * len(presets)):
            print(bench_preset(preset, kimg, ds_path, device, Path(tmp)), flush=True)
    if args.imagenet128_steps:
        cfg = resolve_config("biggan-imagenet128")
        b = cfg["train"]["batch_gpu"]
        n = args.imagenet128_steps * b
        hand_loop(cfg, None, None, 128, 3, b, device, autocast=True)  # warm-up
        rate = hand_loop(cfg, None, None, 128, 3, n, device, autocast=True)
        print(f"biggan-imagenet128 (hand loop, bf16 autocast, batch_gpu {b}): {rate:.1f} img/s = "
              f"{cfg['train']['batch'] / rate:.2f} s per {cfg['train']['batch']}-image iteration")


if __name__ == "__main__":
    main()
