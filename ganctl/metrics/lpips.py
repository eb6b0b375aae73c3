"""LPIPS v0.1 (Zhang et al. 2018) on the VGG16 trunk: the perceptual distance NVlabs' PPL uses.

d(x0, x1) = sum over the five taps l (relu1_2 .. relu5_3) of mean over positions of sum_c w_lc (f0_lc - f1_lc)^2,
where f are the taps' channel-normalised activations (f / (||f||_2 over channels + 1e-10)) of the LPIPS-scaled input
((x - shift) / scale on [-1, 1] images) and w_l the v0.1 linear layers. The trunk is torchvision's ImageNet VGG16
(vgg16-397923af.pth, found like the detector weights); the linear layers are lpips/weights/v0.1/vgg.pth (7 KB), taken
from --lpips-weights or from the installed `lpips` package, read weights-only.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
import torch.nn as nn

from ganctl.errors import UsageError
from ganctl.metrics.inception import load_state_dict_file
from ganctl.metrics.vgg16 import VGG16Detector

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CHANNELS = (64, 128, 256, 512, 512)
LIN_FILE = "vgg.pth (LPIPS v0.1 linear layers)"


def lin_weights_path(explicit: str | None = None) -> Path:
    """--lpips-weights if given, else the file the `lpips` wheel ships (lpips/weights/v0.1/vgg.pth)."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise UsageError(f"--lpips-weights {explicit}: no such file; point it at lpips/weights/v0.1/vgg.pth")
        return p
    spec = importlib.util.find_spec("lpips")
    if spec is not None and spec.submodule_search_locations:
        p = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1" / "vgg.pth"
        if p.is_file():
            return p
    raise UsageError("LPIPS v0.1 linear weights not found: `pip install lpips` (its wheel ships weights/v0.1/vgg.pth) "
                     "or pass --lpips-weights PATH/vgg.pth")


class LPIPS(nn.Module):
    """LPIPS-VGG v0.1 distance between two batches of float images on the [0, 255] scale (never quantised)."""

    def __init__(self, trunk: VGG16Detector, lin: dict[str, torch.Tensor]):
        super().__init__()
        self.trunk = trunk
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.w = nn.ParameterList([nn.Parameter(lin[f"lin{i}.model.1.weight"].reshape(1, c, 1, 1), requires_grad=False)
                                   for i, c in enumerate(CHANNELS)])

    def taps(self, img255: torch.Tensor) -> list[torch.Tensor]:
        x = img255 / 127.5 - 1  # [0, 255] -> LPIPS's [-1, 1]
        x = (x - self.shift) / self.scale
        return [f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in self.trunk.taps(x)]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        t0 = self.taps(torch.cat([img0, img1]))  # one trunk pass for both
        n = img0.shape[0]
        total = torch.zeros(n, device=img0.device)
        for f, w in zip(t0, self.w):
            total = total + ((f[:n] - f[n:]).square() * w).sum(dim=1).mean(dim=(1, 2))
        return total


def build_lpips(vgg_path: str | os.PathLike, lin_path: str | os.PathLike, device="cpu") -> LPIPS:
    from ganctl.metrics.vgg16 import build_vgg16

    lin = load_state_dict_file(lin_path, expect=LIN_FILE)
    missing = [f"lin{i}.model.1.weight" for i in range(5) if f"lin{i}.model.1.weight" not in lin]
    bad = [f"lin{i}" for i, c in enumerate(CHANNELS) if not missing and lin[f"lin{i}.model.1.weight"].numel() != c]
    if missing or bad:
        raise UsageError(f"{lin_path}: not the LPIPS v0.1 VGG linear layers (missing {missing[:1] or bad[:1]}); "
                         "use lpips/weights/v0.1/vgg.pth")
    return LPIPS(build_vgg16(vgg_path, head=False), lin).eval().to(device)
