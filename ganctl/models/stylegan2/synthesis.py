"""StyleGAN2's synthesis network and the full generator: learned 4x4 constant, modulated 3x3 convs with per-layer noise,
and the skip architecture (each resolution adds its toRGB output to the upsampled image of the one below).

Mixed precision: blocks in the top `num_fp16_res` resolutions compute in fp16 on CUDA (activations clamped to
+-conv_clamp so fp16 cannot overflow); on CPU everything is fp32. Images always come out as float32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ganctl import ops
from ganctl.models.stylegan2.layers import (RESAMPLE_TAPS, FullyConnectedLayer, fp16_resolution,
                                            mixed_precision_dtype, modulated_conv2d)
from ganctl.models.stylegan2.mapping import StyleGenerator

NOISE_MODES = ("const", "random", "none")


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up) + noise with a learned strength + bias + lrelu (clamped)."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, up=1, conv_clamp=None,
                 resample_filter=RESAMPLE_TAPS):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.up, self.conv_clamp = up, conv_clamp
        self.register_buffer("resample_filter", ops.setup_filter(resample_filter))
        self.padding = 1
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        # A fixed noise image per layer for noise_mode='const': reproducible samples from a seed.
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x, w, noise_mode="const", fused_modconv=True, gain=1.0, generator=None):
        styles = self.affine(w)
        noise = None
        if noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            if generator is None:
                n = torch.randn(shape, device=x.device)  # the device's global RNG (seeded by the engine)
            else:  # drawn where the generator lives, so a CPU generator gives the same noise on every device
                n = torch.randn(shape, device=generator.device, generator=generator).to(x.device)
            noise = n * self.noise_strength
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=math.sqrt(2) * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, resolution={self.resolution}, "
                f"up={self.up}")


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation."""

    def __init__(self, in_channels, out_channels, w_dim, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (const | 2x-up conv) -> conv -> toRGB."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, use_fp16=False,
                 conv_clamp=None, fused_modconv=True, resample_filter=RESAMPLE_TAPS):
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16 = in_channels, resolution, use_fp16
        self.fused_modconv = fused_modconv
        self.register_buffer("resample_filter", ops.setup_filter(resample_filter))
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp,
                                        resample_filter=resample_filter)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    resample_filter=resample_filter)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x, img, ws, noise_mode="const", fused_modconv=None, force_fp32=False, generator=None):
        ref = ws if x is None else x
        dtype = torch.float32 if force_fp32 else mixed_precision_dtype(self.use_fp16, ref)
        if fused_modconv is None:
            # Grouped conv wins for inference; training shares weights across the batch (cheaper weight grads).
            # fp16 grouped convs are slow in cuDNN, so fp16 blocks fuse only for single images.
            fused_modconv = self.fused_modconv and not self.training and (dtype == torch.float32 or ws.shape[0] == 1)
        w_iter = iter(ws.unbind(dim=1))
        if self.conv0 is None:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv, generator=generator)
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), noise_mode, fused_modconv, generator=generator)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv, generator=generator)
        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, C, H, W) float32."""

    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_fp16_res=4,
                 conv_clamp=256, fused_modconv=True):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_res = fp16_resolution(img_resolution, num_fp16_res)
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res, img_channels,
                                   use_fp16=(num_fp16_res > 0 and res >= fp16_res), conv_clamp=conv_clamp,
                                   fused_modconv=fused_modconv)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last block's toRGB; the others share their toRGB w with the next block's first conv

    def forward(self, ws, noise_mode="const", update_emas=False, fused_modconv=None, force_fp32=False,
                generator=None):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused_modconv,
                           force_fp32=force_fp32, generator=generator)
        return img


class Generator(StyleGenerator):
    """Mapping + StyleGAN2 synthesis. forward(z, c, ..., fused_modconv=None, generator=None) -> images float32
    (N, C, H, W), nominally in [-1, 1] (not clamped)."""

    synthesis_class = SynthesisNetwork
    default_mapping_layers = 8

    def style_affines(self) -> list[tuple[int, nn.Module]]:
        """(ws index, affine layer) of every synthesis layer, toRGB included, in ws order: the style weights SeFa
        factorises. A block's toRGB reads the same ws index as the next block's first conv (see SynthesisNetwork)."""
        out, w_idx = [], 0
        for res in self.synthesis.block_resolutions:
            block = getattr(self.synthesis, f"b{res}")
            convs = [block.conv1] if block.conv0 is None else [block.conv0, block.conv1]
            out += [(w_idx + i, conv.affine) for i, conv in enumerate(convs)]
            out.append((w_idx + block.num_conv, block.torgb.affine))
            w_idx += block.num_conv
        return sorted(out, key=lambda p: p[0])
