"""StyleGAN2's discriminator: fromRGB at full resolution, residual 2x-down blocks, and a 4x4 epilogue with minibatch
standard deviation. Class-conditional D scores by projection onto a learned class embedding (NVlabs' cmap)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ganctl.models.stylegan2.layers import (RESAMPLE_TAPS, Conv2dLayer, FullyConnectedLayer, fp16_resolution,
                                            mixed_precision_dtype)
from ganctl.models.stylegan2.mapping import MappingNetwork

ARCHITECTURES = ("resnet", "orig")


class DiscriminatorBlock(nn.Module):
    """(fromRGB) -> conv 3x3 -> conv 3x3 with 2x FIR down; 'resnet' adds a 1x1 down skip, both branches scaled by
    sqrt(1/2) to keep the variance."""

    def __init__(self, in_channels, tmp_channels, out_channels, img_channels, architecture="resnet", use_fp16=False,
                 conv_clamp=None, resample_filter=RESAMPLE_TAPS):
        super().__init__()
        self.in_channels, self.use_fp16, self.architecture = in_channels, use_fp16, architecture
        self.fromrgb = (Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
                        if in_channels == 0 else None)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        self.skip = (Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)
                     if architecture == "resnet" else None)

    def forward(self, x, img, force_fp32=False):
        ref = img if x is None else x
        dtype = torch.float32 if force_fp32 else mixed_precision_dtype(self.use_fp16, ref)
        if self.fromrgb is not None:
            x = self.fromrgb(img.to(dtype))
        else:
            x = x.to(dtype)
        if self.skip is not None:
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=math.sqrt(0.5))
            return y + x
        return self.conv1(self.conv0(x))


class MinibatchStdLayer(nn.Module):
    """Appends the std of features across groups of `group_size` samples (averaged to `num_channels` maps), letting
    D see a lack of variety in a fake batch. A batch not divisible by the group uses the largest group that divides."""

    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x):
        N, C, H, W = x.shape
        G = min(self.group_size, N) if self.group_size else N
        while N % G:
            G -= 1
        F = self.num_channels
        y = x.reshape(G, -1, F, C // F, H, W)
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])
        y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: mbstd -> conv -> FC -> logit (or cmap projection). Always fp32."""

    def __init__(self, in_channels, cmap_dim, resolution=4, mbstd_group=4, mbstd_channels=1, conv_clamp=None):
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStdLayer(mbstd_group, mbstd_channels) if mbstd_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, cmap):
        x = x.to(torch.float32)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if cmap is not None:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """img (N, C, H, W) float in [-1, 1], c int64 (N,) or None -> logits (N, 1) float32."""

    def __init__(self, c_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_fp16_res=4,
                 conv_clamp=256, mbstd_group=4, mbstd_channels=1, architecture="resnet", cmap_dim=None,
                 cmap_layers=8, mapping_lr_mult=0.01):
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_res = fp16_resolution(img_resolution, num_fp16_res)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels[res], channels[res // 2], img_channels,
                                       architecture=architecture, use_fp16=(num_fp16_res > 0 and res >= fp16_res),
                                       conv_clamp=conv_clamp)
            setattr(self, f"b{res}", block)
        self.mapping = (MappingNetwork(0, c_dim, cmap_dim, None, num_layers=cmap_layers, lr_multiplier=mapping_lr_mult,
                                       w_avg_beta=None) if c_dim > 0 else None)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, mbstd_group=mbstd_group, mbstd_channels=mbstd_channels,
                                        conv_clamp=conv_clamp)

    def forward(self, img, c=None, force_fp32=False):
        if img.ndim != 4 or img.shape[1:] != (self.img_channels, self.img_resolution, self.img_resolution):
            raise ValueError(f"D expects images (N, {self.img_channels}, {self.img_resolution}, "
                             f"{self.img_resolution}), got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.mapping is not None else None
        return self.b4(x, cmap)
