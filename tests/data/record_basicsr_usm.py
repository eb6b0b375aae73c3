"""Record BasicSR's USMSharp (Real-ESRGAN's sharpened targets) ONCE with its own code (run by a person, never by the
test suite):

    git clone https://github.com/XPixelGroup/BasicSR /tmp/BasicSR   # recorded at commit 8d56e3a
    pip install opencv-python-headless                              # USMSharp builds its kernel with cv2
    python3 tests/data/record_basicsr_usm.py /tmp/BasicSR

Loads basicsr/utils/img_process_util.py alone (torch, numpy, cv2) and writes tests/data/fixtures/basicsr_usm.safetensors:
a seeded (2, 3, 40, 36) input in [0, 1] (smooth shapes plus noise, so the threshold mask has both values) and
USMSharp()(input).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch


def main(root: str) -> None:
    spec = importlib.util.spec_from_file_location("img_process_util", f"{root}/basicsr/utils/img_process_util.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 36), indexing="ij")
    base = ((xx > 0.4) & (yy < 0.6)).float() * 0.6 + 0.2 * torch.sin(8 * xx)
    x = (base[None, None] + 0.05 * torch.rand(2, 3, 40, 36, generator=g)).clamp(0, 1)
    y = mod.USMSharp()(x)
    from safetensors.torch import save_file

    dest = Path(__file__).resolve().parent / "fixtures" / "basicsr_usm.safetensors"
    save_file({"input": x.contiguous(), "output": y.contiguous()}, str(dest), metadata={"source": "XPixelGroup/BasicSR 8d56e3a"})
    print(dest, float((y - x).abs().max()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/BasicSR")
