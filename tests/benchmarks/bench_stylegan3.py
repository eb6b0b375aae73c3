"""StyleGAN3 generation on CPU: ganctl vs NVlabs' own StyleGAN3 code on the same pickle, measured in the same run.

    python tests/benchmarks/bench_stylegan3.py STYLEGAN3_DIR [--config t] [--res 256] [--cbase 16384] [--batch 4]
                                                            [--reps 3] [--threads 2]

STYLEGAN3_DIR is a local copy of github.com/NVlabs/stylegan3 (never committed; their scripts hard-code CUDA, so
their networks are called directly, on the CPU, with force_fp32=True: the only way they run there). The benchmark
builds a network with their classes, pickles it (a real NVlabs file, their source embedded), reads that file with
ganctl's restricted reader, checks both produce the same images, then times G(z) for each: CPU seconds
(time.process_time, which on a shared machine is steadier than wall time) per image, best of --reps.
Rows: NVlabs (their CPU path: reference filtered_lrelu, upfirdn2d, bias_act), ganctl with GANCTL_OPS=ref (the plain
PyTorch reference ops) and ganctl 'auto' (native CPU kernels when built).
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def cpu_seconds(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        with torch.no_grad():
            fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stylegan3_dir")
    ap.add_argument("--config", default="t", choices=["t", "r"])
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--cbase", type=int, default=16384, help="D/-t channel_base (-r doubles it for G, as NVlabs)")
    ap.add_argument("--cmax", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    import packaging.version

    sys.modules.setdefault("pkg_resources", types.SimpleNamespace(parse_version=packaging.version.parse))
    sys.path.insert(0, a.stylegan3_dir)
    n3 = importlib.import_module("training.networks_stylegan3")
    r = a.config == "r"
    torch.manual_seed(0)
    G_nv = n3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=a.res, img_channels=3,
                        mapping_kwargs=dict(num_layers=2), channel_base=a.cbase * (2 if r else 1),
                        channel_max=a.cmax * (2 if r else 1), conv_kernel=1 if r else 3, use_radial_filters=r).eval()

    from ganctl.interop.network import read_network
    from ganctl.models import build_networks

    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "net.pkl"
        pkl.write_bytes(pickle.dumps({"G_ema": G_nv, "augment_pipe": None}))
        net = read_network(pkl)
    tensors, meta = net.checkpoint()
    G, _ = build_networks(meta["config"], net.resolution, net.channels, 0)
    G.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("G_ema/")})
    G.eval()

    z = torch.from_numpy(np.random.RandomState(0).randn(a.batch, 512)).float()
    from ganctl import ops

    with torch.no_grad():
        want = G_nv(z, None, noise_mode="const", force_fp32=True)
        diff = {impl: float((run_ganctl(G, z, impl) - want).abs().max()) for impl in ("ref", "auto")}
    n_params = sum(p.numel() for p in G.parameters())
    print(f"StyleGAN3-{a.config.upper()} {a.res}x{a.res} (G {n_params:,} params), batch {a.batch}, "
          f"{a.threads} threads, CPU, fp32; native ops: {ops.status()['filtered_lrelu']['active']}")
    print(f"max |ganctl - NVlabs| over the batch: ref {diff['ref']:.1e}, auto {diff['auto']:.1e}")
    t_nv = cpu_seconds(lambda: G_nv(z, None, noise_mode="const", force_fp32=True), a.reps) / a.batch
    rows = [("NVlabs stylegan3 (CPU, force_fp32)", t_nv)]
    for impl in ("ref", "auto"):
        rows.append((f"ganctl (ops {impl})", cpu_seconds(lambda: run_ganctl(G, z, impl), a.reps) / a.batch))
    print(f"{'':40s} {'CPU s/img':>10s} {'speed-up vs NVlabs':>20s}")
    for name, t in rows:
        print(f"{name:40s} {t:10.3f} {t_nv / t:19.2f}x")


def run_ganctl(G, z, impl: str):
    import os

    old = os.environ.get("GANCTL_OPS")
    os.environ["GANCTL_OPS"] = impl
    try:
        return G(z, None, noise_mode="const")
    finally:
        if old is None:
            os.environ.pop("GANCTL_OPS")
        else:
            os.environ["GANCTL_OPS"] = old


if __name__ == "__main__":
    main()
