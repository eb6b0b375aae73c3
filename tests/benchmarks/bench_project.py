"""Benchmark: the projector's seconds per step, ganctl vs NVlabs' projector (stylegan2-ada-pytorch projector.py with
its own networks) on the same weights, measured in the same run.

NVlabs' code is not part of ganctl: pass a local copy of github.com/NVlabs/stylegan2-ada-pytorch with --nvlabs (it is
imported from there at run time, never committed). Its projector downloads a TorchScript VGG16 (vgg16.pt); offline,
both sides get the same stand-in distance network instead: ganctl's LPIPS-VGG16 module (seeded random weights, the same
compute as the real one), wrapped in NVlabs' call `vgg16(img, resize_images=False, return_lpips=True)`. So the ratio
compares the projector loops and the generators (ganctl's ops vs NVlabs' CPU reference path), with equal distance
cost. Per-step time = (T(n_long) - T(n_short)) / (n_long - n_short), CPU time of the process (all threads) and wall
time, so the 10,000-sample w statistics and setup cancel. Also: ganctl with several targets in one batch, per target.

  python tests/benchmarks/bench_project.py --nvlabs /tmp/nvlabs --config 64           # CPU, 1 thread, minutes
  python tests/benchmarks/bench_project.py --config 256 --device cuda                  # ganctl only (GPU session)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import re
import sys
import time

import numpy as np
import torch

from ganctl.latent import projector as P
from ganctl.metrics.lpips import CHANNELS, LPIPS
from ganctl.metrics.vgg16 import VGG16Detector
from ganctl.models.stylegan2.synthesis import Generator

CONFIGS = {  # resolution, channel_base, channel_max (z = w = 512, 8 mapping layers, RGB, clamp 256, fp32)
    "64": (64, 16384, 512),
    "256": (256, 16384, 512),
}


class NVlabsStyleLPIPS(torch.nn.Module):
    """LPIPS features in NVlabs' vgg16.pt interface: flattened taps scaled so that the squared distance summed over
    features equals ganctl's LPIPS distance."""

    def __init__(self, lp: LPIPS):
        super().__init__()
        self.lp = lp

    def forward(self, img, resize_images=False, return_lpips=True):
        feats = []
        for f, w in zip(self.lp.taps(P.to_lpips_input(img)), self.lp.w):
            feats.append((f * w.sqrt() / (f.shape[2] * f.shape[3]) ** 0.5).flatten(1))
        return torch.cat(feats, dim=1)


def make_lpips(device):
    torch.manual_seed(0)
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) * 0.1 for i, c in enumerate(CHANNELS)}
    return LPIPS(VGG16Detector(), lin).eval().requires_grad_(False).to(device)


def ours_G(res, cbase, cmax, device):
    torch.manual_seed(0)
    G = Generator(512, 0, 512, res, 3, mapping_layers=8, channel_base=cbase, channel_max=cmax, num_fp16_res=0,
                  conv_clamp=256)
    return G.eval().requires_grad_(False).to(device)


def nvlabs_modules(root):
    sys.path.insert(0, root)
    for name in [m for m in sys.modules if m.split(".")[0] in ("training", "torch_utils", "dnnlib", "projector")]:
        del sys.modules[name]
    return importlib.import_module("training.networks"), importlib.import_module("projector")


def nvlabs_G(networks, G, res, cbase, cmax, device):
    NG = networks.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                            mapping_kwargs=dict(num_layers=8),
                            synthesis_kwargs=dict(channel_base=cbase, channel_max=cmax, num_fp16_res=0, conv_clamp=256))
    sd = {re.sub(r"^mapping\.layers\.(\d+)\.", r"mapping.fc\1.", k): v for k, v in G.state_dict().items()}
    NG.load_state_dict(sd)
    return NG.eval().requires_grad_(False).to(device)


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.process_time() - c0, time.perf_counter() - w0


def per_step(fn, short, long, reps):
    """Best of `reps` for each run length (the machine is shared: the minimum is the least disturbed)."""
    c1, w1 = (min(v) for v in zip(*[timed(lambda: fn(short)) for _ in range(reps)]))
    c2, w2 = (min(v) for v in zip(*[timed(lambda: fn(long)) for _ in range(reps)]))
    return (c2 - c1) / (long - short), (w2 - w1) / (long - short)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="64", choices=sorted(CONFIGS))
    ap.add_argument("--nvlabs", help="local copy of NVlabs/stylegan2-ada-pytorch (omit: ganctl only)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--short", type=int, default=3)
    ap.add_argument("--long", type=int, default=13)
    ap.add_argument("--batch", type=int, default=4, help="targets in ganctl's batched run")
    ap.add_argument("--w-avg-samples", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (1: steadiest CPU times on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    res, cbase, cmax = CONFIGS[args.config]
    G = ours_G(res, cbase, cmax, dev)
    lp = make_lpips(dev)
    with torch.no_grad():
        z = torch.from_numpy(np.random.RandomState(5).randn(args.batch, 512).astype(np.float32)).to(dev)
        targets = (G(z) * 127.5 + 128).clamp(0, 255).to(torch.uint8)

    def ours(n, b=1):
        P.project(G, targets[:b], P.ProjectorConfig(steps=n, w_avg_samples=args.w_avg_samples), lp)

    rows = [("ganctl, 1 target", *per_step(ours, args.short, args.long, args.reps))]
    cpu_b, wall_b = per_step(lambda n: ours(n, args.batch), args.short, args.long, args.reps)
    rows.append((f"ganctl, {args.batch} targets batched (per target)", cpu_b / args.batch, wall_b / args.batch))
    if args.nvlabs:
        networks, projector = nvlabs_modules(args.nvlabs)
        NG = nvlabs_G(networks, G, res, cbase, cmax, dev)
        vgg = NVlabsStyleLPIPS(lp)

        @contextlib.contextmanager
        def offline_vgg():  # their projector's download + torch.jit.load -> the stand-in
            open_url, jit_load = projector.dnnlib.util.open_url, torch.jit.load
            projector.dnnlib.util.open_url = lambda url, *a, **k: contextlib.nullcontext(None)
            torch.jit.load = lambda f, *a, **k: vgg
            try:
                yield
            finally:
                projector.dnnlib.util.open_url, torch.jit.load = open_url, jit_load

        def theirs(n):
            with offline_vgg():
                projector.project(NG, targets[0], num_steps=n, w_avg_samples=args.w_avg_samples, device=dev)

        rows.insert(0, ("NVlabs projector.py (baseline)", *per_step(theirs, args.short, args.long, args.reps)))
    print(f"projector s/step, config {args.config} ({res}x{res}, channel_base {cbase}), device {dev}, "
          f"threads {torch.get_num_threads()}, steps {args.long}-{args.short}")
    base = rows[0][1] if args.nvlabs else None
    print(f"{'':44s} {'cpu s/step':>10s} {'wall s/step':>11s} {'speed-up (cpu)':>15s}")
    for name, c, w in rows:
        ratio = f"{base / c:.2f}x" if base else "-"
        print(f"{name:44s} {c:10.3f} {w:11.3f} {ratio:>15s}")


if __name__ == "__main__":
    main()
