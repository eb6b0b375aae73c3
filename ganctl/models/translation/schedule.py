"""The reference learning-rate schedule of pix2pix and CycleGAN, in images: constant for `lr_constant_kimg`, then a
linear decay to 0 over `lr_decay_kimg`. A pure function of cur_nimg (engine/schedule.py), so a resumed run continues
the decay where it stopped; the reference code restarts it unless --epoch_count is repeated by hand.

The reference steps the rate once per epoch (LambdaLR, 1 - max(0, epoch - n_epochs) / (n_epochs_decay + 1)); here it
moves every step, the continuous version of the same line (the two differ by less than one epoch's step)."""

from __future__ import annotations

from ganctl.engine.schedule import Stage
from ganctl.errors import UsageError


class LinearDecaySchedule:
    has_stages = False
    lr_varies = True  # the engine sets the optimizers' rates from at(cur_nimg) before every step

    def __init__(self, cfg: dict, img_resolution: int):
        m, t, o = cfg["model"], cfg["train"], cfg["optim"]
        self.constant = int(round(m["lr_constant_kimg"] * 1000))
        self.decay = int(round(m["lr_decay_kimg"] * 1000))
        if self.constant < 0 or self.decay < 0:
            raise UsageError("config keys model.lr_constant_kimg / model.lr_decay_kimg: must be >= 0")
        self.res, self.batch, self.batch_gpu = int(img_resolution), t["batch"], t["batch_gpu"]
        self.lr_g, self.lr_d = o["g"]["lr"], o["d"]["lr"]

    def factor(self, cur_nimg: int) -> float:
        if self.decay == 0:
            return 1.0
        return 1.0 - min(max(cur_nimg - self.constant, 0) / self.decay, 1.0)

    def at(self, cur_nimg: int) -> Stage:
        f = self.factor(int(cur_nimg))
        return Stage(0, "constant", self.res, 1.0, self.batch, self.batch_gpu, self.lr_g * f, self.lr_d * f, 0, None, False)

    def process_reals(self, real, stage):
        return real


def make_schedule(cfg: dict, img_resolution: int):
    return LinearDecaySchedule(cfg, img_resolution)
