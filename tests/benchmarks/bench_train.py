"""Engine overhead: ganctl's training throughput vs a minimal hand-written PyTorch loop of the same model and batch.

Both sides build the same DCGAN G and D (the preset's config), use Adam with the same settings, the non-saturating
loss, and real Fashion-MNIST images. The hand loop keeps all images in memory as one float tensor and does nothing
but the D step and the G step; ganctl runs its real engine end to end (data feed, seeding, EMA, stats, the final
checkpoint and sample grid). Prints images/s for both and the ratio.

    python tests/benchmarks/bench_train.py [--preset dcgan-fashion-mnist] [--kimg 2] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import make_dataset  # noqa: E402

from ganctl import api  # noqa: E402
from ganctl.config import resolve_config  # noqa: E402
from ganctl.data.dataset import PreparedDataset  # noqa: E402
from ganctl.models import build_networks  # noqa: E402


def hand_loop(cfg: dict, ds: PreparedDataset, nimg: int, device: torch.device) -> float:
    torch.manual_seed(0)
    G, D = build_networks(cfg, ds.resolution, ds.channels, 0)
    G.to(device).train()
    D.to(device).train()
    og = torch.optim.Adam(G.parameters(), lr=cfg["optim"]["g"]["lr"], betas=tuple(cfg["optim"]["g"]["betas"]))
    od = torch.optim.Adam(D.parameters(), lr=cfg["optim"]["d"]["lr"], betas=tuple(cfg["optim"]["d"]["betas"]))
    data = torch.from_numpy(ds.images[:]).to(device).float().div(127.5).sub(1)
    b = cfg["train"]["batch"]
    steps = nimg // b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(steps):
        real = data[torch.randint(len(data), (b,), device=device)]
        z = torch.randn(b, G.z_dim, device=device)
        od.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = G(z)
        loss_d = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
        loss_d.backward()
        od.step()
        og.zero_grad(set_to_none=True)
        loss_g = F.softplus(-D(G(torch.randn(b, G.z_dim, device=device)))).mean()
        loss_g.backward()
        og.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * b / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="dcgan-fashion-mnist")
    ap.add_argument("--kimg", type=float, default=2.0)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        ds_path = make_dataset(Path(tmp) / "fm32", args.images, 32, "fm32")
        ds = PreparedDataset(ds_path)
        overrides = ["model.conditional=false", "train.grid_size=16", "train.tick_kimg=0.5"]
        cfg = resolve_config(args.preset, None, overrides)
        nimg = int(args.kimg * 1000)
        hand_loop(cfg, ds, 256, device)  # warm-up (allocator, kernels)
        hand = hand_loop(cfg, ds, nimg, device)
        t0 = time.perf_counter()
        api.train(preset=args.preset, data=str(ds_path), outdir=str(Path(tmp) / "runs"), kimg=args.kimg, device=args.device,
                  overrides=overrides)
        ours = nimg / (time.perf_counter() - t0)
        hand2 = hand_loop(cfg, ds, nimg, device)  # again after, to bracket machine noise
    base = (hand + hand2) / 2
    print(f"machine: {torch.get_num_threads()} CPU threads, device {device}, torch {torch.__version__}")
    print(f"{'preset':<22}{'batch':>6}{'kimg':>6}{'hand loop img/s':>17}{'ganctl img/s':>14}{'ganctl/hand':>13}")
    print(f"{args.preset:<22}{cfg['train']['batch']:>6}{args.kimg:>6}{base:>17.1f}{ours:>14.1f}{ours / base:>13.3f}")
    print(f"(hand loop before/after: {hand:.1f} / {hand2:.1f} img/s; ganctl time includes start-up, final checkpoint and grid)")


if __name__ == "__main__":
    main()
