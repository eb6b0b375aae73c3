"""Seeded random torchvision-VGG16 weights for offline tests (the real vgg16-397923af.pth is never downloaded in tests).

He-initialised convolutions and fully connected layers keep activations near unit scale through the ReLUs, so fc2_relu
features depend on the image (not collapsed, not blown up). The file has exactly the keys and shapes of torchvision's
vgg16-397923af.pth, so torchvision, torch-fidelity and ganctl all load it. It is ~530 MB: written once per session.
"""

from __future__ import annotations

from pathlib import Path

import torch

WEIGHTS_NAME = "vgg16-397923af.pth"


def make_random_vgg16_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    import torchvision

    g = torch.Generator().manual_seed(seed)
    model = torchvision.models.vgg16(weights=None)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(0.01 * torch.randn(m.bias.shape, generator=g))
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def write_random_vgg16(path: str | Path, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_random_vgg16_state_dict(seed), str(path))
    return path
