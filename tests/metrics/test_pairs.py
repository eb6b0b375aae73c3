"""PSNR/SSIM with BasicSR's conventions (ganctl/metrics/pairs.py), equal to BasicSR's calculate_psnr/calculate_ssim to
1e-6 on numbers recorded from its code (tests/metrics/record_basicsr_pairs.py), and `ganctl compare` over folders."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from PIL import Image

from ganctl.metrics import pairs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record_basicsr_pairs import pair  # noqa: E402  (the seeded images only; BasicSR is not imported)

FIXTURE = json.loads((Path(__file__).resolve().parent / "fixtures" / "basicsr_pairs.json").read_text())


@pytest.mark.parametrize("case", FIXTURE["cases"], ids=lambda c: f"seed{c['seed']}-crop{c['crop_border']}")
def test_equal_to_basicsr(case):
    h, w, c = case["shape"]
    ref, out = pair(case["seed"], h, w, c)
    for y in (False, True):
        tag = "y" if y else "rgb"
        a, b = pairs.prepare(out, case["crop_border"], y), pairs.prepare(ref, case["crop_border"], y)
        assert abs(pairs.psnr(a, b) - case[f"psnr_{tag}"]) < 1e-6
        assert abs(pairs.ssim(a, b) - case[f"ssim_{tag}"]) < 1e-6


def test_compare_folders_by_relative_path(tmp_path, cli):
    (tmp_path / "ref" / "sub").mkdir(parents=True)
    (tmp_path / "out" / "sub").mkdir(parents=True)
    for i, rel in enumerate(("a", "sub/b")):
        ref, out = pair(i, 48, 40, 3)
        Image.fromarray(ref).save(tmp_path / "ref" / f"{rel}.png")
        Image.fromarray(out).save(tmp_path / "out" / f"{rel}.png")
    Image.fromarray(ref).save(tmp_path / "out" / "unmatched.png")
    res = json.loads(cli("compare", tmp_path / "ref", tmp_path / "out", "--metrics", "psnr,ssim,l1", "--crop-border", "4",
                         "--y-channel", "--json", check=0).stdout)
    assert res["count"] == 2 and [r["name"] for r in res["images"]] == ["a", "sub/b"]
    assert res["convention"]["crop_border"] == 4 and res["convention"]["channel"].startswith("Y")
    want = FIXTURE["cases"][1]  # seed 1, crop 4: the recorded BasicSR number for sub/b
    assert abs(res["images"][1]["psnr"] - want["psnr_y"]) < 1e-6
    assert math.isclose(res["mean"]["psnr"], (res["images"][0]["psnr"] + res["images"][1]["psnr"]) / 2)
    # Identical images: PSNR inf, SSIM 1; different sizes: one line, exit 2.
    same = pairs.prepare(ref, 0, False)
    assert pairs.psnr(same, same) == math.inf and abs(pairs.ssim(same, same) - 1) < 1e-12
    Image.fromarray(ref[:20]).save(tmp_path / "small.png")
    p = cli("compare", tmp_path / "ref" / "a.png", tmp_path / "small.png", check=2)
    assert "same size" in p.stderr and "Traceback" not in p.stderr
