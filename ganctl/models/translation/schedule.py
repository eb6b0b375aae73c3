"""The reference learning-rate schedule of pix2pix and CycleGAN, in images: constant for `model.lr_constant_kimg`, then
a linear decay to 0 over `model.lr_decay_kimg` (engine/schedule.py's ConstantSchedule, fed the reference's keys). A
pure function of cur_nimg, so a resumed run continues the decay where it stopped; the reference code restarts it unless
--epoch_count is repeated by hand.

The reference steps the rate once per epoch (LambdaLR, 1 - max(0, epoch - n_epochs) / (n_epochs_decay + 1)); here it
moves every step, the continuous version of the same line (the two differ by less than one epoch's step)."""

from __future__ import annotations

from ganctl.engine.schedule import ConstantSchedule


def make_schedule(cfg: dict, img_resolution: int) -> ConstantSchedule:
    m = cfg["model"]
    return ConstantSchedule(cfg, img_resolution, m["lr_constant_kimg"], m["lr_decay_kimg"],
                            keys="model.lr_constant_kimg / model.lr_decay_kimg")
