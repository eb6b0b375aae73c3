"""Training schedules: what the loop does now, as a pure function of `cur_nimg` (images shown so far).

The loop asks `schedule.at(cur_nimg)` before every step and gets a `Stage`: the resolution the networks run at, the
fade-in weight `alpha` of the newest resolution, the global batch and batch_gpu, the learning rates, and which phase
of the schedule this is. When the phase index changes, the engine rebuilds what depends on it (the data feed for a new
batch size, the accumulation plan, the CUDA batch_gpu probe, and, where the stage says so, the optimizers).

Because a stage depends on nothing but `cur_nimg` and the config, a resumed run lands in exactly the stage (and at
exactly the alpha) the uninterrupted run was in, with no schedule state to save.

Families without a schedule get `ConstantSchedule`: one open-ended phase with the config's batch and learning rates,
optionally decayed linearly to 0 at the end (train.lr_constant_kimg / train.lr_decay_kimg). `ProgressiveSchedule` is
Progressive GAN's (Karras et al. 2018; the official code's TrainingSchedule): each resolution is trained (stabilised)
for `phase_kimg`, then the next one fades in over `fade_kimg`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganctl.errors import UsageError


@dataclass(frozen=True)
class Stage:
    index: int               # the phase number; changes only at phase boundaries
    kind: str                # "constant" | "stabilise" | "fade"
    resolution: int          # what G outputs and D reads now
    alpha: float             # weight of the newest resolution during a fade; 1.0 otherwise
    batch: int               # global batch
    batch_gpu: int | None    # per-process chunk (None: the whole per-process share)
    lr_g: float
    lr_d: float
    start_nimg: int
    end_nimg: int | None     # None: the last, open-ended phase
    reset_optimizers: bool   # fresh optimizer state when this phase begins

    def describe(self) -> str:
        what = f"fade-in of {self.resolution}x{self.resolution}" if self.kind == "fade" else f"{self.resolution}x{self.resolution}"
        return f"phase {self.index} ({what}, batch {self.batch}, lr {self.lr_g:g}/{self.lr_d:g})"


class ConstantSchedule:
    """One phase, forever: the config's batch and batch_gpu at the dataset's resolution, and its learning rates held
    for `constant_kimg`, then taken linearly to 0 over `decay_kimg` (0: constant forever; lr_varies says whether the
    engine must set the rates before each step). The rate is a pure function of cur_nimg, so a resumed run continues
    the decay where it stopped. Keys: train.lr_constant_kimg / train.lr_decay_kimg (make_schedule); pix2pix and
    CycleGAN pass their reference's model.lr_constant_kimg / model.lr_decay_kimg (models/translation/schedule.py)."""

    has_stages = False

    def __init__(self, cfg: dict, img_resolution: int, constant_kimg: float = 0.0, decay_kimg: float = 0.0,
                 keys: str = "train.lr_constant_kimg / train.lr_decay_kimg"):
        t, o = cfg["train"], cfg["optim"]
        self.constant, self.decay = int(round(constant_kimg * 1000)), int(round(decay_kimg * 1000))
        if self.constant < 0 or self.decay < 0:
            raise UsageError(f"config keys {keys}: must be >= 0")
        self.lr_varies = self.decay > 0
        self.res, self.batch, self.batch_gpu = int(img_resolution), t["batch"], t["batch_gpu"]
        self.lr_g, self.lr_d = o["g"]["lr"], o["d"]["lr"]

    def factor(self, cur_nimg: int) -> float:
        """The share of the configured rates in use after cur_nimg images: 1, then a straight line to 0."""
        if self.decay == 0:
            return 1.0
        return 1.0 - min(max(cur_nimg - self.constant, 0) / self.decay, 1.0)

    def at(self, cur_nimg: int) -> Stage:
        f = self.factor(int(cur_nimg))
        return Stage(0, "constant", self.res, 1.0, self.batch, self.batch_gpu, self.lr_g * f, self.lr_d * f, 0, None,
                     False)

    def process_reals(self, real: torch.Tensor, stage: Stage) -> torch.Tensor:
        return real


class ProgressiveSchedule:
    """Progressive growing: start_res stabilises for phase_kimg, then each next resolution fades in over fade_kimg and
    stabilises for phase_kimg, up to the dataset's resolution, whose stabilise phase never ends.

    A resolution's batch and learning rate (the `progressive.batch` / `progressive.lr` maps) apply from the start of its
    own fade-in, as in the official code (its minibatch lookup uses the resolution being faded in).
    """

    has_stages = True

    def __init__(self, cfg: dict, img_resolution: int):
        p, t, o = cfg["progressive"], cfg["train"], cfg["optim"]
        self.final_res = int(img_resolution)
        start = int(p["start_res"])
        if start < 4 or start & (start - 1) or start > self.final_res:
            raise UsageError(f"config key progressive.start_res: {start} must be a power of two between 4 and the "
                             f"dataset's resolution {self.final_res}")
        for key in ("batch", "batch_gpu", "lr"):
            bad = [r for r in p[key] if r > self.final_res]
            if bad:
                raise UsageError(f"config key progressive.{key}: resolution {bad[0]} is above the dataset's resolution "
                                 f"{self.final_res}; use keys from {start} to {self.final_res}")
        for key in ("phase_kimg", "fade_kimg"):
            if p[key] < 0:
                raise UsageError(f"config key progressive.{key}: must be >= 0, got {p[key]}")
        self.resolutions = [2**k for k in range(int(math.log2(start)), int(math.log2(self.final_res)) + 1)]
        phase_nimg, fade_nimg = int(round(p["phase_kimg"] * 1000)), int(round(p["fade_kimg"] * 1000))
        self._phases: list[tuple[str, int, int, int | None]] = []  # (kind, resolution, start_nimg, end_nimg)
        pos = 0
        for i, res in enumerate(self.resolutions):
            if i > 0 and fade_nimg > 0:
                self._phases.append(("fade", res, pos, pos + fade_nimg))
                pos += fade_nimg
            last = i == len(self.resolutions) - 1
            if last or phase_nimg > 0:
                self._phases.append(("stabilise", res, pos, None if last else pos + phase_nimg))
                pos += phase_nimg
        self._batch, self._batch_gpu, self._lr = p["batch"], p["batch_gpu"], p["lr"]
        self._default_batch, self._default_batch_gpu = t["batch"], t["batch_gpu"]
        self._lr_g, self._lr_d = o["g"]["lr"], o["d"]["lr"]
        self._reset = bool(p["reset_optimizers"])

    def _index(self, cur_nimg: int) -> int:
        for i, (_, _, start, end) in enumerate(self._phases):
            if end is None or cur_nimg < end:
                return i
        return len(self._phases) - 1

    def at(self, cur_nimg: int) -> Stage:
        i = self._index(int(cur_nimg))
        kind, res, start, end = self._phases[i]
        alpha = 1.0
        if kind == "fade":
            alpha = min(max((cur_nimg - start) / (end - start), 0.0), 1.0)
        return Stage(i, kind, res, alpha, self._batch.get(res, self._default_batch),
                     self._batch_gpu.get(res, self._default_batch_gpu), self._lr.get(res, self._lr_g),
                     self._lr.get(res, self._lr_d), start, end, self._reset and i > 0)

    def phases(self) -> list[Stage]:
        """Every phase's opening stage, in order (for reports and `presets show`)."""
        return [self.at(start) for _, _, start, _ in self._phases]

    def process_reals(self, real: torch.Tensor, stage: Stage) -> torch.Tensor:
        """Reals at the stage's resolution, blended like the official code during a fade.

        Box-downsample the dataset images to the current resolution (the official dataset stores each level as the
        2x2 box average of the one above), then, while the new resolution fades in, lerp toward the 2x-coarser version
        upsampled back: x + (up(avgpool2(x)) - x) * (1 - alpha). G's output is blended the same way, so D never
        sees a sharper real than fake.
        """
        factor = real.shape[-1] // stage.resolution
        if factor > 1:
            real = F.avg_pool2d(real, factor)
        if stage.alpha < 1.0 and stage.resolution > 4:
            coarse = F.interpolate(F.avg_pool2d(real, 2), scale_factor=2, mode="nearest")
            real = torch.lerp(real, coarse, 1.0 - stage.alpha)
        return real


def make_schedule(cfg: dict, img_resolution: int):
    """The family's schedule, or the constant one (the engine asks the family, never its name)."""
    from ganctl.models import get_family

    family, t = get_family(cfg["model"]["family"]), cfg["train"]
    if family.make_schedule is None:
        return ConstantSchedule(cfg, img_resolution, t["lr_constant_kimg"], t["lr_decay_kimg"])
    if t["lr_decay_kimg"] or t["lr_constant_kimg"]:
        # Its own schedule sets the rates: ignoring the keys would train at rates the config does not say.
        raise UsageError(f"config keys train.lr_constant_kimg / train.lr_decay_kimg: model.family={family.name} sets its "
                         f"rates by its own schedule; unset them")
    return family.make_schedule(cfg, img_resolution)
