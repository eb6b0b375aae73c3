"""StyleGAN3's synthesis network and generator: Fourier-feature input with a learned rotation/translation, modulated
convolutions normalised by a running input magnitude, and filtered leaky ReLUs that keep every layer alias-free.

Module and buffer names follow NVlabs' networks_stylegan3 (input.*, L{i}_{size}_{channels}.*), so their pickles map
onto these modules key for key. The generator offers the same seam as StyleGAN2's (z_dim, c_dim, w_dim, num_ws,
w_avg, mapping(...), synthesis(ws, ...)), so sampling and the latent tools need no family tests.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganctl import ops
from ganctl.models.stylegan2.layers import FullyConnectedLayer
from ganctl.models.stylegan2.mapping import StyleGenerator
from ganctl.models.stylegan3.filters import LayerSpec, design_lowpass_filter, layer_schedule

NOISE_MODES = ("const", "random", "none")  # accepted for the shared seam; StyleGAN3 has no noise inputs


def make_transform(translate=(0.0, 0.0), angle_deg: float = 0.0) -> torch.Tensor:
    """3x3 rotation-then-translation matrix of the output image (NVlabs' gen_images.make_transform)."""
    m = torch.eye(3, dtype=torch.float64)
    s, c = math.sin(angle_deg / 360.0 * math.pi * 2), math.cos(angle_deg / 360.0 * math.pi * 2)
    m[0, 0], m[0, 1], m[0, 2] = c, s, translate[0]
    m[1, 0], m[1, 1], m[1, 2] = -s, c, translate[1]
    return m


def modulated_conv2d(x, weight, styles, demodulate=True, padding=0, input_gain=None, fused_modconv=True):
    """StyleGAN3's modulated convolution.

    Unlike StyleGAN2 it first normalises the weight and the styles to unit RMS when demodulating (this keeps fp16
    in range and makes demodulation scale-free), and folds the magnitude-EMA input gain into the weights.
    `fused_modconv` True (training's default): one grouped conv with the batch folded into channels. False: the same
    numbers as a shared-weight conv between scaling the input by the styles (times the input gain) and the output by
    the per-sample demodulation coefficients; its group count is a constant, as ONNX's Conv needs (`ganctl export`).
    """
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    if not fused_modconv:
        dcoefs = None
        if demodulate:  # as the fused path: from weight and styles, before the input gain
            w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, in_channels, 1, 1)
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
        scale = styles if input_gain is None else styles * input_gain.expand(batch_size, in_channels)
        x = x * scale.to(x.dtype).reshape(batch_size, in_channels, 1, 1)
        x = F.conv2d(x, weight.to(x.dtype), padding=padding)
        return x if dcoefs is None else x * dcoefs.to(x.dtype).reshape(batch_size, out_channels, 1, 1)
    w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, in_channels, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch_size, out_channels, 1, 1, 1)
    if input_gain is not None:
        w = w * input_gain.expand(batch_size, in_channels).reshape(batch_size, 1, in_channels, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    x = F.conv2d(x, w.reshape(-1, in_channels, kh, kw).to(x.dtype), padding=padding, groups=batch_size)
    return x.reshape(batch_size, -1, *x.shape[2:])


class SynthesisInput(nn.Module):
    """Fourier features of fixed random frequencies (within `bandwidth`) and phases, sampled on a `size` grid, rotated
    and translated by a 4-d affine of w (and by the user `transform` buffer), then mixed by a learned channel matrix."""

    def __init__(self, w_dim, channels, size, sampling_rate, bandwidth):
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, int(channels), int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn([self.channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)  # frequencies spread over the disc of radius `bandwidth`
        freqs *= bandwidth
        phases = torch.rand([self.channels]) - 0.5
        self.weight = nn.Parameter(torch.randn([self.channels, self.channels]))
        # The affine starts as the identity transform: rotation (cos, sin) = (1, 0), translation 0.
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))  # user inverse transform of the output image
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w):
        n, dev = w.shape[0], w.device
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)  # unit rotation
        m_r = torch.eye(3, device=dev).unsqueeze(0).repeat([n, 1, 1])
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = torch.eye(3, device=dev).unsqueeze(0).repeat([n, 1, 1])
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ self.transform.unsqueeze(0)  # rotate, then translate, then the user's transform

        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Fade out frequencies that the transform pushed towards the Nyquist limit.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        theta = torch.eye(2, 3, device=dev)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grids = F.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False)
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(nn.Module):
    """Modulated conv (input gain from the running input magnitude) -> filtered lrelu (up, FIR, bias, lrelu x sqrt2,
    clamp, FIR, down). The ToRGB layer is a 1x1 conv without demodulation, activation or resampling."""

    def __init__(self, w_dim, spec: LayerSpec, conv_kernel=3, filter_size=6, lrelu_upsampling=2,
                 use_radial_filters=False, conv_clamp=256, magnitude_ema_beta=0.999):
        super().__init__()
        self.w_dim, self.spec = w_dim, spec
        self.is_torgb, self.use_fp16 = spec.is_torgb, spec.use_fp16
        self.in_channels, self.out_channels = spec.in_channels, spec.out_channels
        self.in_size, self.out_size = spec.in_size, spec.out_size
        self.conv_kernel = 1 if spec.is_torgb else int(conv_kernel)
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, float(magnitude_ema_beta)
        tmp_rate = max(spec.in_sampling_rate, spec.out_sampling_rate) * (1 if spec.is_torgb else lrelu_upsampling)

        self.affine = FullyConnectedLayer(w_dim, self.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([self.out_channels, self.in_channels, self.conv_kernel,
                                                self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = int(round(tmp_rate / spec.in_sampling_rate))
        self.down_factor = int(round(tmp_rate / spec.out_sampling_rate))
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not spec.is_torgb else 1
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not spec.is_torgb else 1
        self.down_radial = bool(use_radial_filters and not spec.is_critically_sampled)
        fu = design_lowpass_filter(self.up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp_rate)
        fd = design_lowpass_filter(self.down_taps, spec.out_cutoff, spec.out_half_width * 2, tmp_rate,
                                   radial=self.down_radial)
        # NVlabs registers None for a 1-tap (identity) filter; None buffers stay out of the state dict as there.
        self.register_buffer("up_filter", None if fu is None else torch.from_numpy(fu))
        self.register_buffer("down_filter", None if fd is None else torch.from_numpy(fd))

        # Padding w.r.t. the upsampled image, placing samples by the symmetric interpretation (paper appendix C.3).
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        self.padding = [pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo]

    def forward(self, x, w, update_emas=False, force_fp32=False, fused_modconv=True):
        if update_emas:
            with torch.no_grad():
                magnitude_cur = x.detach().to(torch.float32).square().mean()
                self.magnitude_ema.copy_(magnitude_cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * self.conv_kernel ** 2))
        dtype = torch.float16 if (self.use_fp16 and not force_fp32 and x.device.type == "cuda") else torch.float32
        x = modulated_conv2d(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=input_gain, fused_modconv=fused_modconv)
        gain, slope = (1.0, 1.0) if self.is_torgb else (np.sqrt(2), 0.2)
        return ops.filtered_lrelu(x, self.up_filter, self.down_filter, self.bias.to(x.dtype), up=self.up_factor,
                                  down=self.down_factor, padding=self.padding, gain=gain, slope=slope,
                                  clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"in_channels={s.in_channels}, out_channels={s.out_channels}, in_size={s.in_size}, "
                f"out_size={s.out_size}, up={self.up_factor}, down={self.down_factor}, torgb={s.is_torgb}")


class SynthesisNetwork(nn.Module):
    """ws (N, num_layers + 2, w_dim) -> images float32 (N, C, H, W); ws[0] drives the input transform."""

    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_layers=14,
                 num_critical=2, first_cutoff=2, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3,
                 margin_size=10, output_scale=0.25, num_fp16_res=4, **layer_kwargs):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws = num_layers + 2
        self.output_scale = float(output_scale)
        sched = layer_schedule(img_resolution, img_channels, channel_base, channel_max, num_layers, num_critical,
                               first_cutoff, first_stopband, last_stopband_rel, margin_size, num_fp16_res)
        self.input = SynthesisInput(w_dim, sched.input_channels, sched.input_size, sched.input_sampling_rate,
                                    sched.input_bandwidth)
        self.layer_names = []
        for spec in sched.layers:
            setattr(self, spec.name, SynthesisLayer(w_dim, spec, **layer_kwargs))
            self.layer_names.append(spec.name)

    def layers(self) -> list[SynthesisLayer]:
        return [getattr(self, name) for name in self.layer_names]

    def forward(self, ws, noise_mode="const", update_emas=False, force_fp32=False, fused_modconv=True, **_unused):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for layer, w in zip(self.layers(), ws[1:]):
            x = layer(x, w, update_emas=update_emas, force_fp32=force_fp32, fused_modconv=fused_modconv)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


class Generator(StyleGenerator):
    """Mapping + StyleGAN3 synthesis. forward(z, c) -> images float32 (N, C, H, W), nominally in [-1, 1]."""

    synthesis_class = SynthesisNetwork
    default_mapping_layers = 2

    def style_affines(self) -> list[tuple[int, nn.Module]]:
        """(ws index, affine layer) of every synthesis layer incl. ToRGB, in ws order (SeFa's style weights).

        ws[0] feeds only the input's 4-d rotation/translation affine, which is not a style, so it is left out.
        """
        return [(i + 1, layer.affine) for i, layer in enumerate(self.synthesis.layers())]

    def set_transform(self, translate=(0.0, 0.0), rotate_deg: float = 0.0) -> None:
        """Translate/rotate the output image through the input's user transform (NVlabs' gen_images passes the
        inverse of make_transform(translate, angle))."""
        m = torch.linalg.inv(make_transform(translate, rotate_deg)).to(torch.float32)
        self.synthesis.input.transform.copy_(m)
