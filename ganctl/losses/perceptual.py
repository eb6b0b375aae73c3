"""The perceptual loss of SRGAN/ESRGAN/Real-ESRGAN as BasicSR computes it: VGG19 features of G(input) and target at
named layers (`conv5_4` is the conv output before its ReLU, `relu5_4` after), L1 between them, each layer weighted;
inputs in [0, 1] normalised with ImageNet's mean and std (grayscale repeated to 3 channels).

The VGG19 weights are torchvision's ImageNet file vgg19-dcbb9e9d.pth, found like the Inception weights
(`loss.vgg19_weights`, $GANCTL_VGG19_WEIGHTS, the ganctl cache, torch hub's cache; metrics/weights.py), read with
weights_only=True. VGG19 stays frozen and is not part of the checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.errors import UsageError


def vgg19_layer_names() -> list[str]:
    """BasicSR's names of torchvision's vgg19.features children, in order."""
    names = []
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


NAMES = vgg19_layer_names()
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def find_vgg19(explicit: str | None = None):
    from ganctl.metrics.weights import VGG19, resolve_weights

    try:
        return resolve_weights(explicit or None, VGG19, flag="loss.vgg19_weights")
    except UsageError as e:
        raise UsageError(f"loss.perceptual_weight > 0 needs VGG19: {e.message}") from None


class VGG19Features(nn.Module):
    """torchvision's VGG19 trunk up to the deepest requested layer; returns {name: feature} (clones, so a later
    in-place ReLU never changes a conv layer's output)."""

    def __init__(self, layers, weights_path):
        super().__init__()
        import torchvision

        from ganctl.metrics.inception import load_state_dict_file

        bad = [name for name in layers if name not in NAMES]
        if bad:
            raise UsageError(f"config key loss.perceptual_layers: {bad[0]!r} is not a VGG19 layer (conv1_1 .. relu5_4, "
                             f"pool1 .. pool5)")
        net = torchvision.models.vgg19(weights=None)
        sd = load_state_dict_file(weights_path, expect="vgg19-dcbb9e9d.pth")
        feats = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
        try:
            net.features.load_state_dict(feats, strict=True)
        except RuntimeError:
            raise UsageError(f"{weights_path}: not torchvision's VGG19 state dict; use vgg19-dcbb9e9d.pth") from None
        last = max(NAMES.index(name) for name in layers)
        self.features = net.features[:last + 1].requires_grad_(False).eval()
        self.layers = set(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        return super().train(False)  # always eval (no dropout or BN here, but keep it explicit)

    def forward(self, x01: torch.Tensor) -> dict:
        if x01.shape[1] == 1:
            x01 = x01.expand(-1, 3, -1, -1)
        x = (x01 - self.mean) / self.std
        out = {}
        for name, layer in zip(NAMES, self.features):
            x = layer(x)
            if name in self.layers:
                out[name] = x.clone()
        return out


class PerceptualLoss(nn.Module):
    """sum over layers of weight * L1(VGG19(fake)[layer], VGG19(target)[layer]); images in [-1, 1]."""

    def __init__(self, layers, weights, weights_path):
        super().__init__()
        if len(layers) != len(weights):
            raise UsageError("config keys loss.perceptual_layers and loss.perceptual_layer_weights: give one weight per layer")
        self.weights = dict(zip(layers, weights))
        self.vgg = VGG19Features(layers, weights_path)

    def forward(self, fake, target):
        f = self.vgg((fake + 1) * 0.5)
        with torch.no_grad():
            t = self.vgg((target + 1) * 0.5)
        return sum(w * F.l1_loss(f[name], t[name]) for name, w in self.weights.items())
