"""The public ops: bias_act, upfirdn2d and its resampling wrappers, filtered_lrelu; each chooses native kernels or the
reference.

`impl='auto'` (the default) uses the native kernels when they are built or can be built for the input's device and
dtype, otherwise the plain-PyTorch reference; the environment variable GANCTL_OPS=ref|native|auto overrides 'auto'.
`impl='native'` insists (and raises if the build is impossible); `impl='ref'` never touches native code.
"""

from __future__ import annotations

import torch

from ganctl.ops import reference as ref


def _use_native(op: str, x: torch.Tensor, impl: str) -> bool:
    if impl == "ref":
        return False
    if impl not in ("auto", "native"):
        raise ValueError(f"{op}: impl must be 'auto', 'native' or 'ref', got {impl!r}")
    from ganctl.ops import loader

    return loader.use_native(op, x, required=(impl == "native"))


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, impl="auto") -> torch.Tensor:
    """Fused bias + activation: y = clamp(act(x + b) * gain, -clamp, clamp), b (1-D) broadcast along `dim`.

    act: linear relu lrelu tanh sigmoid elu selu softplus swish. alpha defaults per act (lrelu 0.2, elu 1.0);
    gain defaults to sqrt(2) for relu/lrelu/swish and 1 otherwise; clamp=None means no clamping.
    Differentiable twice (R1 / path-length regularisation) on both implementations.
    """
    if _use_native("bias_act", x, impl):
        from ganctl.ops import native

        spec, alpha_, gain_, clamp_ = ref.resolve_bias_act_args(act, alpha, gain, clamp)
        ref.check_bias(x, b, dim)
        return native.bias_act(x, b, dim, spec.name, alpha_, gain_, clamp_)
    return ref.bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)


def setup_filter(f=None, normalize=True, flip_filter=False, gain=1, separable=None, device=None) -> torch.Tensor:
    """Taps -> float32 filter tensor for the ops (see reference.setup_filter)."""
    return ref.setup_filter(f, normalize=normalize, flip_filter=flip_filter, gain=gain, separable=separable, device=device)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Upsample (zero insertion), pad (negative crops), FIR filter, downsample an NCHW batch.

    f: 2-D [fh, fw] or separable 1-D [ft] (None = identity); up/down: int or (x, y); padding: int, (px, py) or
    (px0, px1, py0, py1). The filter is a true convolution unless flip_filter; gain scales the output.
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d: x must be NCHW, got shape {tuple(x.shape)}")
    if _use_native("upfirdn2d", x, impl):
        from ganctl.ops import native

        if f is None:
            f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
        ref.filter_size(f)
        upx, upy = ref.as_pair(up, "up")
        downx, downy = ref.as_pair(down, "down")
        if min(upx, upy, downx, downy) < 1:
            raise ValueError(f"upfirdn2d: up/down factors must be >= 1, got up={up} down={down}")
        return native.upfirdn2d(x, f, (upx, upy), (downx, downy), ref.as_padding(padding), bool(flip_filter), float(gain))
    return ref.upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Upsample by `up` with FIR filter f; output is exactly up x larger and DC gain is preserved (gain * upx * upy)."""
    p, upx, upy = ref.upsample2d_padding(f, up, padding)
    return upfirdn2d(x, f, up=(upx, upy), padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Filter with f then keep every `down`-th sample; output is exactly down x smaller (for divisible sizes)."""
    p = ref.downsample2d_padding(f, down, padding)
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """FIR-filter x with f, keeping its size (plus any extra padding)."""
    p = ref.filter2d_padding(f, padding)
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=ref._SQRT2, slope=0.2, clamp=None,
                   flip_filter=False, impl="auto") -> torch.Tensor:
    """StyleGAN3's filtered leaky ReLU on an NCHW batch (NVlabs' filtered_lrelu semantics).

    Add bias b, upsample by `up` (zero insertion, `padding` w.r.t. the upsampled image, FIR fu with gain up^2),
    lrelu with `slope` times `gain`, clamp to +-clamp, FIR fd and keep every `down`-th sample. fu/fd: 1-D separable
    taps, 2-D filters (-r's radial filter) or None. Differentiable twice on both implementations.

    The native path is one fused kernel (C++ / CUDA, native/filtered_lrelu_*): the upsampled intermediate is
    produced a strip at a time and never stored, only a 2-bit-per-sample mask of it that the gradients reuse.
    """
    ref.check_filtered_lrelu_args(x, b, up, down, gain, slope, clamp)
    # The fused kernels take filters of up to 64 taps per axis (StyleGAN3's are at most 24): larger ones, which no
    # network uses, take the reference.
    too_big = max(*ref.filter_size(fu), *ref.filter_size(fd)) > 64
    if too_big or not _use_native("filtered_lrelu", x, impl):
        return ref.filtered_lrelu_ref(x, fu, fd, b, up=up, down=down, padding=padding, gain=gain, slope=slope,
                                      clamp=clamp, flip_filter=flip_filter)
    from ganctl.ops import native

    for f in (fu, fd):
        if f is not None:
            ref.filter_size(f)
    return native.filtered_lrelu(x, fu, fd, b, up, down, ref.as_padding(padding), float(gain), float(slope),
                                 -1.0 if clamp is None else float(clamp), bool(flip_filter))
