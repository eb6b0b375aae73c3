"""The super-resolution losses (BasicSR's SRGAN/ESRGAN/Real-ESRGAN models): L1 pixel loss, and with a D a GAN loss,
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

    def accumulate_gradients(self, phase, batch: dict, gain, cur_nimg) -> dict:
        stats = {}
        lq, gt = pick(batch, INPUT_KEYS), pick(batch, TARGET_KEYS)
        gan_w = self.cfg["gan_weight"]
        D = self.D[0]
        if phase in ("Gmain", "Gboth"):
            fake = apply_generator(self.G[0], lq)
            pix = (fake - gt).abs().mean() * 0.5  # L1 on [0, 1]
            loss = self.cfg["pixel_weight"] * pix
            stats["Loss/G/pixel"] = pix.item()
            if gan_w > 0:
                fake_logits = D(fake)
                if self.cfg["gan_type"] == "ragan":
                    with torch.no_grad():
                        real_logits = D(gt)
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
            real_logits = D(gt)
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
