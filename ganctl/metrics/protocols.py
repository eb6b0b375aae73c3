"""Preprocessing protocols: how uint8 RGB images become the Inception's normalised 299x299 input.

Each reference tool has its own, and FID moves by a few percent between them, so the protocol is chosen by name and
recorded with every result:
  pytorch-fid     x/255, bilinear resize to 299 (align_corners=False, no antialias), 2x-1      (ganctl's FID default)
  torch-fidelity  float(x), TF1-style bilinear resize (no half-pixel offset), (x-128)/128       (IS and KID default)
  clean-fid       PIL bicubic resize of each channel as float (clean-fid's resize), clip to [0, 255], (x-128)/128

The op order of each step copies the reference tool, because a fused or reordered equivalent moves results by float
rounding and parity is tested to 1e-6. The pytorch-fid and torch-fidelity transforms run on the batch on the compute
device (like the tools do); clean-fid's PIL resize runs per image in the decode workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

SIZE = 299


def pytorch_fid_transform(u8: torch.Tensor) -> torch.Tensor:
    x = u8.float().div(255)  # torchvision ToTensor
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


def tf1_bilinear_resize(x: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """Bilinear resize as TensorFlow 1.x computes it without align_corners: source = dest * (in/out), no half-pixel
    offset, neighbours clamped at the last row/column. Float input (B, C, H, W)."""
    h, w = x.shape[2], x.shape[3]

    def axis(n_in: int):
        pos = torch.arange(0, size, 1, dtype=x.dtype, device=x.device) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = pos.long()
        hi = (lo + 1).clamp_max(n_in - 1)
        return lo, hi, pos - lo.float()

    ylo, yhi, dy = axis(h)
    xlo, xhi, dx = axis(w)
    top, bottom = x[:, :, ylo, :], x[:, :, yhi, :]
    tl, tr, bl, br = top[:, :, :, xlo], top[:, :, :, xhi], bottom[:, :, :, xlo], bottom[:, :, :, xhi]
    dx = dx.view(1, 1, 1, size)
    upper = tl + (tr - tl) * dx
    lower = bl + (br - bl) * dx
    return upper + (lower - upper) * dy.view(1, 1, size, 1)


def torch_fidelity_transform(u8: torch.Tensor) -> torch.Tensor:
    x = tf1_bilinear_resize(u8.float())
    return (x - 128) / 128


def clean_fid_resize(hwc_u8: np.ndarray) -> np.ndarray:
    """clean-fid's resize on one image: each channel as a float32 PIL image, bicubic to 299, clipped. -> (3, 299, 299)."""
    from PIL import Image

    chans = [np.asarray(Image.fromarray(hwc_u8[:, :, c].astype(np.float32), mode="F").resize((SIZE, SIZE), Image.BICUBIC))
             for c in range(hwc_u8.shape[2])]
    return np.clip(np.stack(chans, 0), 0, 255).astype(np.float32)


def clean_fid_transform(resized: torch.Tensor) -> torch.Tensor:
    return (resized - 128) / 128


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    device_transform: Callable[[torch.Tensor], torch.Tensor]
    # Per-image CPU resize done in the decode workers (HWC uint8 -> CHW float32 at 299); None: resize on the device.
    cpu_resize: Callable[[np.ndarray], np.ndarray] | None = None

    def record(self) -> dict:
        return {"name": self.name, "description": self.description}


PROTOCOLS = {
    "pytorch-fid": Protocol("pytorch-fid", "PIL RGB; x/255; bilinear 299 (align_corners=False, no antialias); 2x-1",
                            pytorch_fid_transform),
    "torch-fidelity": Protocol("torch-fidelity", "PIL RGB uint8; TF1 bilinear 299 (no half-pixel offset); (x-128)/128",
                               torch_fidelity_transform),
    "clean-fid": Protocol("clean-fid", "PIL RGB; per-channel float PIL bicubic 299, clip [0,255]; (x-128)/128",
                          clean_fid_transform, clean_fid_resize),
}


def get_protocol(name: str) -> Protocol:
    from ganctl.errors import UsageError

    if name not in PROTOCOLS:
        raise UsageError(f"--protocol {name}: unknown; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
