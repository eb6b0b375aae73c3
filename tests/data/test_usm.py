"""Real-ESRGAN's USM-sharpened targets (data/usm.py, `model.gt_usm`): equal to BasicSR's USMSharp on numbers recorded
once with its code (tests/data/record_basicsr_usm.py); the HR batches carry the sharpened patch and make the LR input
from it; the loss compares L1 / perceptual with it and shows D the plain HR patch, as Real-ESRGAN's options say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "basicsr_usm.safetensors"


def test_usm_equals_basicsr():
    from safetensors.numpy import load_file

    from ganctl.data.usm import usm_sharp

    d = load_file(str(FIXTURE))
    out = np.stack([usm_sharp(img) for img in d["input"]])
    assert np.abs(out - d["output"]).max() < 1e-5
    assert np.abs(d["output"] - d["input"]).max() > 0.1  # the sharpening did something


def test_batches_and_loss_use_the_sharpened_target(fmnist32):
    from ganctl.config import resolve_config
    from ganctl.data.dataset import PreparedDataset
    from ganctl.data.imresize import imresize_uint8
    from ganctl.data.usm import usm_sharp_uint8
    from ganctl.engine.conditioning import to_float
    from ganctl.losses.sr import SRLoss
    from ganctl.models import build_networks, get_family

    ds = PreparedDataset(fmnist32)
    ov = ["model.num_feat=8", "model.num_conv=2", "model.d_num_feat=8", "loss.gan_weight=0.1"]  # VGG D: batch norm,
    # no spectral-norm power iteration, so calling D again on the same images gives the same logits
    plain = get_family("sr").make_batches(resolve_config("sr-tiny", None, ov), ds).load(3, 8, 4)
    cfg = resolve_config("sr-tiny", None, ov + ["model.gt_usm=true"])
    b = get_family("sr").make_batches(cfg, ds).load(3, 8, 4)
    assert torch.equal(b["target"], plain["target"])  # same crops, same flips
    want = torch.from_numpy(np.stack([usm_sharp_uint8(t) for t in b["target"].numpy()]))
    assert torch.equal(b["target_usm"], want) and not torch.equal(want, b["target"])
    assert torch.equal(b["input"], imresize_uint8(want, 0.25))  # LR made from the sharpened patch

    torch.manual_seed(0)
    G, D = build_networks(cfg, 32, 1, 0)
    loss = SRLoss(G, D, cfg["loss"], "cpu")
    x = to_float(b, "cpu")
    with torch.no_grad():
        fake = G(x["input"])
    pix = loss.accumulate_gradients("Gmain", x, 0.0, 0)["Loss/G/pixel"]
    assert abs(pix - float((fake - x["target_usm"]).abs().mean() * 0.5)) < 1e-6
    d = loss.accumulate_gradients("Dmain", x, 0.0, 0)  # gan_gt_usm false: D's reals are the plain HR patches
    with torch.no_grad():
        assert abs(d["Scores/real"] - float(D(x["target"]).mean())) < 1e-6
    cfg["loss"]["l1_gt_usm"] = False
    pix = SRLoss(G, D, cfg["loss"], "cpu").accumulate_gradients("Gmain", x, 0.0, 0)["Loss/G/pixel"]
    assert abs(pix - float((fake - x["target"]).abs().mean() * 0.5)) < 1e-6
