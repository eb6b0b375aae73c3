"""Cost of making one LR training input: Real-ESRGAN's second-order degradation (`model.degradation=realesrgan`,
ganctl/data/degradations.py, one image at a time on the CPU) vs MATLAB bicubic (the default), same HR patches, same run.

    python tests/benchmarks/bench_degradations.py --size 256 --n 8

Prints CPU time (process_time) per image and the ratio; compare ratios, not absolute numbers, on a shared machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256, help="HR patch size (gt_size)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--scale", type=int, default=4)
    a = ap.parse_args()
    from ganctl.data import degradations as dg
    from ganctl.data.imresize import imresize_uint8

    torch.set_num_threads(1)
    hr = np.random.default_rng(0).integers(0, 256, (a.n, 3, a.size, a.size), dtype=np.uint8)
    dg.degrade(hr[0], a.scale, np.random.default_rng(0), dg.DEFAULT_PARAMS)        # warm-up (imports)
    imresize_uint8(torch.from_numpy(hr[:1]), 1 / a.scale)
    t = time.process_time()
    for i in range(a.n):
        imresize_uint8(torch.from_numpy(hr[i:i + 1]), 1 / a.scale)
    bic = (time.process_time() - t) / a.n
    t = time.process_time()
    for i in range(a.n):
        dg.degrade(hr[i], a.scale, np.random.default_rng([0, i]), dg.DEFAULT_PARAMS)
    ours = (time.process_time() - t) / a.n
    print(f"{a.size}px x{a.scale}, {a.n} images, CPU ms per image: bicubic {bic * 1e3:.2f}, realesrgan {ours * 1e3:.1f}, "
          f"ratio {ours / bic:.1f}x")


if __name__ == "__main__":
    main()
