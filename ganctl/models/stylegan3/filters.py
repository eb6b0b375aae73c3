"""StyleGAN3's per-layer signal-processing schedule and its low-pass filter design.

The schedule (Karras et al. 2021, "Alias-Free GANs", section 3 and appendix F): cutoff f_c and stopband f_t grow
geometrically from the first layer to the last `num_critical` layers, which are critically sampled at the output
resolution; the sampling rate s is the smallest power of two holding the stopband, the transition half-width is
f_h = max(f_t, s/2) - f_c, feature maps carry `margin_size` extra pixels on each side, and channels shrink as the
cutoff grows. Filters are designed as NVlabs does: scipy.signal.firwin with a Kaiser window chosen through `width`,
or a 2-D jinc (radially symmetric) x Kaiser outer product for -r's downsampling filters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerSpec:
    """One synthesis layer's place in the schedule (index 0..num_layers; the last is ToRGB)."""
    index: int
    is_torgb: bool
    is_critically_sampled: bool
    use_fp16: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float

    @property
    def name(self) -> str:
        """NVlabs' module name, kept so state-dict keys map one to one onto their pickles."""
        return f"L{self.index}_{self.out_size}_{self.out_channels}"


@dataclass(frozen=True)
class Schedule:
    input_channels: int
    input_size: int
    input_sampling_rate: float
    input_bandwidth: float
    layers: tuple[LayerSpec, ...]


def layer_schedule(img_resolution, img_channels, channel_base=32768, channel_max=512, num_layers=14, num_critical=2,
                   first_cutoff=2, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3, margin_size=10,
                   num_fp16_res=4) -> Schedule:
    """The Fourier input's settings and every layer's sizes, rates, cutoffs and channels."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution  # the critically sampled layers carry no margin
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    layers = []
    for i in range(num_layers + 1):
        p = max(i - 1, 0)
        layers.append(LayerSpec(
            index=i, is_torgb=(i == num_layers), is_critically_sampled=(i >= num_layers - num_critical),
            use_fp16=bool(sampling_rates[i] * (2 ** num_fp16_res) > img_resolution),
            in_channels=int(channels[p]), out_channels=int(channels[i]), in_size=int(sizes[p]),
            out_size=int(sizes[i]), in_sampling_rate=int(sampling_rates[p]), out_sampling_rate=int(sampling_rates[i]),
            in_cutoff=float(cutoffs[p]), out_cutoff=float(cutoffs[i]), in_half_width=float(half_widths[p]),
            out_half_width=float(half_widths[i])))
    return Schedule(int(channels[0]), int(sizes[0]), float(sampling_rates[0]), float(cutoffs[0]), tuple(layers))


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False):
    """Low-pass FIR taps as a float32 numpy array (1-D separable, or 2-D when radial); None for a single tap."""
    import scipy.signal
    import scipy.special

    if numtaps == 1:
        return None
    if not radial:
        return scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs).astype(np.float32)
    # Radially symmetric: the 2-D ideal low-pass (jinc) windowed by the outer product of a Kaiser window.
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f *= np.outer(w, w)
    f /= np.sum(f)
    return f.astype(np.float32)
