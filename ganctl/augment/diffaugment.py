"""DiffAugment (Zhao et al. 2020): a fixed, always-on differentiable policy of colour, translation and cutout.

Simpler than ADA (no controller), effective for small datasets with short runs. Policy is a comma list of
`color`, `translation`, `cutout`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.errors import UsageError

POLICIES = ("color", "translation", "cutout")


class DiffAugment(nn.Module):
    def __init__(self, policy: str = "color,translation,cutout"):
        super().__init__()
        self.policy = [p.strip() for p in policy.split(",") if p.strip()]
        for p in self.policy:
            if p not in POLICIES:
                raise UsageError(f"config key augment.policy: {p!r} is not one of {', '.join(POLICIES)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for p in self.policy:
            x = getattr(self, "_" + p)(x)
        return x

    @staticmethod
    def _color(x):
        n = x.shape[0]
        x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)
        if x.shape[1] > 1:
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2) + mean
        mean = x.mean(dim=[1, 2, 3], keepdim=True)
        return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean

    @staticmethod
    def _translation(x, ratio=0.125):
        n, _, h, w = x.shape
        sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
        ty = torch.randint(-sh, sh + 1, (n,), device=x.device)
        tx = torch.randint(-sw, sw + 1, (n,), device=x.device)
        # Shift by gathering from a zero-padded copy: differentiable, exact integer pixels.
        pad = F.pad(x, [sw, sw, sh, sh])
        yy = (torch.arange(h, device=x.device)[None, :] - ty[:, None] + sh).clamp(0, h + 2 * sh - 1)
        xx = (torch.arange(w, device=x.device)[None, :] - tx[:, None] + sw).clamp(0, w + 2 * sw - 1)
        idx_n = torch.arange(n, device=x.device)[:, None, None]
        out = pad.permute(0, 2, 3, 1)[idx_n, yy[:, :, None], xx[:, None, :]]
        return out.permute(0, 3, 1, 2)

    @staticmethod
    def _cutout(x, ratio=0.5):
        n, _, h, w = x.shape
        ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
        cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
        cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
        yy = torch.arange(h, device=x.device).view(1, h, 1)
        xx = torch.arange(w, device=x.device).view(1, 1, w)
        inside = ((yy - cy).abs() <= ch // 2) & ((xx - cx).abs() <= cw // 2)
        return x * (~inside).unsqueeze(1).to(x.dtype)
