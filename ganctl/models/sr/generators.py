"""Super-resolution generators with BasicSR's module names (so its .pth state dicts load as they are): RRDBNet (ESRGAN,
Real-ESRGAN; x2 and x1 through pixel-unshuffle), MSRResNet (BasicSR's SRGAN generator) and SRVGGNetCompact
(realesr-general / animevideo). Each maps an LR batch in [-1, 1] (or any range: they are affine-free at the ends) to
the HR batch, `scale` times larger.

Value range: ganctl passes images in [-1, 1]; BasicSR's networks (and the weights users have) work in [0, 1]. Each
network's `forward01` is BasicSR's forward on [0, 1]; `forward` maps [-1, 1] onto it and back, so the same weights
serve both without retraining."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def scaled_kaiming_(modules, scale: float) -> None:
    """Kaiming-normal conv weights times `scale`, zero biases: BasicSR's default_init_weights, which keeps deep
    residual stacks near identity at the start (ESRGAN's 0.1)."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.zero_()


class SRNet(nn.Module):
    """Base of the generators: [-1, 1] in and out around BasicSR's [0, 1] forward."""

    def forward(self, x):
        return self.forward01((x + 1) * 0.5) * 2 - 1


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing all earlier features (growth `num_grow_ch`); output scaled by 0.2 plus input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        for i in range(5):
            cin = num_feat + i * num_grow_ch
            setattr(self, f"conv{i + 1}", nn.Conv2d(cin, num_grow_ch if i < 4 else num_feat, 3, 1, 1))
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        scaled_kaiming_([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x):
        feats = [x]
        for i in range(1, 5):
            feats.append(self.lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks, the sum scaled by 0.2 plus the input."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(SRNet):
    """ESRGAN's generator (Wang et al. 2018). The body always upsamples x4 (two nearest x2 + conv stages); scale 2 and
    1 first pixel-unshuffle the input by 2 or 4 (Real-ESRGAN's x2plus), which multiplies the input channels."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64, num_block: int = 23,
                 num_grow_ch: int = 32):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet scale {scale}: 1, 2 or 4")
        self.scale, self.img_channels = scale, num_out_ch
        self.unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward01(self, x):
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv plus identity, no batch norm (EDSR's block)."""

    def __init__(self, num_feat: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        scaled_kaiming_([self.conv1, self.conv2], 0.1)

    def forward(self, x):
        return x + self.conv2(self.relu(self.conv1(x)))


class MSRResNet(SRNet):
    """BasicSR's modified SRResNet (SRGAN's generator without batch norm): residual blocks, pixel-shuffle upsampling
    (x2, x3, or x4 as two x2), plus the bilinear upsampled input."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16, upscale: int = 4):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"MSRResNet upscale {upscale}: 2, 3 or 4")
        self.scale, self.img_channels = upscale, num_out_ch
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        step = 2 if upscale == 4 else upscale
        self.upconv1 = nn.Conv2d(num_feat, num_feat * step * step, 3, 1, 1)
        if upscale == 4:
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.pixel_shuffle = nn.PixelShuffle(step)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        scaled_kaiming_([self.conv_first, self.upconv1, self.conv_hr, self.conv_last]
                        + ([self.upconv2] if upscale == 4 else []), 0.1)

    def forward01(self, x):
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.scale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


class SRVGGNetCompact(SRNet):
    """Real-ESRGAN's compact network: a plain conv stack at LR, one pixel-shuffle at the end, plus the nearest
    upsampled input (so it learns the residual). `body` indices match Real-ESRGAN's files (conv, act, conv, act, ...)."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16, upscale: int = 4,
                 act_type: str = "prelu"):
        super().__init__()
        if act_type not in ("relu", "prelu", "leakyrelu"):
            raise ValueError(f"SRVGGNetCompact act_type {act_type!r}: relu, prelu or leakyrelu")
        self.scale, self.img_channels = upscale, num_out_ch

        def act():
            if act_type == "prelu":
                return nn.PReLU(num_parameters=num_feat)
            return nn.ReLU(inplace=True) if act_type == "relu" else nn.LeakyReLU(0.1, inplace=True)

        layers = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), act()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), act()]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    def forward01(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")
