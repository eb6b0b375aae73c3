"""Dynamic loss scaling for fp16 training: gradients are computed on loss * scale so small values survive fp16, then
unscaled; an overflow (non-finite gradient) halves the scale and skips the step, and every 2000 good steps double it.

The scale and the good-step count are counters in every checkpoint, so a resumed fp16 run scales exactly as an
uninterrupted one. In any other precision the scale is 1 and nothing here changes a step.
"""

from __future__ import annotations

import torch

INITIAL_SCALE = 2.0**15
MAX_SCALE = 2.0**24
GROWTH_INTERVAL = 2000


class LossScaler:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.scale = INITIAL_SCALE if enabled else 1.0
        self.good_steps = 0

    def unscale_(self, params: list[torch.Tensor]) -> None:
        if self.scale != 1.0:
            for p in params:
                p.grad.div_(self.scale)

    def overflowed(self, finite: bool) -> bool:
        """After unscaling: True when this step must be skipped as an expected fp16 overflow (the scale is halved)."""
        if finite or not self.enabled or self.scale <= 1.0:
            return False
        self.scale /= 2
        self.good_steps = 0
        return True

    def stepped(self) -> None:
        """Count a step that went through; grow the scale after GROWTH_INTERVAL of them."""
        if self.enabled:
            self.good_steps += 1
            if self.good_steps % GROWTH_INTERVAL == 0:
                self.scale = min(self.scale * 2, MAX_SCALE)

    def state(self) -> dict:
        return {"loss_scale": self.scale, "good_steps": self.good_steps}

    def load(self, counters: dict) -> None:
        self.scale = counters.get("loss_scale", self.scale)
        self.good_steps = counters.get("good_steps", 0)
