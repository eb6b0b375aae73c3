"""BigGAN's discriminator: residual down-blocks (average pooling), optional self-attention after chosen blocks, ReLU,
global sum pooling, and a linear score plus the projection <embed(y), h> (Miyato & Koyama 2018), all spectrally normalised.

`return_features=True` also returns the pooled features h (D's penultimate layer), as the other families' D does,
for feature matching.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.models.biggan.generator import plan_for
from ganctl.models.biggan.layers import DBlock, SelfAttention, SNEmbedding, SNLinear

# (out channels as multiples of ch, downsample per block), per input resolution (BigGAN-PyTorch's D_arch).
D_PLANS = {
    32: ([4, 4, 4, 4], [True, True, False, False]),
    64: ([1, 2, 4, 8, 16], [True] * 4 + [False]),
    128: ([1, 2, 4, 8, 16, 16], [True] * 5 + [False]),
    256: ([1, 2, 4, 8, 8, 16, 16], [True] * 6 + [False]),
}


class BigGANDiscriminator(nn.Module):
    def __init__(self, ch: int, attn_res, img_resolution: int, img_channels: int, num_classes: int, sn_eps: float,
                 mbdisc=None):
        """`mbdisc(in_features)` builds Salimans et al.'s minibatch-discrimination layer on the pooled features, or
        returns None (off, BigGAN's own setting)."""
        super().__init__()
        c_out, down = plan_for(img_resolution, D_PLANS, "discriminator")
        self.c_dim = num_classes
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        c_prev, res = img_channels, img_resolution
        for i, (m, d) in enumerate(zip(c_out, down)):
            self.blocks.append(DBlock(c_prev, ch * m, d, preactivation=i > 0, sn_eps=sn_eps))
            c_prev = ch * m
            res = res // 2 if d else res
            if res in attn_res:
                self.attn[str(i)] = SelfAttention(c_prev, sn_eps)
        self.mbdisc = mbdisc(c_prev) if mbdisc else None
        self.linear = SNLinear(c_prev + (self.mbdisc.kernels if self.mbdisc else 0), 1, sn_eps=sn_eps)
        self.embed = SNEmbedding(num_classes, c_prev, sn_eps=sn_eps) if num_classes else None

    def forward(self, img, c=None, return_features=False):
        h = img
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        h = torch.sum(F.relu(h), dim=(2, 3))  # global sum pooling (SN-GAN)
        out = self.linear(self.mbdisc(h) if self.mbdisc is not None else h)
        if self.embed is not None:
            if c is None:
                raise ValueError("this discriminator is class-conditional: pass class labels")
            out = out + (self.embed(c) * h).sum(dim=1, keepdim=True)
        return (out, h) if return_features else out
