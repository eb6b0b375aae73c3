"""Seeded random FID-Inception weights for offline parity tests (the real file is never downloaded in tests).

Plain random init makes a 90-layer network's pool3 features collapse (all images look alike) or blow up, so the
batch-norm running statistics are calibrated on a smooth noise batch (what a trained network's BN stats do: keep each
layer's output near unit scale), then perturbed so nothing is an exact identity, and the last block is scaled so pool3
features have the real detector's scale. The saved file has exactly the keys
and shapes of pt_inception-2015-12-05-6726825d.pth, so pytorch-fid, torch-fidelity and ganctl all load it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganctl.metrics.inception import FIDInceptionV3

WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"


def make_random_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    model = FIDInceptionV3()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.momentum = None  # cumulative average over the calibration batch
                m.reset_running_stats()
        model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=g) * 0.5)
        model.fc.bias.copy_(torch.randn(model.fc.bias.shape, generator=g))
        # Smooth noise in [-1, 1]: image-like spatial correlation, so deep layers see structured input.
        calib = torch.rand((4, 3, 23, 23), generator=g) * 2 - 1
        calib = torch.nn.functional.interpolate(calib, size=(299, 299), mode="bilinear", align_corners=False)
        model.train()
        model(calib)
        model.eval()
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.mul_(torch.exp(0.1 * torch.randn(m.running_var.shape, generator=g)))
                m.running_mean.add_(0.05 * torch.randn(m.running_mean.shape, generator=g) * m.running_var.sqrt())
                m.momentum = 0.1
        # Scale the last block's outputs (ReLU is positively homogeneous, so this is exact) so pool3 lands near the
        # real detector's ~0.3-0.5: KID's cubic kernel in torch-fidelity's float32 is only meaningful at that scale.
        for m in model.Mixed_7c.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.mul_(0.02)
                m.bias.mul_(0.02)
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def write_random_inception(path: str | Path, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_random_inception_state_dict(seed), str(path))
    return path
