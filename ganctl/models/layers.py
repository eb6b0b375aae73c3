"""Small building blocks shared by the classic families: minibatch standard deviation, minibatch discrimination and
class-conditioning helpers.

Two different batch-level layers live here, both giving D a view of a batch's variety (a mode-collapse signal):
  - MinibatchStdDev (Karras et al. 2018, ProGAN/StyleGAN): no parameters; the features' standard deviation over a
    group of samples, averaged into one (or a few) extra channels. Config key `model.mbstd_group`.
  - MinibatchDiscrimination (Salimans et al. 2016, "Improved techniques for training GANs"): a learned tensor T
    projects each sample's features into B kernels of C dims; per kernel, each sample gets the sum over the *other*
    samples of exp(-L1 distance). Config keys `model.mbdisc_kernels` (B, 0 = off) and `model.mbdisc_dim` (C).
"""

from __future__ import annotations

import torch
from torch import nn

from ganctl.errors import UsageError


class MinibatchStdDev(nn.Module):
    """Appends the across-group standard deviation of features as extra channels: minibatch *standard deviation*
    (ProGAN), not Salimans et al.'s minibatch discrimination (that is `MinibatchDiscrimination`).

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


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2), not minibatch standard deviation (`MinibatchStdDev`).

    T has shape (A in_features, B kernels, C dim). For features x (N, A): M = x T reshaped to (N, B, C);
    c_b(i, j) = exp(-sum_c |M_ibc - M_jbc|); o_ib = sum over j != i of c_b(i, j) + bias_b (the sample itself is
    excluded, as in the authors' code); the output is concat[x, o], (N, A + B). A batch of near-identical samples (a
    collapsed G) gives o near N - 1, a varied one near 0, and D learns to tell them apart.

    Batched over kernels with an L1 `cdist`: memory O(N^2 B), no loop over samples. T starts N(0, 1/A): unit-norm
    projections in expectation (the authors' code weight-normalises T's columns to norm 1), so distances start O(C)
    rather than saturating exp(-d) at 0 or 1.
    """

    def __init__(self, in_features: int, kernels: int, dim: int):
        super().__init__()
        self.in_features, self.kernels, self.dim = in_features, kernels, dim
        self.T = nn.Parameter(torch.randn(in_features, kernels, dim) * in_features**-0.5)
        self.bias = nn.Parameter(torch.zeros(kernels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N = x.shape[0]
        M = (x @ self.T.flatten(1)).view(N, self.kernels, self.dim).transpose(0, 1)  # (B, N, C)
        closeness = torch.exp(-torch.cdist(M.float(), M.float(), p=1))  # (B, N, N), 1 on the diagonal
        others = ~torch.eye(N, dtype=torch.bool, device=x.device)
        o = (closeness * others).sum(dim=2).t() + self.bias  # (N, B): sum over j != i
        return torch.cat([x, o.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, kernels={self.kernels}, dim={self.dim}"


def build_minibatch_discrimination(model_cfg: dict, in_features: int) -> MinibatchDiscrimination | None:
    """The layer `model.mbdisc_kernels` / `model.mbdisc_dim` ask for (None when kernels is 0); refuses bad values."""
    kernels, dim = model_cfg.get("mbdisc_kernels", 0), model_cfg.get("mbdisc_dim", 5)
    if kernels < 0:
        raise UsageError(f"config key model.mbdisc_kernels: {kernels} is negative; use 0 (off) or a kernel count such as 100")
    if kernels and dim < 1:
        raise UsageError(f"config key model.mbdisc_dim: {dim} must be >= 1 (Salimans et al. use 5)")
    return MinibatchDiscrimination(in_features, kernels, dim) if kernels else None


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


def psi_is_one(truncation_psi) -> bool:
    """No truncation: psi is the number 1. A tensor psi (an input of an exported graph) always applies, so the graph
    has no branch on its value."""
    return not isinstance(truncation_psi, torch.Tensor) and truncation_psi == 1


def scale_latent(z: torch.Tensor, truncation_psi) -> torch.Tensor:
    """Truncation for z-input families: move z toward the prior's mean (0) by psi, the analogue of lerp(w_avg, w, psi)."""
    return z if psi_is_one(truncation_psi) else z * truncation_psi
