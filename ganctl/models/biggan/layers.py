"""BigGAN's building blocks: spectrally normalised layers, class-conditional batch norm, SAGAN self-attention and the
residual blocks of G and D.

Spectral norm (Miyato et al. 2018) keeps the power-iteration vector `u` as a buffer, so it travels with checkpoints,
G_ema copies and exact resume. Each forward pass in training mode runs one power iteration and stores the new `u`
(BigGAN-PyTorch's rule, so D's vector moves once per D forward pass); in eval mode `u` is read, never written. The
weight is divided by the estimate sigma = u^T W v, with gradients flowing through W only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpectralNorm:
    """Mixin for layers with a `weight`: `sn_weight()` is the weight divided by its largest singular value estimate."""

    def _init_sn(self, eps: float) -> None:
        self.sn_eps = eps
        # Rows of the [out, -1] weight matrix (num_embeddings for an embedding).
        self.register_buffer("u", torch.randn(self.weight.shape[0], device=self.weight.device))

    def sn_weight(self) -> torch.Tensor:
        W = self.weight.flatten(1)
        with torch.no_grad():
            v = F.normalize(self.u.to(W.dtype) @ W, dim=0, eps=self.sn_eps)
            u = F.normalize(W @ v, dim=0, eps=self.sn_eps)
            if self.training:
                self.u.copy_(u)
        sigma = u @ (W @ v)  # differentiable in W; u and v are constants
        return self.weight / sigma


class SNConv2d(nn.Conv2d, SpectralNorm):
    def __init__(self, in_channels, out_channels, kernel_size=3, padding=None, bias=True, sn_eps=1e-6):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2 if padding is None else padding,
                         bias=bias)
        self._init_sn(sn_eps)

    def forward(self, x):
        return self._conv_forward(x, self.sn_weight(), self.bias)


class SNLinear(nn.Linear, SpectralNorm):
    def __init__(self, in_features, out_features, bias=True, sn_eps=1e-6):
        super().__init__(in_features, out_features, bias=bias)
        self._init_sn(sn_eps)

    def forward(self, x):
        return F.linear(x, self.sn_weight(), self.bias)


class SNEmbedding(nn.Embedding, SpectralNorm):
    def __init__(self, num_embeddings, embedding_dim, sn_eps=1e-6):
        super().__init__(num_embeddings, embedding_dim)
        self._init_sn(sn_eps)

    def forward(self, idx):
        return F.embedding(idx, self.sn_weight())


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine, followed by a per-sample gain (1 + g(y)) and bias b(y).

    `cond_dim` > 0: y is a vector (shared class embedding, optionally with a z chunk) and g, b are spectrally normalised
    linears without bias. `cond_dim` == 0 and `num_classes` > 0: y is a class index and g, b are per-layer embeddings of
    width C (BigGAN without a shared embedding). Neither: an ordinary affine batch norm (unconditional G).
    """

    def __init__(self, channels: int, cond_dim: int, num_classes: int, bn_eps: float, sn_eps: float):
        super().__init__()
        self.affine = not cond_dim and not num_classes
        self.bn = nn.BatchNorm2d(channels, eps=bn_eps, affine=self.affine)
        if cond_dim:
            self.gain = SNLinear(cond_dim, channels, bias=False, sn_eps=sn_eps)
            self.bias = SNLinear(cond_dim, channels, bias=False, sn_eps=sn_eps)
        elif num_classes:
            self.gain = nn.Embedding(num_classes, channels)
            self.bias = nn.Embedding(num_classes, channels)

    def forward(self, x, y):
        out = self.bn(x)
        if self.affine:
            return out
        gain = 1 + self.gain(y)
        return out * gain[:, :, None, None] + self.bias(y)[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN's non-local block as BigGAN uses it: query C/8, key C/8 and value C/2 (keys and values 2x2 max-pooled),
    softmax over keys, a 1x1 output conv back to C, and x + gamma * o with gamma starting at 0 (identity at init)."""

    def __init__(self, channels: int, sn_eps: float):
        super().__init__()
        self.channels = channels
        self.theta = SNConv2d(channels, channels // 8, 1, padding=0, bias=False, sn_eps=sn_eps)
        self.phi = SNConv2d(channels, channels // 8, 1, padding=0, bias=False, sn_eps=sn_eps)
        self.g = SNConv2d(channels, channels // 2, 1, padding=0, bias=False, sn_eps=sn_eps)
        self.o = SNConv2d(channels // 2, channels, 1, padding=0, bias=False, sn_eps=sn_eps)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x, y=None):
        N, C, H, W = x.shape
        theta = self.theta(x).flatten(2)                          # (N, C/8, HW)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)             # (N, C/8, HW/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)                 # (N, C/2, HW/4)
        beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (N, HW, HW/4): each query over the keys
        o = self.o((g @ beta.transpose(1, 2)).view(N, C // 2, H, W))
        return x + self.gamma * o


class GBlock(nn.Module):
    """BN-ReLU-nearest up-conv3x3-BN-ReLU-conv3x3, plus an upsampled 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, num_classes: int, bn_eps: float, sn_eps: float):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(c_in, cond_dim, num_classes, bn_eps, sn_eps)
        self.conv1 = SNConv2d(c_in, c_out, 3, sn_eps=sn_eps)
        self.bn2 = ConditionalBatchNorm2d(c_out, cond_dim, num_classes, bn_eps, sn_eps)
        self.conv2 = SNConv2d(c_out, c_out, 3, sn_eps=sn_eps)
        self.conv_sc = SNConv2d(c_in, c_out, 1, padding=0, sn_eps=sn_eps)  # always upsampling: always learnable

    def forward(self, x, y):
        h = F.relu(self.bn1(x, y))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.conv_sc(x)


class DBlock(nn.Module):
    """Pre-activated (except the first block) conv3x3-ReLU-conv3x3 with optional 2x2 average-pool downsampling; the
    shortcut is a 1x1 conv when the width changes or the block downsamples."""

    def __init__(self, c_in: int, c_out: int, downsample: bool, preactivation: bool, sn_eps: float):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1 = SNConv2d(c_in, c_out, 3, sn_eps=sn_eps)
        self.conv2 = SNConv2d(c_out, c_out, 3, sn_eps=sn_eps)
        self.conv_sc = SNConv2d(c_in, c_out, 1, padding=0, sn_eps=sn_eps) if (c_in != c_out or downsample) else None

    def _shortcut(self, x):
        # Pre-activated blocks convolve before pooling (cheaper); the first block pools the image first.
        if self.preactivation:
            if self.conv_sc is not None:
                x = self.conv_sc(x)
            return F.avg_pool2d(x, 2) if self.downsample else x
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return self.conv_sc(x) if self.conv_sc is not None else x

    def forward(self, x):
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h + self._shortcut(x)


def init_weights(module: nn.Module, style: str) -> None:
    """BigGAN-PyTorch's weight init of every conv, linear and embedding weight (biases keep torch's default)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            if style == "ortho":
                nn.init.orthogonal_(m.weight)
            elif style == "N02":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:  # xavier
                nn.init.xavier_uniform_(m.weight)
