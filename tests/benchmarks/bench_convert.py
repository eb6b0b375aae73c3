"""Cost of `ganctl convert` on a config-F-size NVlabs pickle (1024x1024, ~30M parameters per network, G + D + G_ema),
against the floor: reading the same file's bytes from disk (page cache warm for both).

    python tests/benchmarks/bench_convert.py [--resolution 1024] [--repeat 3]

The pickle is written by the benchmark itself in NVlabs' format (tests/interop/nvlabs_format.py), from ganctl
StyleGAN2 networks with config F's arguments, so no download is needed. Conversion = read + sha256 + restricted
unpickling + name mapping + shape check + atomic safetensors write (fsync, payload hash).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
from nvlabs_format import trees_from_ganctl, write_pickle  # noqa: E402

import torch  # noqa: E402

from ganctl.interop.convert import convert  # noqa: E402
from ganctl.interop.network import read_network  # noqa: E402
from ganctl.models.stylegan2 import build  # noqa: E402


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    model = dict(channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256)  # config F
    torch.manual_seed(0)
    G, D = build(model, a.resolution, 3, 0)
    G_ema = copy.deepcopy(G)
    n_g, n_d = (sum(p.numel() for p in m.parameters()) for m in (G, D))
    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "network-snapshot-025000.pkl"
        trees, tensors = trees_from_ganctl(G, D, G_ema, 32768, 512)
        write_pickle(pkl, trees, tensors, protocol=4)
        del trees, tensors, G, D, G_ema
        size = pkl.stat().st_size
        pkl.read_bytes()  # warm the page cache for both measurements
        t_read = best_of(a.repeat, pkl.read_bytes)
        t_parse = best_of(a.repeat, lambda: read_network(pkl))
        out = Path(tmp) / "net.safetensors"
        t_convert = best_of(a.repeat, lambda: convert(pkl, out))
    print(f"config F {a.resolution}x{a.resolution}: G {n_g:,} params, D {n_d:,} params; pickle {size / 2**20:.0f} MiB")
    print(f"{'step':<44}{'seconds':>9}{'x read':>9}")
    print(f"{'read the file bytes (floor)':<44}{t_read:>9.2f}{1.0:>9.1f}")
    print(f"{'read_network (sha256 + unpickle + map)':<44}{t_parse:>9.2f}{t_parse / t_read:>9.1f}")
    print(f"{'ganctl convert (+ atomic safetensors write)':<44}{t_convert:>9.2f}{t_convert / t_read:>9.1f}")


if __name__ == "__main__":
    main()
