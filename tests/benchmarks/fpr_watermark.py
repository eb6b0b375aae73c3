"""False-positive rate of `ganctl watermark detect` on real, unmarked images: how many get each number of matching
magic bits (of 32) and how many reach the verdict thresholds (watermarked >= 28, likely >= 25). Chance alone (32 fair
coin flips) gives P(>= 28) = 9.7e-6 and P(>= 25) = 1.05e-3 per alignment tried; the detector tries the written
alignment and then the best pilot alignment, so at most about twice that.

Images (all 256x256 unless noted): Fashion-MNIST grids of 64 real images padded to 32x32 (train + test sets), single
Fashion-MNIST images upscaled to 256x256 (bicubic), scikit-image's photos (when installed; several crops and scales
of each), and grids that ganctl generates without a mark from a tiny cGAN trained for a few steps (trained here).

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/benchmarks/fpr_watermark.py [--grids 500 --singles 500 --generated 100]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def fmnist_grids(n: int):
    from _testdata import load_fmnist

    tr, _ = load_fmnist("train")
    te, _ = load_fmnist("test")
    imgs = np.pad(np.concatenate([te, tr]), ((0, 0), (2, 2), (2, 2)))
    for i in range(min(n, len(imgs) // 64)):
        yield imgs[i * 64:(i + 1) * 64].reshape(8, 8, 32, 32).transpose(0, 2, 1, 3).reshape(256, 256)


def fmnist_singles(n: int):
    from PIL import Image

    from _testdata import load_fmnist

    te, _ = load_fmnist("test")
    for im in te[-n:]:
        yield np.asarray(Image.fromarray(im).resize((256, 256), Image.BICUBIC))


def photos():
    from PIL import Image

    try:
        from skimage import data as skd
    except ImportError:
        return
    names = ["astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass",
             "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket",
             "text", "logo", "microaneurysms", "motorcycle_left", "motorcycle_right"]
    for name in names:
        try:
            a = getattr(skd, name)()
        except Exception:  # some images need pooch downloads: skip them (offline)
            continue
        im = Image.fromarray(a if a.dtype == np.uint8 else (a * 255).astype(np.uint8)).convert("RGB")
        w, h = im.size
        yield np.asarray(im.resize((256, 256), Image.BICUBIC))
        for s in (256, 320):  # crops at two scales from the corners
            if min(w, h) < s:
                continue
            for x, y in ((0, 0), (w - s, 0), (0, h - s), (w - s, h - s)):
                yield np.asarray(im.crop((x, y, x + s, y + s)).resize((256, 256), Image.BICUBIC))


def generated(n: int):
    from _testdata import make_dataset, run_cli

    from ganctl import api
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import make_grid

    tmp = Path(tempfile.mkdtemp(prefix="fpr-wm-"))
    data = make_dataset(tmp / "fm32", 512, 32, "fmnist32")
    p = run_cli("train", "--preset", "cgan-fashion-mnist", "--data", data, "--kimg", "0.256", "--outdir", tmp / "runs",
                "model.g_channels=16", "model.d_channels=16", "train.batch=16", "train.tick_kimg=0.128", check=0)
    gen = load_generator(api.select_checkpoint(p.stdout.strip(), None), "cpu")
    for i in range(n):
        imgs = next(gen.iter_images(list(range(i * 64, (i + 1) * 64)), 1.0, None, 64))
        yield make_grid(imgs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grids", type=int, default=500)
    ap.add_argument("--singles", type=int, default=500)
    ap.add_argument("--generated", type=int, default=100)
    args = ap.parse_args()
    from ganctl.sampling import watermark as W

    sources = {"fmnist grids": fmnist_grids(args.grids), "fmnist upscaled": fmnist_singles(args.singles),
               "skimage photos": photos(), "ganctl generated (unmarked)": generated(args.generated)}
    total, hits, likely = 0, 0, 0
    for name, it in sources.items():
        hist, n, td = collections.Counter(), 0, 0.0
        for a in it:
            t0 = time.process_time()
            d = W.detect(a)
            td += time.process_time() - t0
            hist[d.matching_bits] += 1
            n += 1
        if not n:
            print(f"{name}: none (not installed)")
            continue
        h = sum(v for k, v in hist.items() if k >= W.THRESHOLD)
        lk = sum(v for k, v in hist.items() if W.LIKELY <= k < W.THRESHOLD)
        total, hits, likely = total + n, hits + h, likely + lk
        print(f"{name}: {n} images, watermarked {h}, likely {lk}, max matching bits {max(hist)}/32, mean "
              f"{sum(k * v for k, v in hist.items()) / n:.1f}; detect {td / n * 1000:.0f} ms CPU/image")
    print(f"TOTAL: {total} unmarked real/generated images: {hits} false 'watermarked' (>= {W.THRESHOLD}/32), "
          f"{likely} 'likely' ({W.LIKELY}-{W.THRESHOLD - 1}/32)")


if __name__ == "__main__":
    main()
