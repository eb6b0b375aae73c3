"""Benchmark: `ganctl sample G.onnx` (onnxruntime) vs PyTorch eager on CPU, images/s at batch 1 and 16, for the
generator of a preset (random weights: speed does not depend on them). Both run at the same thread count; CPU time
(process_time) is reported beside wall time because the machine may be shared.

Usage: python tests/benchmarks/bench_onnx.py [--preset stylegan-tiny] [--res 32] [--channels 1] [--threads 1] [--seconds 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))


def measure(fn, batch: int, seconds: float) -> tuple[float, float]:
    """(images per wall second, images per CPU second) of fn() over about `seconds` after one warm-up call."""
    fn()
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < seconds:
        fn()
        n += batch
    return n / (time.perf_counter() - w0), n / (time.process_time() - c0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="stylegan-tiny")
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--classes", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import onnxruntime as ort

    from ganctl import api
    from ganctl.config import resolve_config
    from ganctl.engine import checkpoint as ckpt
    from ganctl.models import build_networks
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.latents import z_for_seeds

    cfg = resolve_config(args.preset)
    if args.classes:
        cfg["model"]["conditional"] = True
    G, _ = build_networks(cfg, args.res, args.channels, args.classes)
    with tempfile.TemporaryDirectory() as d:
        path = ckpt.save_checkpoint(Path(d) / "G.safetensors", {f"G_ema/{k}": v for k, v in G.state_dict().items()},
                                    {"config": cfg, "dataset": {"name": "bench", "resolution": args.res, "channels":
                                     args.channels, "label_names": [str(i) for i in range(args.classes)]}})
        t0 = time.process_time()
        api.export(str(path), f"{d}/G.onnx")
        export_s = time.process_time() - t0
        gen = load_generator(path, "cpu")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(f"{d}/G.onnx", opts, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        print(f"# {args.preset} {args.res}x{args.res}x{args.channels}, {sum(p.numel() for p in G.parameters()):,} G params; "
              f"export {export_s:.1f} CPU s; {args.threads} thread(s); {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs; {datetime.date.today()}")
        print(f"{'batch':>5} {'torch img/s':>12} {'ort img/s':>10} {'ratio':>6} {'torch img/CPU-s':>16} {'ort img/CPU-s':>14} {'ratio':>6}")
        for batch in (1, 16):
            seeds = list(range(batch))
            z = z_for_seeds(seeds, gen.G.z_dim)
            c = torch.tensor([s % args.classes for s in seeds]) if args.classes else None
            feeds = {"z": z.numpy()}
            if "c" in names:
                feeds["c"] = c.numpy()
            if "psi" in names:
                feeds["psi"] = np.asarray(1.0, dtype=np.float32)

            def run_torch():
                with torch.no_grad():
                    gen.G(z, c)

            tw, tc = measure(run_torch, batch, args.seconds)
            ow, oc = measure(lambda: sess.run(None, feeds), batch, args.seconds)
            print(f"{batch:>5} {tw:>12.1f} {ow:>10.1f} {ow / tw:>6.2f} {tc:>16.1f} {oc:>14.1f} {oc / tc:>6.2f}")


if __name__ == "__main__":
    main()
