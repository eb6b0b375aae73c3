"""Progressive GAN building blocks (Karras et al. 2018, and their official TensorFlow code): equalised-learning-rate
convolution and dense layers, pixelwise feature normalisation, nearest-neighbour upscaling, box downscaling, and the
growing-stage state that G and D share.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedConv2d(nn.Module):
    """Conv with weights stored N(0, 1) and scaled at run time by gain / sqrt(fan_in) ("equalised learning rate").

    Adam's step is invariant to a weight's scale, so storing unit-variance weights makes every layer learn at the same
    relative speed; the He constant is applied in the forward pass instead of at initialisation. `use_wscale=False`
    is the paper's ablation: He-initialised weights, no runtime scale.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, gain: float = math.sqrt(2), use_wscale: bool = True):
        super().__init__()
        std = gain / math.sqrt(in_channels * kernel * kernel)
        self.scale = std if use_wscale else 1.0
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel) * (1.0 if use_wscale else std))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Dense layer with the equalised-learning-rate scaling of EqualizedConv2d; `bias=False` when the caller adds it."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2), use_wscale: bool = True,
                 bias: bool = True):
        super().__init__()
        std = gain / math.sqrt(in_features)
        self.scale = std if use_wscale else 1.0
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (1.0 if use_wscale else std))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit average square (over channels, dim 1)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upscaling (each pixel repeated factor x factor)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Box-filter downscaling (mean of each factor x factor block)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def nf(stage: int, fmap_base: int, fmap_decay: float, fmap_max: int) -> int:
    """Feature maps at a stage: the block at resolution 2**r has nf(r - 1) channels (the official formula)."""
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def check_stage(resolution: int, alpha: float, final_resolution: int) -> tuple[int, float]:
    res = int(resolution)
    if res < 4 or res & (res - 1) or res > final_resolution:
        raise ValueError(f"set_stage: resolution {resolution} must be a power of two in 4..{final_resolution}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"set_stage: alpha {alpha} must lie in [0, 1]")
    if res == 4:
        alpha = 1.0  # nothing to fade from at the first resolution
    return res, alpha


class GrowingStage(nn.Module):
    """The growing state of a network: current resolution and fade-in alpha, stored in buffers.

    Buffers travel with state_dict (checkpoints) and with the engine's buffer copy into G_ema. The forward pass needs
    both as Python numbers (they choose which layers run); reading a CUDA buffer every pass would sync the device, so
    the values are cached and re-read only when a buffer has been written since (load_state_dict or copy_ bump the
    tensor's version counter).
    """

    def __init__(self, final_resolution: int):
        super().__init__()
        self.final_resolution = int(final_resolution)
        self.register_buffer("stage_resolution", torch.tensor(self.final_resolution, dtype=torch.int64))
        self.register_buffer("stage_alpha", torch.tensor(1.0, dtype=torch.float32))
        self._stage_cache = (self.final_resolution, 1.0)
        self._stage_key = self._buffer_key()

    def _buffer_key(self) -> tuple:
        r, a = self.stage_resolution, self.stage_alpha
        return (r.data_ptr(), r._version, a.data_ptr(), a._version)

    def set_stage(self, resolution: int, alpha: float) -> None:
        """Run at `resolution` (a power of two up to the final one), fading it in by `alpha` in [0, 1]."""
        res, alpha = check_stage(resolution, alpha, self.final_resolution)
        with torch.no_grad():
            self.stage_resolution.fill_(res)
            self.stage_alpha.fill_(alpha)
        self._stage_cache = (res, alpha)
        self._stage_key = self._buffer_key()

    def stage(self) -> tuple[int, float]:
        """(resolution, alpha) now in effect. While torch.export traces (ONNX export) the buffers hold no data: the
        stage read by the last eager call is the graph's constant."""
        if torch.compiler.is_compiling():
            return self._stage_cache
        key = self._buffer_key()
        if key != self._stage_key and not self.stage_resolution.is_meta:
            self._stage_cache = check_stage(int(self.stage_resolution), float(self.stage_alpha), self.final_resolution)
            self._stage_key = key
        return self._stage_cache
