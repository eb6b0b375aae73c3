"""The Progressive GAN generator (the official code's G_paper): a 4x4 block from the latent, then one block per
doubling of resolution, each with its own toRGB, of which the current stage runs the blocks up to its resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.models.layers import ClassEmbedding, psi_is_one
from ganctl.models.progan.layers import EqualizedConv2d, EqualizedLinear, GrowingStage, nf, pixel_norm, upscale2d


class _Act(nn.Module):
    """lrelu 0.2 then (optionally) pixelwise feature normalisation: what follows every G conv."""

    def __init__(self, use_pixelnorm: bool, eps: float):
        super().__init__()
        self.use_pixelnorm, self.eps = use_pixelnorm, eps

    def forward(self, x):
        x = F.leaky_relu(x, 0.2)
        return pixel_norm(x, self.eps) if self.use_pixelnorm else x


class FirstBlock(nn.Module):
    """4x4: dense latent -> 16*C (gain sqrt(2)/4, the official override matching their Theano code), reshape, bias,
    lrelu, pixelnorm, then a 3x3 conv."""

    def __init__(self, in_dim: int, channels: int, act: _Act, use_wscale: bool):
        super().__init__()
        self.channels = channels
        self.dense = EqualizedLinear(in_dim, channels * 16, gain=math.sqrt(2) / 4, use_wscale=use_wscale, bias=False)
        self.bias = nn.Parameter(torch.zeros(channels))  # per channel, added after the reshape (as the official code)
        self.conv = EqualizedConv2d(channels, channels, 3, use_wscale=use_wscale)
        self.act = act

    def forward(self, x):
        x = self.dense(x).view(-1, self.channels, 4, 4) + self.bias.view(1, -1, 1, 1)
        x = self.act(x)
        return self.act(self.conv(x))


class UpBlock(nn.Module):
    """Nearest upscale x2, then two 3x3 convs, each followed by lrelu and pixelnorm."""

    def __init__(self, in_channels: int, channels: int, act: _Act, use_wscale: bool):
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, channels, 3, use_wscale=use_wscale)
        self.conv1 = EqualizedConv2d(channels, channels, 3, use_wscale=use_wscale)
        self.act = act

    def forward(self, x):
        x = self.act(self.conv0(upscale2d(x)))
        return self.act(self.conv1(x))


class Generator(GrowingStage):
    """G(z, c) -> images in [-1, 1]-ish (linear output, as the paper) at the current stage's resolution.

    Class conditioning (num_classes > 0): a learned label embedding is concatenated to the pixel-normalised latent.
    The official code concatenates a one-hot label before the normalisation and trains an auxiliary classifier in D;
    ganctl's classic families use embedding + projection discriminator instead, and ProGAN follows them.
    """

    def __init__(self, z_dim: int, img_resolution: int, img_channels: int, num_classes: int = 0, *, fmap_base: int = 8192,
                 fmap_decay: float = 1.0, fmap_max: int = 512, embed_dim: int = 32, normalize_latents: bool = True,
                 use_pixelnorm: bool = True, use_wscale: bool = True, pixelnorm_eps: float = 1e-8):
        super().__init__(img_resolution)
        self.z_dim, self.c_dim = z_dim, num_classes
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.normalize_latents, self.pixelnorm_eps = normalize_latents, pixelnorm_eps
        self.embed = ClassEmbedding(num_classes, embed_dim) if num_classes else None
        act = _Act(use_pixelnorm, pixelnorm_eps)
        log2 = int(math.log2(img_resolution))
        ch = [nf(r - 1, fmap_base, fmap_decay, fmap_max) for r in range(log2 + 1)]  # ch[r]: channels at 2**r
        self.resolutions = [2**r for r in range(2, log2 + 1)]
        for r in range(2, log2 + 1):
            res = 2**r
            if r == 2:
                block = FirstBlock(z_dim + (embed_dim if num_classes else 0), ch[2], act, use_wscale)
            else:
                block = UpBlock(ch[r - 1], ch[r], act, use_wscale)
            setattr(self, f"b{res}", block)
            setattr(self, f"torgb{res}", EqualizedConv2d(ch[r], img_channels, 1, gain=1.0, use_wscale=use_wscale))

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const"):
        # truncation_cutoff and noise_mode belong to style-based families; ProGAN has neither.
        res, alpha = self.stage()
        h = pixel_norm(z, self.pixelnorm_eps) if self.normalize_latents else z
        if not psi_is_one(truncation_psi):
            # z_scale truncation acts after the normalisation, which would otherwise undo it.
            h = h * truncation_psi
        if self.embed is not None:
            if c is None:
                raise ValueError("this generator is class-conditional: pass class labels")
            h = torch.cat([h, self.embed(c)], dim=1)
        x = self.b4(h)
        prev = x
        for r in self.resolutions[1:]:
            if r > res:
                break
            prev, x = x, getattr(self, f"b{r}")(x)
        img = getattr(self, f"torgb{res}")(x)
        if alpha < 1:
            # Fade-in: the previous resolution's image, upscaled, blended with the new block's.
            old = upscale2d(getattr(self, f"torgb{res // 2}")(prev))
            img = torch.lerp(old, img, alpha)
        return img
