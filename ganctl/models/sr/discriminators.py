"""Super-resolution discriminators with BasicSR's module names: the VGG-style D of SRGAN/ESRGAN (one logit per
image) and Real-ESRGAN's U-Net D with spectral norm (one logit per pixel)."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class VGGStyleDiscriminator(nn.Module):
    """Pairs of (3x3 conv, 4x4 stride-2 conv), each followed by batch norm (except the first conv) and LReLU 0.2, down
    to 4x4, then linear 100 -> 1. BasicSR builds it for 128 px (5 pairs) or 256 px (6); other powers of two >= 8 get
    log2(size / 4) pairs (sr-tiny's 32 px: 3). Channels nf, 2nf, 4nf, 8nf, 8nf, 8nf."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        n = int(math.log2(input_size)) - 2
        if input_size < 8 or 2 ** (n + 2) != input_size:
            raise ValueError(f"VGGStyleDiscriminator input_size {input_size}: a power of two >= 8")
        self.input_size, self.n_stages = input_size, n
        ch = [num_feat * min(2 ** i, 8) for i in range(n)]
        cin = num_in_ch
        for i in range(n):
            setattr(self, f"conv{i}_0", nn.Conv2d(cin, ch[i], 3, 1, 1, bias=(i == 0)))
            if i:
                setattr(self, f"bn{i}_0", nn.BatchNorm2d(ch[i]))
            setattr(self, f"conv{i}_1", nn.Conv2d(ch[i], ch[i], 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(ch[i]))
            cin = ch[i]
        self.linear1 = nn.Linear(ch[-1] * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            raise ValueError(f"VGGStyleDiscriminator takes {self.input_size}x{self.input_size} inputs, got "
                             f"{x.shape[-1]}x{x.shape[-2]}")
        feat = x
        for i in range(self.n_stages):
            feat = getattr(self, f"conv{i}_0")(feat)
            feat = self.lrelu(getattr(self, f"bn{i}_0")(feat) if i else feat)
            feat = self.lrelu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)))
        return self.linear2(self.lrelu(self.linear1(feat.flatten(1))))


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's D: conv0, three spectral-norm stride-2 convs, three bilinear x2 ups with spectral-norm convs and
    additive skips, two more spectral-norm convs, conv -> 1 logit per pixel. Inputs divisible by 8."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = skip_connection
        nf = num_feat
        self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x):
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"UNetDiscriminatorSN takes sizes divisible by 8, got {x.shape[-1]}x{x.shape[-2]}")
        act = lambda t: F.leaky_relu(t, 0.2)
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv8(act(self.conv7(x6))))
        return self.conv9(out)
