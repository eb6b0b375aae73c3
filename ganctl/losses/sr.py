"""The super-resolution losses (BasicSR's SRGAN/ESRGAN/Real-ESRGAN models): L1 pixel loss, the VGG19 perceptual
loss (losses/perceptual.py), and with a D a GAN loss,
vanilla (BCE with logits) or ESRGAN's relativistic average ("ragan"). Weights apply to G's terms only; D's loss has
weight 1, as in BasicSR. Distances are measured on [0, 1] images (BasicSR's range), so the recipes' weights carry over
unchanged: an L1 on ganctl's [-1, 1] images is halved.

With `gan_weight: 0` (the PSNR-oriented stage) D is never run and never stepped. G updates first (BasicSR's
optimize_parameters), and D then sees the outputs G produced before its update, which this module keeps per chunk
between the two phases of one step (plain attributes: nothing to checkpoint, steps never straddle a save).
"""

from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.sampling.conditioned import INPUT_KEYS, TARGET_KEYS, apply_generator, pick

DEFAULTS = {
    "pixel_weight": 1.0,     # L1 between G(input) and target, on [0, 1]
    "gan_weight": 0.0,       # 0: PSNR stage (no D); ESRGAN 5e-3 (ragan), Real-ESRGAN 0.1 (vanilla)
    "gan_type": "vanilla",   # vanilla | ragan
    "perceptual_weight": 0.0,                # 0: off; ESRGAN and Real-ESRGAN 1.0
    "perceptual_layers": ["conv5_4"],        # VGG19 layers (BasicSR names; conv = before its ReLU)
    "perceptual_layer_weights": [1.0],       # one per layer
    "vgg19_weights": "",                     # torchvision's vgg19-dcbb9e9d.pth; "": $GANCTL_VGG19_WEIGHTS or the cache
    # With model.gt_usm (the batch carries a sharpened target): which terms compare with it (Real-ESRGAN's options)
    "l1_gt_usm": True,
    "percep_gt_usm": True,
    "gan_gt_usm": False,     # D's real images: the plain HR patch
}
GAN_TYPES = ("vanilla", "ragan")


def _bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class SRLoss(nn.Module):
    def __init__(self, G, D, cfg: dict, device, augment_pipe=None):
        super().__init__()
        if cfg["gan_type"] not in GAN_TYPES:
            from ganctl.errors import UsageError

            raise UsageError(f"config key loss.gan_type: {cfg['gan_type']!r} is not one of {', '.join(GAN_TYPES)}")
        self.G, self.D = [G], [D]  # lists: keep the networks out of this module's state_dict
        self.cfg = cfg
        self._fakes: deque = deque()
        perceptual = None
        if cfg["perceptual_weight"] > 0:
            from ganctl.losses.perceptual import PerceptualLoss, find_vgg19

            perceptual = PerceptualLoss(cfg["perceptual_layers"], cfg["perceptual_layer_weights"],
                                        find_vgg19(cfg["vgg19_weights"])).to(device)
        # Outside this module's state_dict: VGG19 is a frozen detector, found again on resume, never checkpointed.
        self.__dict__["perceptual"] = perceptual

    @staticmethod
    def check_config(cfg: dict) -> None:
        """Refuse, before the run directory exists, what would fail at the first step (missing VGG19 weights)."""
        if cfg["loss"]["perceptual_weight"] > 0:
            from ganctl.losses.perceptual import find_vgg19

            find_vgg19(cfg["loss"]["vgg19_weights"])

    def accumulate_gradients(self, phase, batch: dict, gain, cur_nimg) -> dict:
        stats = {}
        lq, gt = pick(batch, INPUT_KEYS), pick(batch, TARGET_KEYS)
        usm = batch.get("target_usm")  # model.gt_usm: Real-ESRGAN's sharpened target, used where its options say
        l1_gt, percep_gt, gan_gt = (usm if usm is not None and self.cfg[k] else gt
                                    for k in ("l1_gt_usm", "percep_gt_usm", "gan_gt_usm"))
        gan_w = self.cfg["gan_weight"]
        D = self.D[0]
        if phase in ("Gmain", "Gboth"):
            fake = apply_generator(self.G[0], lq)
            pix = (fake - l1_gt).abs().mean() * 0.5  # L1 on [0, 1]
            loss = self.cfg["pixel_weight"] * pix
            stats["Loss/G/pixel"] = pix.item()
            if self.perceptual is not None:
                percep = self.perceptual(fake, percep_gt)
                stats["Loss/G/perceptual"] = percep.item()
                loss = loss + self.cfg["perceptual_weight"] * percep
            if gan_w > 0:
                fake_logits = D(fake)
                if self.cfg["gan_type"] == "ragan":
                    with torch.no_grad():
                        real_logits = D(gan_gt)
                    adv = 0.5 * (_bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0))
                else:
                    adv = _bce(fake_logits, 1.0)
                stats["Loss/G/loss"] = adv.item()
                loss = loss + gan_w * adv
                self._fakes.append(fake.detach())
            (loss * gain).backward()
        if phase in ("Dmain", "Dboth") and gan_w > 0:
            if self._fakes:
                fake = self._fakes.popleft()
            else:
                with torch.no_grad():
                    fake = apply_generator(self.G[0], lq)
            real_logits = D(gan_gt)
            fake_logits = D(fake)
            if self.cfg["gan_type"] == "ragan":
                loss = 0.5 * (_bce(real_logits - fake_logits.mean().detach(), 1.0)
                              + _bce(fake_logits - real_logits.mean().detach(), 0.0))
            else:
                loss = _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
            stats["Loss/D/loss"] = loss.item()
            stats["Scores/real"] = real_logits.mean().item()
            stats["Scores/fake"] = fake_logits.mean().item()
            (loss * gain).backward()
        return stats
