"""Record MATLAB-compatible imresize reference numbers ONCE with BasicSR's own code (run by a person, never by the
test suite).

    git clone https://github.com/XPixelGroup/BasicSR /tmp/BasicSR   # any local copy; recorded at commit 8d56e3a
    python3 tests/data/record_basicsr_imresize.py /tmp/BasicSR

BasicSR's code is not part of ganctl and is never committed: only basicsr/utils/matlab_functions.py is loaded (by file
path; it needs only numpy and torch). Inputs are seeded (numpy default_rng) so the test rebuilds them; for each case the
fixture stores the input seed and shape, the scale, and BasicSR's float output. Output:
tests/data/fixtures/basicsr_imresize.json.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

# (seed, h, w, channels, scale): shrinking by 4, 2, 3 (antialiased), enlarging by 2 and 4, odd sizes, grayscale.
CASES = [(0, 32, 32, 3, 0.25), (1, 17, 23, 3, 0.5), (2, 30, 21, 1, 1 / 3), (3, 8, 8, 3, 4.0), (4, 9, 13, 1, 2.0),
         (5, 40, 24, 3, 0.25)]


def input_image(seed: int, h: int, w: int, c: int) -> np.ndarray:
    """The uint8-valued test image in [0, 1] (as BasicSR receives images: float HWC)."""
    return (np.random.default_rng(seed).integers(0, 256, size=(h, w, c)) / 255.0).astype(np.float32)


def main(basicsr_root: str) -> None:
    path = Path(basicsr_root) / "basicsr" / "utils" / "matlab_functions.py"
    spec = importlib.util.spec_from_file_location("basicsr_matlab_functions", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = []
    for seed, h, w, c, scale in CASES:
        img = input_image(seed, h, w, c)
        ref = mod.imresize(img, scale)
        out.append({"seed": seed, "shape": [h, w, c], "scale": scale, "output": np.asarray(ref).reshape(-1).tolist(),
                    "output_shape": list(np.asarray(ref).shape)})
    dest = Path(__file__).resolve().parent / "fixtures" / "basicsr_imresize.json"
    dest.write_text(json.dumps({"source": "BasicSR basicsr/utils/matlab_functions.py imresize (antialiasing=True)",
                                "cases": out}))
    print(dest)


if __name__ == "__main__":
    main(sys.argv[1])
