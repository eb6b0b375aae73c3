"""DCGAN (Radford et al. 2015): transposed-conv generator and strided-conv discriminator, any power-of-two resolution.

Options cover the classic variants: class conditioning (embedding concatenated to z in G, projection in D),
minibatch stddev and/or Salimans et al.'s minibatch discrimination on D's last features, and the D normalisation
(batch norm for the original, layer/instance-free `none` for WGAN-GP, whose gradient penalty assumes per-sample
independence). Under several processes the batch norms become cross-replica (models/cross_replica_bn.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganctl.errors import UsageError
from ganctl.losses.adversarial import CLASSIC_LOSSES
from ganctl.models.family import Export, Family
from ganctl.models.layers import (ClassEmbedding, MinibatchStdDev, ProjectionHead, build_minibatch_discrimination,
                                  scale_latent)

DEFAULTS = {
    "z_dim": 100,
    "g_channels": 64,
    "d_channels": 64,
    "channel_max": 512,
    "d_norm": "batch",  # batch | layer | none
    "mbstd_group": 0,
    "mbdisc_kernels": 0,  # minibatch discrimination kernels B (0 = off; Salimans et al. use 100)
    "mbdisc_dim": 5,      # minibatch discrimination dims per kernel C
    "embed_dim": 32,
}


def _levels(img_resolution: int) -> int:
    if img_resolution < 8 or img_resolution & (img_resolution - 1):
        raise UsageError(f"dcgan: resolution {img_resolution} must be a power of two >= 8; prepare the data with --resolution 32 or 64")
    return int(math.log2(img_resolution)) - 2  # number of 2x stages from 4x4


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim, g_channels, channel_max, img_resolution, img_channels, num_classes, embed_dim):
        super().__init__()
        self.z_dim, self.c_dim = z_dim, num_classes
        self.img_resolution, self.img_channels = img_resolution, img_channels
        n = _levels(img_resolution)
        chans = [min(g_channels * 2 ** (n - 1 - i), channel_max) for i in range(n)]  # 4x4 ... res/2
        self.embed = ClassEmbedding(num_classes, embed_dim) if num_classes else None
        in_dim = z_dim + (embed_dim if num_classes else 0)
        layers = [nn.ConvTranspose2d(in_dim, chans[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], img_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const"):
        h = scale_latent(z, truncation_psi)
        if self.embed is not None:
            h = torch.cat([h, self.embed(c)], dim=1)
        return self.net(h[:, :, None, None])


def _norm(kind: str, channels: int, res: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # per-sample, so gradient penalties stay valid
    return nn.Identity()


class DCGANDiscriminator(nn.Module):
    """Strided convs down to 4x4, then [minibatch stddev] -> flatten -> [minibatch discrimination] -> score.

    `return_features=True` also returns the flattened 4x4 features, the penultimate layer feature matching uses
    (before the batch-level layers, which describe the batch rather than the sample).
    `mbdisc(in_features)` builds the minibatch-discrimination layer or returns None (off)."""

    def __init__(self, d_channels, channel_max, d_norm, img_resolution, img_channels, num_classes, mbstd_group,
                 mbdisc=None):
        super().__init__()
        n = _levels(img_resolution)
        chans = [min(d_channels * 2**i, channel_max) for i in range(n)]  # res/2 ... 4x4
        layers = [nn.Conv2d(img_channels, chans[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        res = img_resolution // 2
        for a, b in zip(chans[:-1], chans[1:]):
            res //= 2
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=d_norm == "none"), _norm(d_norm, b, res), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers)
        self.mbstd = MinibatchStdDev(mbstd_group, 1) if mbstd_group else None
        c_last = chans[-1] + (1 if mbstd_group else 0)
        self.mbdisc = mbdisc(c_last * 16) if mbdisc else None
        self.head = ProjectionHead(c_last * 16 + (self.mbdisc.kernels if self.mbdisc else 0), num_classes)

    def forward(self, img, c=None, return_features=False):
        h = self.body(img)
        feats = h.flatten(1)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = h.flatten(1)
        if self.mbdisc is not None:
            h = self.mbdisc(h)
        out = self.head(h, c)
        return (out, feats) if return_features else out


def _init_weights(m: nn.Module) -> None:
    # DCGAN paper init: N(0, 0.02) convs, N(1, 0.02) norm scales.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    if model_cfg["d_norm"] not in ("batch", "layer", "none"):
        raise UsageError(f"config key model.d_norm: {model_cfg['d_norm']!r} is not one of batch, layer, none")
    G = DCGANGenerator(model_cfg["z_dim"], model_cfg["g_channels"], model_cfg["channel_max"], img_resolution, img_channels,
                       num_classes, model_cfg["embed_dim"])
    D = DCGANDiscriminator(model_cfg["d_channels"], model_cfg["channel_max"], model_cfg["d_norm"], img_resolution,
                           img_channels, num_classes, model_cfg["mbstd_group"],
                           lambda n: build_minibatch_discrimination(model_cfg, n))
    G.apply(_init_weights)
    D.apply(_init_weights)
    return G, D


FAMILY = Family(
    name="dcgan", defaults=DEFAULTS, build=build, losses=CLASSIC_LOSSES, precision="bf16", truncation="z_scale",
    uses_batchnorm=True, doc="transposed-conv G, strided-conv D (Radford et al. 2015)",
    export=Export(parts=("full",)),
)
