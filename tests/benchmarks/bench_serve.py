"""Benchmark: `ganctl serve` requests/s on loopback under a bounded load (a fixed number of GET /api/image requests
from a fixed number of client threads), vs the same images made in-process through the same Renderer with no HTTP
(the baseline, measured in the same run). The ratio is what HTTP + the worker queue cost.

Usage: python tests/benchmarks/bench_serve.py [--preset stylegan-tiny] [--res 32] [--requests 200] [--clients 8]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="stylegan-tiny")
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from ganctl.config import resolve_config
    from ganctl.engine import checkpoint as ckpt
    from ganctl.models import build_networks
    from ganctl.serve.run import build, make_server

    cfg = resolve_config(args.preset)
    G, _ = build_networks(cfg, args.res, args.channels, 0)
    with tempfile.TemporaryDirectory() as d:
        path = ckpt.save_checkpoint(Path(d) / "G.safetensors", {f"G_ema/{k}": v for k, v in G.state_dict().items()},
                                    {"config": cfg, "dataset": {"name": "bench", "resolution": args.res,
                                                                "channels": args.channels, "label_names": []}})
        app, renderer, worker = build(str(path), device="cpu", max_queue=256)
        server = make_server(app, "127.0.0.1", 0, threads=8)
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        base = f"http://127.0.0.1:{server.effective_port}/api/image?psi=0.7&seed="

        def fetch(seed: int) -> int:
            with urllib.request.urlopen(base + str(seed), timeout=120) as r:
                r.read()
                return r.status

        fetch(0)  # warm-up
        w0, c0 = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(args.clients) as pool:
            codes = list(pool.map(fetch, range(args.requests)))
        http_wall, http_cpu = time.perf_counter() - w0, time.process_time() - c0
        assert all(c == 200 for c in codes)

        w0, c0 = time.perf_counter(), time.process_time()
        for seed in range(args.requests):
            renderer.seed_png(renderer.seeds([seed], 0.7)[0], seed, 0.7, None, "const")
        direct_wall, direct_cpu = time.perf_counter() - w0, time.process_time() - c0
        server.close()
        worker.close()
        renderer.close()
    n = args.requests
    print(f"# {args.preset} {args.res}x{args.res}x{args.channels}, {n} requests from {args.clients} clients on loopback, "
          f"{args.threads} torch thread(s); {platform.machine()}, {os.cpu_count()} CPUs; {datetime.date.today()}")
    print(f"{'':>22} {'req/s':>8} {'req/CPU-s':>10}")
    print(f"{'ganctl serve (HTTP)':>22} {n / http_wall:>8.1f} {n / http_cpu:>10.1f}")
    print(f"{'in-process baseline':>22} {n / direct_wall:>8.1f} {n / direct_cpu:>10.1f}")
    print(f"{'ratio':>22} {direct_wall / http_wall:>8.2f} {direct_cpu / http_cpu:>10.2f}")


if __name__ == "__main__":
    main()
