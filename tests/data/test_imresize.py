"""MATLAB-compatible bicubic imresize (ganctl/data/imresize.py) against numbers recorded from BasicSR's
matlab_functions.imresize (tests/data/record_basicsr_imresize.py), and how it differs from torch's bicubic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganctl.data.imresize import imresize, imresize_uint8

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record_basicsr_imresize import input_image  # noqa: E402  (the seeded inputs only; BasicSR is not imported)

FIXTURE = json.loads((Path(__file__).resolve().parent / "fixtures" / "basicsr_imresize.json").read_text())


@pytest.mark.parametrize("case", FIXTURE["cases"], ids=lambda c: f"{c['shape']}x{c['scale']:.3g}")
def test_matches_basicsr_imresize(case):
    h, w, c = case["shape"]
    img = torch.from_numpy(input_image(case["seed"], h, w, c).astype(np.float64)).permute(2, 0, 1)
    ours = imresize(img, case["scale"]).permute(1, 2, 0).numpy()
    ref = np.asarray(case["output"]).reshape(case["output_shape"])
    ref = ref.reshape(ours.shape)  # BasicSR keeps the channel axis for HWC input
    # BasicSR computes in float32, ganctl in float64: agreement to float32 rounding.
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-5


def test_differs_from_torch_bicubic_and_rounds_to_uint8():
    img = torch.from_numpy(input_image(0, 32, 32, 3).astype(np.float64)).permute(2, 0, 1)
    ours = imresize(img, 0.25)
    torch_plain = F.interpolate(img[None], size=(8, 8), mode="bicubic", align_corners=False)[0]
    assert (ours - torch_plain).abs().max() > 0.05  # no antialiasing in torch's default: aliased
    u8 = imresize_uint8((img * 255).round().to(torch.uint8), 0.25)
    assert u8.dtype == torch.uint8 and torch.equal(u8, (ours * 255).round().clamp(0, 255).to(torch.uint8))
