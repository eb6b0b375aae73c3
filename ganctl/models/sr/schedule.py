"""BasicSR's learning-rate schedules for the super-resolution family, in images (`model.lr_scheme`):

- `constant`: the optimizers' rates throughout.
- `multistep` (MultiStepLR: train_ESRGAN_x4, train_MSRGAN_x4, Real-ESRGAN): the rate is multiplied by `lr_gamma` at
  every milestone in `lr_milestones_kimg` it has passed.
- `cosine_restart` (BasicSR's CosineAnnealingRestartLR: train_RRDBNet_PSNR_x4): cosine from the base rate down to
  `lr_eta_min` over each period of `lr_periods_kimg`, restarting at `lr_restart_weights[i]` x the base rate.

BasicSR counts iterations; here everything is in images shown (iterations x batch size), so a run with another batch
keeps the schedule's length in images. BasicSR's iteration k (from 1) trains at the rate its scheduler gives after
k - 1 steps, i.e. after (k - 1) x batch images: `at(cur_nimg)` is that rate with cur_nimg images shown, so with the
reference's batch the rates are the reference's, step for step. Both optimizers (G and D) follow it, as in BasicSR.
A pure function of cur_nimg (engine/schedule.py): a resumed run is on the same rate with no schedule state to save.
"""

from __future__ import annotations

import math

from ganctl.engine.schedule import Stage
from ganctl.errors import UsageError

SCHEMES = ("constant", "multistep", "cosine_restart")


class SRSchedule:
    has_stages = False

    def __init__(self, cfg: dict, img_resolution: int):
        m, t, o = cfg["model"], cfg["train"], cfg["optim"]
        self.scheme = m["lr_scheme"]
        if self.scheme not in SCHEMES:
            raise UsageError(f"config key model.lr_scheme: {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        self.lr_varies = self.scheme != "constant"  # the engine sets the optimizers' rates from at() before each step
        self.milestones = sorted(_nimg(v, "lr_milestones_kimg") for v in m["lr_milestones_kimg"])
        self.gamma = float(m["lr_gamma"])
        self.periods = [_nimg(v, "lr_periods_kimg") for v in m["lr_periods_kimg"]]
        self.weights = [float(w) for w in m["lr_restart_weights"]]
        self.eta_min = float(m["lr_eta_min"])
        if self.scheme == "cosine_restart":
            if not self.periods or any(p <= 0 for p in self.periods):
                raise UsageError("config key model.lr_periods_kimg: cosine_restart needs one or more periods > 0 "
                                 "(e.g. [4000, 4000, 4000, 4000])")
            if len(self.weights) != len(self.periods):
                raise UsageError(f"config keys model.lr_restart_weights / model.lr_periods_kimg: need one weight per "
                                 f"period, got {len(self.weights)} weights for {len(self.periods)} periods")
        self.res, self.batch, self.batch_gpu = int(img_resolution), t["batch"], t["batch_gpu"]
        self.lr_g, self.lr_d = o["g"]["lr"], o["d"]["lr"]

    def lr(self, base: float, cur_nimg: int) -> float:
        if self.scheme == "multistep":
            return base * self.gamma ** sum(cur_nimg >= m for m in self.milestones)
        if self.scheme == "cosine_restart":
            start = 0
            for period, weight in zip(self.periods, self.weights):
                if cur_nimg <= start + period:  # BasicSR: the first period whose cumulative end is >= the position
                    cos = 1 + math.cos(math.pi * (cur_nimg - start) / period)
                    return self.eta_min + weight * 0.5 * (base - self.eta_min) * cos
                start += period
            return self.eta_min  # past the last period (BasicSR's scheduler has no rate there): the floor
        return base

    def at(self, cur_nimg: int) -> Stage:
        n = int(cur_nimg)
        return Stage(0, "constant", self.res, 1.0, self.batch, self.batch_gpu, self.lr(self.lr_g, n), self.lr(self.lr_d, n),
                     0, None, False)

    def process_reals(self, real, stage):
        return real


def _nimg(kimg, key: str) -> int:
    try:
        v = float(kimg)
    except (TypeError, ValueError):
        raise UsageError(f"config key model.{key}: {kimg!r} is not a number of kimg") from None
    if v < 0:
        raise UsageError(f"config key model.{key}: must be >= 0, got {kimg}")
    return int(round(v * 1000))


def make_schedule(cfg: dict, img_resolution: int) -> SRSchedule:
    return SRSchedule(cfg, img_resolution)
