"""The vanilla GAN: fully-connected generator and discriminator (Goodfellow et al. 2014), optionally class-conditional,
with optional minibatch stddev and/or minibatch discrimination (Salimans et al. 2016) before D's output layer."""

from __future__ import annotations

import torch
from torch import nn

from ganctl.models.family import Export, Family
from ganctl.losses.adversarial import CLASSIC_LOSSES
from ganctl.models.layers import (ClassEmbedding, MinibatchStdDev, ProjectionHead, build_minibatch_discrimination,
                                  scale_latent)

DEFAULTS = {
    "z_dim": 64,
    "hidden": [256, 512, 1024],
    "d_hidden": [512, 256],
    "dropout": 0.3,
    "mbstd_group": 0,
    "mbdisc_kernels": 0,  # minibatch discrimination kernels B (0 = off; Salimans et al. use 100)
    "mbdisc_dim": 5,      # minibatch discrimination dims per kernel C
    "embed_dim": 16,
}


class MLPGenerator(nn.Module):
    def __init__(self, z_dim, hidden, img_resolution, img_channels, num_classes, embed_dim):
        super().__init__()
        self.z_dim, self.c_dim = z_dim, num_classes
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.embed = ClassEmbedding(num_classes, embed_dim) if num_classes else None
        dims = [z_dim + (embed_dim if num_classes else 0)] + list(hidden)
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        layers += [nn.Linear(dims[-1], img_channels * img_resolution**2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const"):
        h = scale_latent(z, truncation_psi)
        if self.embed is not None:
            h = torch.cat([h, self.embed(c)], dim=1)
        return self.net(h).view(-1, self.img_channels, self.img_resolution, self.img_resolution)


class MLPDiscriminator(nn.Module):
    """Hidden layers, then [minibatch stddev] -> [minibatch discrimination] -> score. `return_features=True` also
    returns the last hidden layer's output, the penultimate features feature matching uses.
    `mbdisc(in_features)` builds the minibatch-discrimination layer or returns None (off)."""

    def __init__(self, hidden, img_resolution, img_channels, num_classes, dropout, mbstd_group, mbdisc=None):
        super().__init__()
        dims = [img_channels * img_resolution**2] + list(hidden)
        layers = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)] + ([nn.Dropout(dropout)] if dropout else [])
        self.body = nn.Sequential(*layers)
        self.mbstd = MinibatchStdDev(mbstd_group, 1) if mbstd_group else None
        f = dims[-1] + (1 if mbstd_group else 0)
        self.mbdisc = mbdisc(f) if mbdisc else None
        self.head = ProjectionHead(f + (self.mbdisc.kernels if self.mbdisc else 0), num_classes)

    def forward(self, img, c=None, return_features=False):
        h = self.body(img.flatten(1))
        feats = h
        if self.mbstd is not None:
            h = self.mbstd(h)
        if self.mbdisc is not None:
            h = self.mbdisc(h)
        out = self.head(h, c)
        return (out, feats) if return_features else out


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    G = MLPGenerator(model_cfg["z_dim"], model_cfg["hidden"], img_resolution, img_channels, num_classes, model_cfg["embed_dim"])
    D = MLPDiscriminator(model_cfg["d_hidden"], img_resolution, img_channels, num_classes, model_cfg["dropout"],
                         model_cfg["mbstd_group"], lambda n: build_minibatch_discrimination(model_cfg, n))
    return G, D


FAMILY = Family(
    name="mlp", defaults=DEFAULTS, build=build, losses=CLASSIC_LOSSES, precision="bf16", truncation="z_scale",
    doc="fully-connected G and D (Goodfellow et al. 2014)",
    export=Export(parts=("full",)),
)
