"""Record PSNR/SSIM reference numbers ONCE with BasicSR's own metric code (run by a person, never by the test suite).

    git clone https://github.com/XPixelGroup/BasicSR /tmp/BasicSR        # recorded at commit 8d56e3a
    pip install --target /tmp/cv2pkg --no-deps opencv-python-headless  # BasicSR's SSIM filters with cv2
    PYTHONPATH=/tmp/cv2pkg python3 tests/metrics/record_basicsr_pairs.py /tmp/BasicSR

BasicSR's code is not part of ganctl and is never committed; basicsr/metrics/psnr_ssim.py and what it imports
(metric_util, color_util) are loaded with the package's registry replaced by an inert stand-in. BasicSR reads images
with cv2 (BGR order), so the RGB test images are passed reversed to BGR, as its pipeline would see the same PNGs.
Images are seeded (numpy default_rng): a reference and a noisy, blurred output per case. Output:
tests/metrics/fixtures/basicsr_pairs.json.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np

CASES = [(0, 48, 40, 3, 0), (1, 48, 40, 3, 4), (2, 33, 29, 1, 2), (3, 64, 64, 3, 3)]  # seed, h, w, c, crop_border


def pair(seed: int, h: int, w: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference, output) uint8 HWC RGB: a smooth random image and a noisy copy."""
    r = np.random.default_rng(seed)
    base = r.random((h // 4 + 2, w // 4 + 2, c))
    ref = np.kron(base, np.ones((4, 4, 1)))[:h, :w] * 200 + r.random((h, w, c)) * 55
    out = ref + r.normal(0, 12, size=ref.shape)
    return ref.round().clip(0, 255).astype(np.uint8), out.round().clip(0, 255).astype(np.uint8)


def main(root: str) -> None:
    class Registry:
        def register(self, obj=None, suffix=None):
            return obj if obj is not None else (lambda o: o)

    for name, path in (("basicsr", "basicsr"), ("basicsr.utils", "basicsr/utils"), ("basicsr.metrics", "basicsr/metrics")):
        mod = types.ModuleType(name)
        mod.__path__ = [str(Path(root) / path)]
        sys.modules[name] = mod
    reg = types.ModuleType("basicsr.utils.registry")
    reg.METRIC_REGISTRY = Registry()
    sys.modules["basicsr.utils.registry"] = reg
    sys.modules["basicsr.utils"].bgr2ycbcr = importlib.import_module("basicsr.utils.color_util").bgr2ycbcr
    m = importlib.import_module("basicsr.metrics.psnr_ssim")
    out = []
    for seed, h, w, c, crop in CASES:
        ref, img = pair(seed, h, w, c)
        bgr = (lambda a: a[..., ::-1].copy()) if c == 3 else (lambda a: a)
        row = {"seed": seed, "shape": [h, w, c], "crop_border": crop}
        for y in (False, True):
            tag = "y" if y else "rgb"
            row[f"psnr_{tag}"] = float(m.calculate_psnr(bgr(img), bgr(ref), crop, test_y_channel=y))
            row[f"ssim_{tag}"] = float(m.calculate_ssim(bgr(img), bgr(ref), crop, test_y_channel=y))
        out.append(row)
    dest = Path(__file__).resolve().parent / "fixtures" / "basicsr_pairs.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps({"source": "BasicSR 8d56e3a basicsr/metrics/psnr_ssim.py", "cases": out}, indent=1))
    print(dest)


if __name__ == "__main__":
    main(sys.argv[1])
