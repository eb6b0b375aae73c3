"""The image-to-image networks of pix2pix and CycleGAN: U-Net and ResNet generators, the PatchGAN discriminator.

Architectures and numbers from FACTS.md ("Image-to-image translation"). The module trees are laid out so that their
state_dict keys are the reference code's (junyanz/pytorch-CycleGAN-and-pix2pix): a U-Net is nested skip blocks, each
holding a `model` Sequential; ResNet and PatchGAN are one `model` Sequential. That lets ganctl.interop.pix2pix read the
reference checkpoints with a plain key check instead of a name map. Bias rule: a conv followed by batch norm has no bias
(the norm's shift replaces it); followed by instance norm (affine=False, no running statistics) it keeps one.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("batch", "instance", "none")
GENERATORS = {"unet_256": 8, "unet_128": 7, "unet_64": 6, "unet_32": 5, "resnet_9blocks": 9, "resnet_6blocks": 6}  # U-Net depth | blocks


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def _bias(norm: str) -> bool:
    return norm != "batch"


class UnetBlock(nn.Module):
    """One level of the U-Net: down conv, the inner levels, up conv, and the skip concatenation (except outermost)."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None, inner: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = _bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        down = nn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=bias)
        if outermost:
            layers = [down, inner, nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh()]
        elif innermost:  # the 1x1 bottleneck at 256 px: no norm after its down conv (a 1x1 map has no batch statistics to spare)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias),
                      norm_layer(norm, outer_nc)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner_nc), inner, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias), norm_layer(norm, outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels (8 for 256 px, 7 for 128 px): sides must be multiples of 2**num_downs."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64, norm: str = "batch",
                 dropout: bool = True):
        super().__init__()
        self.multiple = 2 ** num_downs
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):  # the intermediate 512-channel levels carry pix2pix's noise (dropout 0.5)
            block = UnetBlock(ngf * 8, ngf * 8, inner=block, norm=norm, dropout=dropout)
        block = UnetBlock(ngf * 4, ngf * 8, inner=block, norm=norm)
        block = UnetBlock(ngf * 2, ngf * 4, inner=block, norm=norm)
        block = UnetBlock(ngf, ngf * 2, inner=block, norm=norm)
        self.model = UnetBlock(output_nc, ngf, input_nc=input_nc, inner=block, outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool):
        super().__init__()
        bias = _bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim), nn.ReLU(True)]
        if dropout:  # shifts the indices of the layers after it: checkpoints say by their keys whether it was on
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Johnson et al.'s ResNet generator: 7x7 stem, 2 stride-2 convs, n residual blocks, 2 transposed convs (sides % 4)."""

    multiple = 4
    # On CPU one image per pass is faster: its full-resolution activations, not its small weights, bound the cost, so a
    # batch only adds memory traffic (resnet_9blocks at 256 px: 10-20% more CPU per image at batch 4-8; the U-Net's
    # weight-bound 512-channel levels gain from batching instead). `translate` reads this.
    cpu_batch = 1

    def __init__(self, input_nc: int = 3, output_nc: int = 3, n_blocks: int = 9, ngf: int = 64, norm: str = "instance",
                 dropout: bool = False):
        super().__init__()
        bias = _bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, c * 2, 3, 2, 1, bias=bias), norm_layer(norm, c * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias), norm_layer(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN (n_layers 3 = the 70x70 receptive field): logits per patch, 30x30 at 256 px; no sigmoid (the loss has it)."""

    def __init__(self, input_nc: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = _bias(norm)
        layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last feature conv keeps the size: it widens the receptive field to 70
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def build_generator(net: str, input_nc: int, output_nc: int, ngf: int = 64, norm: str = "batch", dropout: bool = True) -> nn.Module:
    if net not in GENERATORS:
        raise ValueError(f"unknown generator {net!r}; choose one of {', '.join(GENERATORS)}")
    if net.startswith("unet"):
        return UnetGenerator(input_nc, output_nc, GENERATORS[net], ngf, norm, dropout)
    return ResnetGenerator(input_nc, output_nc, GENERATORS[net], ngf, norm, dropout)


@torch.no_grad()
def init_weights(net: nn.Module, gain: float = 0.02, generator: torch.Generator | None = None) -> nn.Module:
    """The reference 'normal' init: conv/linear weights N(0, gain), biases 0; batch-norm weights N(1, gain), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.weight.normal_(0.0, gain, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.normal_(1.0, gain, generator=generator)
            m.bias.zero_()
    return net
