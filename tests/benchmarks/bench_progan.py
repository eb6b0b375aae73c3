"""Engine overhead on Progressive GAN: ganctl's img/s in each resolution phase vs a minimal hand-written loop of the
same networks, in one run.

Both sides build the preset's G and D (same seed), train each resolution at alpha 1 with fresh Adam (the preset's
betas and learning rate), the WGAN-GP loss with the drift term (the same passes as ganctl's: D on fakes and reals, a
gradient penalty pass on interpolates, then a G pass) and the G_ema update, on real Fashion-MNIST box-downscaled to
the resolution. The hand loop keeps all images in memory as one float tensor. ganctl runs its real engine, with the
growing schedule set to K kimg per resolution and no fades (`progressive.fade_kimg=0`); its per-resolution rate comes
from its per-step progress events (each step attributed to the resolution the schedule ran it at; tick reporting
and snapshots excluded). Rates are given in wall-clock time and in process CPU time (steadier on a shared machine). The hand loop runs before and after ganctl, to bracket machine noise.

    python tests/benchmarks/bench_progan.py [--preset progan-tiny] [--kimg-per-res 1.024] [--threads N] [--device cpu|cuda]
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


def hand_loop(cfg: dict, data: torch.Tensor, nimg_per_res: int, device: torch.device) -> dict[int, tuple[float, float]]:
    """{resolution: (img/s wall, img/s CPU)} of a bare WGAN-GP + drift loop over the preset's resolutions at alpha 1."""
    torch.manual_seed(0)
    G, D = build_networks(cfg, data.shape[-1], data.shape[1], 0)
    G.to(device).train()
    D.to(device).train()
    G_ema = [p.detach().clone() for p in G.parameters()]
    o, loss, p = cfg["optim"], cfg["loss"], cfg["progressive"]
    beta = cfg["train"]["ema_beta"]
    rates = {}
    res = p["start_res"]
    while res <= data.shape[-1]:
        G.set_stage(res, 1.0)
        D.set_stage(res, 1.0)
        b = p["batch"].get(res, cfg["train"]["batch"])
        lr_g, lr_d = p["lr"].get(res, o["g"]["lr"]), p["lr"].get(res, o["d"]["lr"])
        og = torch.optim.Adam(G.parameters(), lr=lr_g, betas=tuple(o["g"]["betas"]), eps=o["g"]["eps"])
        od = torch.optim.Adam(D.parameters(), lr=lr_d, betas=tuple(o["d"]["betas"]), eps=o["d"]["eps"])
        reals = F.avg_pool2d(data, data.shape[-1] // res) if res < data.shape[-1] else data
        steps = max(nimg_per_res // b, 1)
        wall = cpu = 0.0
        for i in range(steps + 1):  # the first step of each resolution is its warm-up: timed apart (see main)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            real = reals[torch.randint(len(reals), (b,), device=device)]
            with torch.no_grad():
                fake = G(torch.randn(b, G.z_dim, device=device))
            fake_s, real_s = D(fake), D(real)
            eps = torch.rand(b, 1, 1, 1, device=device)
            x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
            gp = (grad.flatten(1).norm(2, dim=1) - 1).square().mean()
            loss_d = (fake_s - real_s).mean() + loss["drift"] * real_s.square().mean() + loss["gp_weight"] * gp
            od.zero_grad(set_to_none=True)
            loss_d.backward()
            od.step()
            loss_g = -D(G(torch.randn(b, G.z_dim, device=device))).mean()
            og.zero_grad(set_to_none=True)
            loss_g.backward()
            og.step()
            with torch.no_grad():
                for pe, pg in zip(G_ema, G.parameters()):
                    pe.lerp_(pg, 1 - beta)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i > 0:
                wall += time.perf_counter() - t0
                cpu += time.process_time() - c0
        rates[res] = (steps * b / wall, steps * b / cpu)
        res *= 2
    return rates


class StepClock:
    """An `emit` callback for api.train: wall and CPU seconds of every training step, by the resolution it ran at.

    The stage is a pure function of cur_nimg (the schedule), so the step from nimg0 to nimg1 ran at
    schedule.at(nimg0). CPU time counts every thread of the process (the engine's data-feed threads included). The
    first step at each resolution (phase switch: new feed, fresh optimizers, first passes) is kept apart, as the hand
    loop's is, so the rates compare steady-state steps; `first` reports those warm-up steps."""

    def __init__(self, schedule):
        self.schedule = schedule
        self.last = None
        self.steps: dict[int, list[tuple[int, float, float]]] = {}

    def __call__(self, e: dict) -> None:
        if e["type"] == "start":
            self.last = (int(round(e["kimg"] * 1000)), time.perf_counter(), time.process_time())
        elif e["type"] == "step":
            nimg, t, c = int(round(e["kimg"] * 1000)), time.perf_counter(), time.process_time()
            n0, t0, c0 = self.last
            self.steps.setdefault(self.schedule.at(n0).resolution, []).append((nimg - n0, t - t0, c - c0))
            self.last = (nimg, t, c)
        elif e["type"] == "tick":  # reporting and any snapshot are not training steps: restart the clocks after them
            self.last = (self.last[0], time.perf_counter(), time.process_time())

    def rates(self) -> dict[int, tuple[float, float]]:
        out = {}
        for r, steps in self.steps.items():
            n = sum(s[0] for s in steps[1:])
            out[r] = (n / sum(s[1] for s in steps[1:]), n / sum(s[2] for s in steps[1:]))
        return out

    def first(self) -> dict[int, float]:
        return {r: steps[0][1] for r, steps in self.steps.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="progan-tiny")
    ap.add_argument("--kimg-per-res", type=float, default=1.024, help="images per resolution (a multiple of every batch)")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ds_path = make_dataset(Path(tmp) / "fm32", args.images, 32, "fm32")
        ds = PreparedDataset(ds_path)
        k = args.kimg_per_res
        cfg0 = resolve_config(args.preset)
        n_res = len(range(cfg0["progressive"]["start_res"].bit_length(), ds.resolution.bit_length() + 1))
        overrides = ["model.conditional=false", "train.grid_size=16", f"progressive.phase_kimg={k}",
                     "progressive.fade_kimg=0", f"train.tick_kimg={k / 4}", "train.snapshot_ticks=100000",
                     "train.image_snapshot_ticks=100000", "train.tensorboard=false"]
        if args.threads:
            overrides.append(f"train.threads={args.threads}")
        cfg = resolve_config(args.preset, None, overrides)
        data = torch.from_numpy(ds.images[:].copy()).to(device).float().div(127.5).sub(1)
        nimg = int(k * 1000)
        hand_loop(cfg, data, 64, device)  # warm-up (allocator, kernels)
        hand = hand_loop(cfg, data, nimg, device)
        from ganctl.engine.schedule import make_schedule

        clock = StepClock(make_schedule(cfg, ds.resolution))
        api.train(preset=args.preset, data=str(ds_path), outdir=str(Path(tmp) / "runs"), kimg=k * n_res,
                  device=args.device, overrides=overrides, emit=clock)
        ours, first = clock.rates(), clock.first()
        hand2 = hand_loop(cfg, data, nimg, device)
    print(f"machine: {torch.get_num_threads()} CPU threads, device {device}, torch {torch.__version__}; "
          f"{args.preset}, {k} kimg per resolution")
    for i, clock_name in enumerate(("wall-clock", "CPU-time")):
        print(f"\n{clock_name} img/s")
        print(f"{'resolution':>10}{'batch':>7}{'hand loop':>11}{'ganctl':>9}{'ganctl/hand':>13}{'hand before/after':>20}")
        for r in sorted(hand):
            base = (hand[r][i] + hand2[r][i]) / 2
            b = cfg["progressive"]["batch"].get(r, cfg["train"]["batch"])
            print(f"{r:>10}{b:>7}{base:>11.1f}{ours[r][i]:>9.1f}{ours[r][i] / base:>13.3f}"
                  f"{hand[r][i]:>11.1f} / {hand2[r][i]:.1f}")
        # The whole growth: time to show k kimg at every resolution, on each side.
        t_hand = sum(k * 1000 / ((hand[r][i] + hand2[r][i]) / 2) for r in hand)
        t_ours = sum(k * 1000 / ours[r][i] for r in ours)
        print(f"{'all':>10}{'':>7}{n_res * k * 1000 / t_hand:>11.1f}{n_res * k * 1000 / t_ours:>9.1f}{t_hand / t_ours:>13.3f}")
    print("\nganctl's first step at each resolution (phase switch, not in the rates above): "
          + ", ".join(f"{r}: {first[r] * 1000:.0f} ms" for r in sorted(first)))

if __name__ == "__main__":
    main()
