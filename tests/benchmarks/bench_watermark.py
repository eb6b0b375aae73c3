"""Watermark robustness: bit accuracy and marking PSNR of ganctl's mark (ganctl/sampling/watermark.py) after PNG
re-save, JPEG 90/75/50, brightness +20 and x1.2, a 10% crop (90% of each side kept, top-left corner removed) and a 50%
resize, on 256x256 images: Fashion-MNIST grids (8x8 tiles of 32x32, as `ganctl sample --grid` writes for 32x32 models),
Fashion-MNIST upscaled to 256x256, and scikit-image's photos when installed. Baseline in the same run: the same image
unmarked (its bit accuracy is what chance gives).

    PYTHONPATH=. OMP_NUM_THREADS=1 python tests/benchmarks/bench_watermark.py [--n 16]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def attacks() -> dict:
    from PIL import Image

    def via(fmt, **kw):
        def f(a):
            buf = io.BytesIO()
            Image.fromarray(a.squeeze(-1) if a.shape[-1] == 1 else a).save(buf, format=fmt, **kw)
            out = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
            return out[..., None] if out.ndim == 2 else out
        return f

    def crop(a):
        h, w = a.shape[:2]
        return a[h // 10:, w // 10:]

    def resize(a):
        im = Image.fromarray(a.squeeze(-1) if a.shape[-1] == 1 else a)
        out = np.asarray(im.resize((a.shape[1] // 2, a.shape[0] // 2), Image.BICUBIC))
        return out[..., None] if out.ndim == 2 else out

    return {"png re-save": via("PNG"), "jpeg q90": via("JPEG", quality=90), "jpeg q75": via("JPEG", quality=75),
            "jpeg q50": via("JPEG", quality=50),
            "brightness +20": lambda a: np.clip(a.astype(int) + 20, 0, 255).astype(np.uint8),
            "brightness x1.2": lambda a: np.clip(a.astype(float) * 1.2, 0, 255).astype(np.uint8),
            "crop 10%": crop, "resize 50%": resize}


def test_images(n: int) -> dict[str, list[np.ndarray]]:
    from PIL import Image

    from _testdata import load_fmnist

    imgs, _ = load_fmnist("test", 64 * n + n)
    padded = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))
    grids = [padded[i * 64:(i + 1) * 64].reshape(8, 8, 32, 32).transpose(0, 2, 1, 3).reshape(256, 256)[..., None]
             for i in range(n)]
    ups = [np.asarray(Image.fromarray(im).resize((256, 256), Image.BICUBIC))[..., None] for im in imgs[-n:]]
    sets = {"fmnist grid": grids, "fmnist upscaled": ups}
    try:
        from skimage import data as skd
        photos = []
        for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"):
            im = np.asarray(Image.fromarray(getattr(skd, name)()).convert("RGB").resize((256, 256), Image.BICUBIC))
            photos.append(im)
        sets["photos (skimage)"] = photos
    except ImportError:
        pass
    return sets


def bit_accuracy(det, data: int) -> float:
    from ganctl.sampling.watermark import MAGIC_BITS, payload_bits

    want = payload_bits(data) > 0
    got = np.array([c == "1" for c in format(int(det.payload, 16), "032b")])
    return (det.matching_bits + int((got == want[MAGIC_BITS:]).sum())) / len(want)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8, help="images per set")
    args = ap.parse_args()
    from ganctl.sampling import watermark as W

    sets = test_images(args.n)
    rng = np.random.default_rng(0)
    atk = attacks()
    print(f"# ganctl watermark: {W.NBITS} bits, strength {W.STRENGTH}; bit accuracy (0.5 = chance), "
          f"verdicts = share detected as 'watermarked' (>= {W.THRESHOLD}/{W.MAGIC_BITS} magic bits)")
    for name, imgs in sets.items():
        t0 = time.process_time()
        marked, datas = [], []
        for im in imgs:
            d = int(rng.integers(0, 2 ** 32))
            marked.append(W.embed(im, d))
            datas.append(d)
        t_embed = (time.process_time() - t0) / len(imgs)
        ps = [W.psnr(a, b) for a, b in zip(imgs, marked)]
        print(f"\n## {name}: {len(imgs)} images {imgs[0].shape[1]}x{imgs[0].shape[0]}, marking PSNR "
              f"{np.mean(ps):.1f} dB (min {np.min(ps):.1f}), embed {t_embed * 1000:.0f} ms CPU/image")
        print(f"{'attack':16s} {'bit acc':>8s} {'detected':>9s} {'unmarked acc':>13s} {'unmarked det':>13s}")
        for an, f in [("none", lambda a: a)] + list(atk.items()):
            accs, dets, uaccs, udets, td = [], [], [], [], 0.0
            for im, mk, d in zip(imgs, marked, datas):
                a = f(mk)
                if min(a.shape[:2]) < W.MIN_SIDE:
                    continue
                t0 = time.process_time()
                det = W.detect(a)
                td += time.process_time() - t0
                accs.append(bit_accuracy(det, d))
                dets.append(det.verdict == "watermarked")
                u = W.detect(f(im))
                uaccs.append(bit_accuracy(u, d))
                udets.append(u.verdict == "watermarked")
            if not accs:
                print(f"{an:16s} {'refused: under ' + str(W.MIN_SIDE) + ' px':>30s}")
                continue
            print(f"{an:16s} {np.mean(accs):8.3f} {np.mean(dets):9.2f} {np.mean(uaccs):13.3f} {np.mean(udets):13.2f}"
                  f"   detect {td / len(accs) * 1000:.0f} ms CPU/image")


if __name__ == "__main__":
    main()
