"""The Progressive GAN discriminator (the official code's D_paper): fromRGB at the current resolution, one block per
halving down to 4x4, whose block holds the minibatch standard deviation and the dense head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.models.layers import MinibatchStdDev, ProjectionHead
from ganctl.models.progan.layers import EqualizedConv2d, EqualizedLinear, GrowingStage, downscale2d, nf


class FromRGB(nn.Module):
    def __init__(self, img_channels: int, channels: int, use_wscale: bool):
        super().__init__()
        self.conv = EqualizedConv2d(img_channels, channels, 1, use_wscale=use_wscale)

    def forward(self, x):
        return F.leaky_relu(self.conv(x), 0.2)


class DownBlock(nn.Module):
    """3x3 conv (C_in), 3x3 conv (C_out), 2x2 box downscale.

    The second conv is ordered as the official code's default fused conv2d_downscale2d: conv, box filter, then bias
    and lrelu (the filter is linear, so conv + filter is exactly their fused 4x4 stride-2 kernel).
    """

    def __init__(self, in_channels: int, out_channels: int, use_wscale: bool):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3, use_wscale=use_wscale)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, use_wscale=use_wscale)

    def forward(self, x):
        x = F.leaky_relu(self.conv0(x), 0.2)
        c = self.conv1
        x = downscale2d(F.conv2d(x, c.weight * c.scale, padding=c.padding)) + c.bias.view(1, -1, 1, 1)
        return F.leaky_relu(x, 0.2)


class LastBlock(nn.Module):
    """4x4: minibatch stddev (one extra channel), 3x3 conv, dense to nf(0), dense to the score (gain 1).

    Conditional: the score adds the projection <embed(c), features> (Miyato & Koyama) instead of the official code's
    auxiliary-classifier outputs; `features` is the nf(0)-wide dense output.
    """

    def __init__(self, channels: int, hidden: int, num_classes: int, mbstd_group: int, use_wscale: bool):
        super().__init__()
        self.mbstd = MinibatchStdDev(mbstd_group, 1) if mbstd_group > 1 else None
        self.conv = EqualizedConv2d(channels + (1 if self.mbstd else 0), channels, 3, use_wscale=use_wscale)
        self.dense0 = EqualizedLinear(channels * 16, hidden, use_wscale=use_wscale)
        self.head = ProjectionHead(hidden, num_classes)
        self.head.linear = EqualizedLinear(hidden, 1, gain=1.0, use_wscale=use_wscale)  # the official Dense1

    def forward(self, x, c=None):
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = F.leaky_relu(self.conv(x), 0.2)
        feats = F.leaky_relu(self.dense0(x.flatten(1)), 0.2)
        return self.head(feats, c), feats


class Discriminator(GrowingStage):
    """D(img, c) -> score (N, 1); `img` at the current stage's resolution."""

    def __init__(self, img_resolution: int, img_channels: int, num_classes: int = 0, *, fmap_base: int = 8192,
                 fmap_decay: float = 1.0, fmap_max: int = 512, mbstd_group: int = 4, use_wscale: bool = True):
        super().__init__(img_resolution)
        self.img_resolution, self.img_channels, self.c_dim = img_resolution, img_channels, num_classes
        log2 = int(math.log2(img_resolution))
        ch = [nf(r - 1, fmap_base, fmap_decay, fmap_max) for r in range(log2 + 1)]  # ch[r]: channels at 2**r
        self.resolutions = [2**r for r in range(log2, 1, -1)]  # final ... 4
        for r in range(log2, 1, -1):
            res = 2**r
            setattr(self, f"fromrgb{res}", FromRGB(img_channels, ch[r], use_wscale))
            if r > 2:
                setattr(self, f"b{res}", DownBlock(ch[r], ch[r - 1], use_wscale))
        self.b4 = LastBlock(ch[2], ch[1], num_classes, mbstd_group, use_wscale)

    def forward(self, img, c=None, return_features=False):
        res, alpha = self.stage()
        if img.shape[-1] != res or img.shape[-2] != res:
            raise ValueError(f"progan discriminator at stage {res}x{res} got {img.shape[-2]}x{img.shape[-1]} images")
        x = getattr(self, f"fromrgb{res}")(img)
        if res > 4:
            x = getattr(self, f"b{res}")(x)
            if alpha < 1:
                # Fade-in: mirror G on the input side; the half-resolution path reads the box-downscaled image.
                old = getattr(self, f"fromrgb{res // 2}")(downscale2d(img))
                x = torch.lerp(old, x, alpha)
        for r in self.resolutions:
            if 4 < r < res:
                x = getattr(self, f"b{r}")(x)
        out, feats = self.b4(x, c)
        return (out, feats) if return_features else out
