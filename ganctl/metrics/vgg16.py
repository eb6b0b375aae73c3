"""The VGG16 detector: torchvision's ImageNet VGG16 as torch-fidelity runs it for precision/recall (4096-d `fc2_relu`
features), and its convolutional trunk's five ReLU taps for LPIPS.

Weights are torchvision's vgg16-397923af.pth (found by ganctl.metrics.weights, loaded weights-only with strict key and
shape checks). Preprocessing copies torch-fidelity 0.4's FeatureExtractorVGG16 op for op: uint8 -> float32, TF1-style
bilinear resize to 224 (no half-pixel offset), torchvision `normalize` with the ImageNet mean/std times 255, then
features -> avgpool -> classifier up to fc2, and a ReLU. Its tests show these features equal NVlabs' vgg16.pt (used by
pr50k3) within 1e-4.
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganctl.errors import UsageError
from ganctl.metrics.inception import load_state_dict_file
from ganctl.metrics.protocols import Protocol, tf1_bilinear_resize

SIZE = 224
FEATURE_DIM = 4096
WEIGHTS_NAME = "vgg16-397923af.pth"
# ImageNet mean/std on the [0, 255] scale, computed in Python floats as torch-fidelity writes them.
MEAN = (255 * 0.485, 255 * 0.456, 255 * 0.406)
STD = (255 * 0.229, 255 * 0.224, 255 * 0.225)
# LPIPS taps: the trunk's ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 end after these `features` indices.
LPIPS_TAPS = (4, 9, 16, 23, 30)


def vgg16_transform(u8: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 -> the normalised (B, 3, 224, 224) float32 batch torch-fidelity feeds its VGG16."""
    x = tf1_bilinear_resize(u8.float(), SIZE)
    mean = torch.as_tensor(MEAN, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    std = torch.as_tensor(STD, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return x.sub(mean).div(std)  # torchvision.transforms.functional.normalize's arithmetic


PROTOCOLS = {
    "torch-fidelity": Protocol("torch-fidelity", "VGG16 fc2_relu; PIL RGB uint8; TF1 bilinear 224; ImageNet mean/std; "
                               "k=3; float32 distances in 10,000-row blocks", vgg16_transform),
    "pr50k3": Protocol("pr50k3", "NVlabs pr50k3: VGG16 fc2_relu (as torch-fidelity); 50,000 generated vs up to 50,000 "
                       "real; features and distances in float16; k=3; 10,000-row blocks", vgg16_transform),
}


class VGG16Detector(nn.Module):
    """fc2_relu features of normalised 224x224 input (`forward`) and the trunk's LPIPS taps (`taps`)."""

    feature_dim = FEATURE_DIM

    def __init__(self):
        super().__init__()
        import torchvision

        net = torchvision.models.vgg16(weights=None)
        self.features, self.avgpool, self.classifier = net.features, net.avgpool, net.classifier

    def drop_head(self) -> "VGG16Detector":
        """Remove the layers after fc2 (ReLU, dropout, fc3), as torch-fidelity does; call after loading weights."""
        for i in (6, 5, 4):
            del self.classifier[i]
        return self

    def forward(self, x: torch.Tensor, logits: bool = False):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        # The same (features, logits) pair as the Inception detector, so ganctl.metrics.features.extract runs either.
        return F.relu(x), None

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU outputs LPIPS compares, for an LPIPS-scaled input of any size."""
        out, start = [], 0
        for end in LPIPS_TAPS:
            for layer in self.features[start:end]:
                x = layer(x)
            out.append(x)
            start = end
        return out


def _check_and_load(model: nn.Module, sd: dict, path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    if missing or unexpected:
        raise UsageError(f"{path}: not torchvision's VGG16 state dict ({len(missing)} keys missing, e.g. "
                         f"{(missing or unexpected)[0]!r}; {len(unexpected)} unexpected); use {WEIGHTS_NAME}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise UsageError(f"{path}: {k} has shape {tuple(v.shape)}, expected {tuple(expected[k].shape)}; use {WEIGHTS_NAME}")
    model.load_state_dict(sd, strict=True)


def build_vgg16(path: str | os.PathLike, device: torch.device | str = "cpu", head: bool = True) -> VGG16Detector:
    """The detector with torchvision's VGG16 file at `path` (strict keys and shapes), in eval mode on `device`.
    head=False keeps only what LPIPS needs (the trunk): the 400 MB of fc weights are dropped."""
    sd = load_state_dict_file(path, expect=WEIGHTS_NAME)
    model = VGG16Detector()
    _check_and_load(model, sd, path)
    model.drop_head()
    if not head:
        model.classifier = nn.Sequential()
    model.requires_grad_(False)
    return model.eval().to(device)


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UsageError(f"--protocol {name}: unknown for precision/recall; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
