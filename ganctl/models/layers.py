"""Small building blocks shared by the classic families: minibatch standard deviation and class-conditioning helpers."""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStdDev(nn.Module):
    """Appends the across-group standard deviation of features as extra channels ("minibatch discrimination").

    Samples are split into groups of `group_size`; within each group the std of every feature is averaged into
    `num_channels` numbers per sample, which lets D see a lack of variety in a fake batch (a mode-collapse signal).
    Works on (N, C, H, W) and on flat (N, F) features.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.ndim == 2
        if flat:
            x = x[:, :, None, None]
        N, C, H, W = x.shape
        G = min(self.group_size, N) if self.group_size else N
        while N % G:  # fall back to the largest group size that divides the batch
            G -= 1
        F = self.num_channels
        c = C // F
        y = x.reshape(G, -1, F, c, H, W)
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])  # [N/G, F]
        y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)
        out = torch.cat([x, y], dim=1)
        return out.flatten(1) if flat else out


class ClassEmbedding(nn.Module):
    """Label -> learned vector, for concatenating to the latent in conditional generators."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, dim)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.embed(c)


class ProjectionHead(nn.Module):
    """Discriminator output: linear score plus, when conditional, the projection <embed(c), features> (Miyato & Koyama)."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes > 0 else None
        if self.embed is not None:
            # Embedding's default N(0, 1) would make the projection term ~sqrt(features) times larger than the linear
            # score at init and saturate the loss; start it at the scale of a unit-variance linear layer instead.
            nn.init.normal_(self.embed.weight, 0.0, features**-0.5)

    def forward(self, h: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        out = self.linear(h)
        if self.embed is not None:
            if c is None:
                raise ValueError("this discriminator is class-conditional: pass class labels")
            out = out + (self.embed(c) * h).sum(dim=1, keepdim=True)
        return out


def scale_latent(z: torch.Tensor, truncation_psi: float) -> torch.Tensor:
    """Truncation for z-input families: move z toward the prior's mean (0) by psi, the analogue of lerp(w_avg, w, psi)."""
    return z if truncation_psi == 1 else z * truncation_psi
