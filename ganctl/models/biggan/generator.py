"""BigGAN's generator (Brock et al. 2019): a linear layer to 4x4, residual up-blocks with class-conditional batch
norm, optional SAGAN self-attention after chosen blocks, and a BN-ReLU-conv3x3-tanh output.

Conditioning: with a shared class embedding (`shared_dim` > 0) every conditional BN sees that embedding; with a
hierarchical latent, z is cut into one chunk per block plus one for the first linear layer, and each block's BN sees
concat(embedding, its chunk). Without a shared embedding every BN holds its own per-class gain and bias tables.

Truncation is not applied here: for this family `--truncation` resamples z before G sees it (ganctl/sampling/latents.py,
the family's `truncation = "z_resample"`), so G refuses a truncation_psi other than 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.errors import UsageError
from ganctl.models.biggan.layers import ConditionalBatchNorm2d, GBlock, SelfAttention, SNConv2d, SNLinear

# Channel plans as multiples of `ch`, per output resolution (BigGAN-PyTorch's G_arch); every block doubles the size.
G_PLANS = {
    32: ([4, 4, 4], [4, 4, 4]),
    64: ([16, 16, 8, 4], [16, 8, 4, 2]),
    128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1]),
    256: ([16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]),
    512: ([16, 16, 8, 8, 4, 2, 1], [16, 8, 8, 4, 2, 1, 1]),
}
BOTTOM = 4


def plan_for(img_resolution: int, plans: dict, net: str):
    if img_resolution not in plans:
        raise UsageError(f"biggan: resolution {img_resolution} has no {net} plan; prepare the data at one of "
                         f"{', '.join(map(str, plans))} (e.g. --resolution 32)")
    return plans[img_resolution]


class BigGANGenerator(nn.Module):
    def __init__(self, ch: int, z_dim: int, attn_res, shared_dim: int, hier: bool, img_resolution: int, img_channels: int,
                 num_classes: int, bn_eps: float, sn_eps: float, embed_lr_mult: float = 1.0):
        super().__init__()
        self.embed_lr_mult = float(embed_lr_mult)
        c_in, c_out = plan_for(img_resolution, G_PLANS, "generator")
        n = len(c_in)
        self.z_dim, self.c_dim = z_dim, num_classes
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.hier = hier
        if hier:
            if z_dim % (n + 1):
                raise UsageError(f"config key model.z_dim: {z_dim} does not split into {n + 1} equal chunks (hierarchical z at "
                                 f"{img_resolution} px: {n} blocks + 1); use a multiple of {n + 1}, e.g. {(n + 1) * max(z_dim // (n + 1), 1)}")
            self.chunk = z_dim // (n + 1)
        else:
            self.chunk = z_dim
        self.shared = nn.Embedding(num_classes, shared_dim) if (num_classes and shared_dim) else None
        # What each block's conditional BN sees: a vector (linear gain/bias) or a class index (embedding tables).
        cond_dim = (shared_dim if self.shared is not None else 0) + (self.chunk if hier else 0)
        bn_classes = num_classes if self.shared is None else 0
        self.linear = SNLinear(self.chunk, ch * c_in[0] * BOTTOM * BOTTOM, sn_eps=sn_eps)
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        res = BOTTOM
        for i in range(n):
            res *= 2
            self.blocks.append(GBlock(ch * c_in[i], ch * c_out[i], cond_dim, bn_classes, bn_eps, sn_eps))
            if res in attn_res:
                self.attn[str(i)] = SelfAttention(ch * c_out[i], sn_eps)
        self.out_bn = ConditionalBatchNorm2d(ch * c_out[-1], 0, 0, bn_eps, sn_eps)  # plain affine BN
        self.out_conv = SNConv2d(ch * c_out[-1], img_channels, 3, sn_eps=sn_eps)

    def ortho_parameters(self):
        """The weights orthogonal regularisation acts on: 2+-dim parameters except the shared class embedding."""
        skip = {id(p) for p in self.shared.parameters()} if self.shared is not None else set()
        return [p for p in self.parameters() if p.ndim >= 2 and id(p) not in skip]

    def class_tables(self) -> list:
        """G's class embeddings: the shared one, or every conditional BN's per-class gain and bias tables."""
        if self.shared is not None:
            return list(self.shared.parameters())
        return [p for m in self.modules() if isinstance(getattr(m, "gain", None), nn.Embedding)
                for p in (m.gain.weight, m.bias.weight)]

    def lr_groups(self) -> list[dict]:
        """Adam parameter groups (engine/phases.py): the class tables at `embed_lr_mult` x G's lr when it
        is not 1. A table row only gets gradient from its own class's share of the batch, so with many classes they
        learn slowly at a rate at which the rest of a narrow G, fed the same rate, collapses to one image per class."""
        tables = self.class_tables() if self.embed_lr_mult != 1 else []
        if not tables:
            return [{"params": list(self.parameters())}]
        ids = {id(p) for p in tables}
        return [{"params": [p for p in self.parameters() if id(p) not in ids]},
                {"params": tables, "lr_mult": self.embed_lr_mult}]

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const"):
        if truncation_psi != 1:
            raise ValueError("biggan truncates by resampling z (ganctl.sampling.latents); call G with truncation_psi=1")
        if self.c_dim and c is None:
            raise ValueError("this generator is class-conditional: pass class labels")
        y = self.shared(c) if self.shared is not None else c
        if self.hier:
            zs = torch.split(z, self.chunk, dim=1)
            z0 = zs[0]
            ys = [torch.cat([y, zi], dim=1) if y is not None else zi for zi in zs[1:]]
        else:
            z0, ys = z, [y] * len(self.blocks)
        h = self.linear(z0).view(z.shape[0], -1, BOTTOM, BOTTOM)
        for i, block in enumerate(self.blocks):
            h = block(h, ys[i])
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h, None))))
