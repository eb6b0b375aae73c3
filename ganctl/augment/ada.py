"""Adaptive discriminator augmentation (Karras et al. 2020), written for ganctl.

Each transform is applied to each sample independently with probability p:
  geometric (one affine warp with reflection padding): x-flip, 90-degree rotations, integer translation (up to 1/8 of
  the image), isotropic scale, arbitrary rotation, anisotropic scale, fractional translation;
  colour (one 4x4 matrix on homogeneous RGB): brightness, contrast, luma flip, hue rotation, saturation
  (grayscale images get brightness and contrast only).
Everything is built from differentiable torch ops (grid_sample supports double backward), so R1 and path-length
regularisation work through it. `p` is a buffer, saved in checkpoints; `update(rt_sum, count)` moves it toward the
target from the sign of D's outputs on reals and clamps it to [0, 1] (NVlabs' code does not clamp above 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _rot(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    z, o = torch.zeros_like(theta), torch.ones_like(theta)
    return torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1), torch.stack([z, z, o], -1)], -2)


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    z, o = torch.zeros_like(sx), torch.ones_like(sx)
    return torch.stack([torch.stack([sx, z, z], -1), torch.stack([z, sy, z], -1), torch.stack([z, z, o], -1)], -2)


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    z, o = torch.zeros_like(tx), torch.ones_like(tx)
    return torch.stack([torch.stack([o, z, tx], -1), torch.stack([z, o, ty], -1), torch.stack([z, z, o], -1)], -2)


class AdaptiveAugment(nn.Module):
    def __init__(self, channels: int, p: float = 0.0, target: float = 0.6, ada_kimg: float = 500, interval: int = 4):
        super().__init__()
        self.channels = channels
        self.target, self.ada_kimg, self.interval = target, ada_kimg, interval
        self.register_buffer("p", torch.tensor(float(p)))
        # sign(D(real)) accumulated since the last adjustment; buffers so an exact resume mid-interval keeps them.
        self.register_buffer("rt_sum", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("rt_count", torch.tensor(0.0, dtype=torch.float64))
        # Strengths (standard deviations) of the continuous transforms, as in the ADA paper's default pipeline.
        self.scale_std, self.rotate_max, self.aniso_std, self.xfrac_std = 0.2, 1.0, 0.2, 0.125
        self.brightness_std, self.contrast_std, self.hue_max, self.saturation_std = 0.2, 0.5, 1.0, 1.0

    # -- p control -----------------------------------------------------------------------------------------
    def accumulate(self, sign_sum: float, count: int) -> None:
        self.rt_sum += sign_sum
        self.rt_count += count

    def update(self, batch: int) -> float | None:
        """Move p by sign(rt - target) at a speed that lets it go from 0 to 1 in `ada_kimg` thousand images.

        rt = E[sign(D(real))] over the images seen since the last update; returns it (None when nothing was seen).
        """
        if float(self.rt_count) == 0:
            return None
        rt = float(self.rt_sum / self.rt_count)
        step = math.copysign(1.0, rt - self.target) * batch * self.interval / (self.ada_kimg * 1000)
        self.p.copy_((self.p + step).clamp(0.0, 1.0))
        self.rt_sum.zero_()
        self.rt_count.zero_()
        return rt

    # -- transforms ----------------------------------------------------------------------------------------
    def _mask(self, n: int, device) -> torch.Tensor:
        return (torch.rand(n, device=device) < self.p).float()

    def _geometric(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        I = torch.eye(3, device=dev).expand(n, 3, 3)
        M = I
        # Coordinates are grid_sample's normalised [-1, 1]; one pixel is 2/w horizontally, 2/h vertically.
        flip = 1 - 2 * (torch.randint(0, 2, (n,), device=dev).float() * self._mask(n, dev))
        M = M @ _scale(flip, torch.ones_like(flip))
        k = torch.randint(0, 4, (n,), device=dev).float() * self._mask(n, dev)
        M = M @ _rot(k * (math.pi / 2))
        m = self._mask(n, dev)
        t = (torch.rand(n, 2, device=dev) * 2 - 1) * 0.125
        tx = torch.round(t[:, 0] * w) * 2 / w * m
        ty = torch.round(t[:, 1] * h) * 2 / h * m
        M = M @ _translate(tx, ty)
        s = torch.exp2(torch.randn(n, device=dev) * self.scale_std * self._mask(n, dev))
        M = M @ _scale(s, s)
        prot = 1 - torch.sqrt((1 - self.p).clamp(0, 1))  # two rotations: keep the chance of any rotation at p
        r1 = (torch.rand(n, device=dev) * 2 - 1) * math.pi * self.rotate_max * (torch.rand(n, device=dev) < prot).float()
        M = M @ _rot(r1)
        a = torch.exp2(torch.randn(n, device=dev) * self.aniso_std * self._mask(n, dev))
        M = M @ _scale(a, 1 / a)
        r2 = (torch.rand(n, device=dev) * 2 - 1) * math.pi * self.rotate_max * (torch.rand(n, device=dev) < prot).float()
        M = M @ _rot(r2)
        f = torch.randn(n, 2, device=dev) * self.xfrac_std * 2 * self._mask(n, dev)[:, None]
        M = M @ _translate(f[:, 0], f[:, 1])
        if torch.equal(M, I):
            return x
        grid = F.affine_grid(M[:, :2, :], list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _color(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        dev = x.device
        b = torch.randn(n, device=dev) * self.brightness_std * self._mask(n, dev)
        ctr = torch.exp2(torch.randn(n, device=dev) * self.contrast_std * self._mask(n, dev))
        if c != 3:
            mean = x.mean(dim=[1, 2, 3], keepdim=True)
            return (x - mean) * ctr.view(n, 1, 1, 1) + mean + b.view(n, 1, 1, 1)
        C = torch.eye(4, device=dev).repeat(n, 1, 1)
        T = torch.eye(4, device=dev).repeat(n, 1, 1)
        T[:, :3, 3] = b[:, None]
        C = T @ C
        S = torch.eye(4, device=dev).repeat(n, 1, 1)
        S[:, 0, 0] = S[:, 1, 1] = S[:, 2, 2] = ctr
        C = S @ C
        v = torch.tensor([1, 1, 1, 0], device=dev, dtype=x.dtype) / math.sqrt(3)  # the luma axis
        vv = torch.outer(v, v)
        flip = (torch.randint(0, 2, (n,), device=dev).float() * self._mask(n, dev)).view(n, 1, 1)
        C = (torch.eye(4, device=dev) - 2 * vv * flip) @ C  # Householder reflection across the luma plane
        theta = (torch.rand(n, device=dev) * 2 - 1) * math.pi * self.hue_max * self._mask(n, dev)
        C = self._rotate_about(v[:3], theta) @ C
        sat = torch.exp2(torch.randn(n, device=dev) * self.saturation_std * self._mask(n, dev)).view(n, 1, 1)
        C = (vv + (torch.eye(4, device=dev) - vv) * sat) @ C
        h, w = x.shape[2:]
        y = C[:, :3, :3] @ x.reshape(n, 3, h * w) + C[:, :3, 3:]
        return y.reshape(n, 3, h, w)

    @staticmethod
    def _rotate_about(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """4x4 rotations by theta about a unit 3-vector (Rodrigues)."""
        n = theta.shape[0]
        x, y, z = axis
        K = torch.stack([torch.stack([0 * x, -z, y]), torch.stack([z, 0 * x, -x]), torch.stack([-y, x, 0 * x])])
        s, c = torch.sin(theta).view(n, 1, 1), torch.cos(theta).view(n, 1, 1)
        R = torch.eye(3, device=theta.device) + s * K + (1 - c) * (K @ K)
        out = torch.eye(4, device=theta.device).repeat(n, 1, 1)
        out[:, :3, :3] = R
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(self.p) <= 0:
            return x
        return self._color(self._geometric(x))
