"""Benchmark: forward + backward of ganctl's native ops vs the plain-PyTorch reference, on the StyleGAN2 shapes.

Rows are the shapes of FACTS.md's table of NVlabs' kernels (256x256 / 1024x1024 StyleGAN2 layers). On CUDA the full
batch of 32 runs; on CPU the batch is reduced (--cpu-batch, default 2) so a 2-core machine finishes in minutes.
GB/s counts minimum bytes as FACTS.md does: bias_act (lrelu, gain, clamp) = 5 tensor passes; upfirdn2d with the
[1,3,3,1] filter = 2 x (input + output).

filtered_lrelu rows (--flrelu): the layers of stylegan3-t / -r at 256 (channel_base 16384; shapes, filters and
paddings taken from ganctl.models.stylegan3's own layers), forward + backward (x and bias) of the fused kernel vs the
composed native path (bias_act + upfirdn2d x 2, materialising the upsampled intermediate) vs the reference. On CPU
the batch is 1 and the channels are divided by --cpu-channels-div (default 4): the time per element is what is
compared.

Usage: python tests/benchmarks/bench_ops.py [--device cpu|cuda] [--cpu-batch 2] [--reps 5] [--tiny | --flrelu]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch

import ganctl.ops as ops

ROWS = [
    # op, dtype, shape (N replaced on CPU), kwargs
    ("bias_act", torch.float32, (32, 512, 64, 64), {}),
    ("bias_act", torch.float32, (32, 128, 256, 256), {}),
    ("bias_act", torch.float16, (32, 512, 64, 64), {}),
    ("bias_act", torch.float16, (32, 128, 256, 256), {}),
    ("upfirdn2d", torch.float32, (32, 512, 64, 64), dict(up=2, padding=(2, 1), gain=4)),
    ("upfirdn2d", torch.float32, (32, 256, 128, 128), dict(down=2, padding=1)),
    ("upfirdn2d", torch.float32, (32, 128, 256, 256), dict(padding=(1, 2))),
    ("upfirdn2d", torch.float16, (32, 512, 64, 64), dict(up=2, padding=(2, 1), gain=4)),
    ("upfirdn2d", torch.float16, (32, 256, 128, 128), dict(down=2, padding=1)),
    ("upfirdn2d", torch.float16, (32, 128, 256, 256), dict(padding=(1, 2))),
]

# The stylegan-tiny preset's shapes (batch 32, 32 channels, 8..32 px): small tensors, where per-call overhead matters.
TINY_ROWS = [
    ("bias_act", torch.float32, (32, 32, 16, 16), {}),
    ("bias_act", torch.float32, (32, 32, 32, 32), {}),
    ("upfirdn2d", torch.float32, (32, 32, 8, 8), dict(up=2, padding=(2, 1), gain=4)),
    ("upfirdn2d", torch.float32, (32, 32, 16, 16), dict(up=2, padding=(2, 1), gain=4)),
    ("upfirdn2d", torch.float32, (32, 32, 32, 32), dict(down=2, padding=1)),
    ("upfirdn2d", torch.float32, (32, 32, 32, 32), dict(padding=(1, 2))),
]

FIR = [1, 3, 3, 1]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fwd_bwd(fn, x, params, dy, device, reps, clock=time.perf_counter):
    """Median ms of forward + backward (grad wrt x and the params)."""
    times = []
    for i in range(reps + 2):  # two warm-up runs
        sync(device)
        t0 = clock()
        y = fn(x)
        torch.autograd.backward(y, dy, inputs=[x, *params])
        sync(device)
        if i >= 2:
            times.append((clock() - t0) * 1e3)
        x.grad = None
        for p in params:
            p.grad = None
    return statistics.median(times)


def run_row(op, dtype, shape, kw, device, reps):
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device=device, dtype=dtype).requires_grad_(True)
    if op == "bias_act":
        b = torch.randn(shape[1], generator=gen).to(device=device, dtype=dtype).requires_grad_(True)
        params = [b]
        make = lambda impl: (lambda x: ops.bias_act(x, b, act="lrelu", clamp=256, impl=impl))  # noqa: E731
        out_shape = shape
        nbytes = 5 * x.numel() * x.element_size()
    else:
        f = ops.setup_filter(FIR, device=device)
        params = []
        make = lambda impl: (lambda x: ops.upfirdn2d(x, f, impl=impl, **kw))  # noqa: E731
        out_shape = make("ref")(x.detach()).shape
        nbytes = 2 * (x.numel() + torch.Size(out_shape).numel()) * x.element_size()
    dy = torch.randn(out_shape, generator=gen).to(device=device, dtype=dtype)
    ref_ms = time_fwd_bwd(make("ref"), x, params, dy, device, reps)
    nat_ms = time_fwd_bwd(make("native"), x, params, dy, device, reps)
    return ref_ms, nat_ms, nbytes / (nat_ms * 1e-3) / 1e9


def flrelu_rows(channels_div: int):
    """(name, shape, layer) of distinct stylegan3 layer geometries at 256: -t layers 0, 3, 6, 8, 10, 11, 13, 14 and
    -r layers 0 and 8 (the 12x12 radial down filter)."""
    from ganctl.models.stylegan3.filters import layer_schedule
    from ganctl.models.stylegan3.synthesis import SynthesisLayer

    specs = layer_schedule(256, 3, channel_base=16384).layers
    rows = []
    for cfg, idx in [("t", i) for i in (0, 3, 6, 8, 10, 11, 13, 14)] + [("r", 0), ("r", 8)]:
        r = cfg == "r"
        layer = SynthesisLayer(512, specs[idx], conv_kernel=1 if r else 3, use_radial_filters=r)
        size = layer.in_size + layer.conv_kernel - 1
        ch = max(1, layer.out_channels // channels_div)
        rows.append((f"{cfg}-L{idx}", (1, ch, size, size), layer))
    return rows


def filtered_lrelu_composed(x, fu, fd, b, up, down, padding, gain, slope, clamp):
    """The pre-fused native path: the four stages on the native bias_act and upfirdn2d kernels (materialising the
    upsampled intermediate), the baseline the fused kernel is compared with."""
    x = ops.bias_act(x, b, impl="native")
    x = ops.upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2, impl="native")
    x = ops.bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp, impl="native")
    return ops.upfirdn2d(x, fd, down=down, impl="native")


def run_flrelu_row(shape, layer, device, dtype, reps, with_ref=True):

    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device=device, dtype=dtype).requires_grad_(True)
    b = torch.randn(shape[1], generator=gen).to(device=device, dtype=dtype).requires_grad_(True)
    fu = None if layer.up_filter is None else layer.up_filter.to(device)
    fd = None if layer.down_filter is None else layer.down_filter.to(device)
    gain, slope = (1.0, 1.0) if layer.is_torgb else (2 ** 0.5, 0.2)
    kw = dict(up=layer.up_factor, down=layer.down_factor, padding=layer.padding, gain=gain, slope=slope, clamp=256)
    fused = lambda x: ops.filtered_lrelu(x, fu, fd, b, impl="native", **kw)  # noqa: E731
    composed = lambda x: filtered_lrelu_composed(x, fu, fd, b, kw["up"], kw["down"], kw["padding"],  # noqa: E731
                                                 gain, slope, 256)
    ref = lambda x: ops.filtered_lrelu(x, fu, fd, b, impl="ref", **kw)  # noqa: E731
    dy = torch.randn(fused(x.detach()).shape, generator=gen).to(device=device, dtype=dtype)
    # CPU: process time (steadier than wall time on a shared machine; the thread count is the caller's).
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    fused_ms = time_fwd_bwd(fused, x, [b], dy, device, reps, clock)
    comp_ms = time_fwd_bwd(composed, x, [b], dy, device, reps, clock)
    ref_ms = time_fwd_bwd(ref, x, [b], dy, device, reps, clock) if with_ref else float("nan")
    return ref_ms, comp_ms, fused_ms


def main_flrelu(args, device):
    div = 1 if device.type == "cuda" else args.cpu_channels_div
    dtypes = [torch.float32] + ([torch.float16] if device.type == "cuda" else [])
    unit = "ms" if device.type == "cuda" else "CPU ms"
    print(f"# filtered_lrelu fwd+bwd (median {unit}), stylegan3 256 layers (channels / {div})")
    print(f"{'layer':7s} {'dtype':8s} {'shape':16s} {'up':>2s} {'dn':>2s} {'fd':>6s} {'ref ms':>9s} {'composed ms':>12s} "
          f"{'fused ms':>9s} {'vs ref':>7s} {'vs comp':>8s}")
    for name, shape, layer in flrelu_rows(div):
        for dtype in dtypes:
            ref_ms, comp_ms, fused_ms = run_flrelu_row(shape, layer, device, dtype, args.reps)
            fdesc = "-" if layer.down_filter is None else "x".join(map(str, layer.down_filter.shape))
            print(f"{name:7s} {str(dtype).replace('torch.', ''):8s} {'x'.join(map(str, shape)):16s} "
                  f"{layer.up_factor:2d} {layer.down_factor:2d} {fdesc:>6s} {ref_ms:9.2f} {comp_ms:12.2f} "
                  f"{fused_ms:9.2f} {ref_ms / fused_ms:6.2f}x {comp_ms / fused_ms:7.2f}x", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--cpu-batch", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tiny", action="store_true", help="the stylegan-tiny shapes (full batch 32) instead")
    ap.add_argument("--flrelu", action="store_true", help="filtered_lrelu on the stylegan3 256 layers instead")
    ap.add_argument("--cpu-channels-div", type=int, default=4)
    args = ap.parse_args()
    device = torch.device(args.device)
    st = ops.status(build=True)["upfirdn2d"]
    if st["active"] != "native":
        raise SystemExit(f"native ops unavailable: {st['reason']}")
    if device.type == "cuda":
        machine = torch.cuda.get_device_name(device)
    else:
        machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"# bench_ops  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  device: {machine}  "
          f"torch {torch.__version__}")
    if args.flrelu:
        return main_flrelu(args, device)
    print(f"{'op':10s} {'dtype':8s} {'shape':18s} {'args':26s} {'ref ms':>9s} {'native ms':>10s} {'speedup':>8s} "
          f"{'native GB/s':>11s}")
    for op, dtype, shape, kw in (TINY_ROWS if args.tiny else ROWS):
        if device.type == "cpu" and not args.tiny:
            if dtype not in (torch.float32, torch.float64):
                continue  # the CPU kernels are fp32/fp64 only (half on CPU uses the reference)
            shape = (args.cpu_batch, *shape[1:])
        ref_ms, nat_ms, gbs = run_row(op, dtype, shape, kw, device, args.reps)
        desc = "lrelu clamp 256" if op == "bias_act" else " ".join(f"{k}={v}" for k, v in kw.items())
        print(f"{op:10s} {str(dtype).replace('torch.', ''):8s} {'x'.join(map(str, shape)):18s} {desc:26s} "
              f"{ref_ms:9.2f} {nat_ms:10.2f} {ref_ms / nat_ms:7.2f}x {gbs:11.1f}")


if __name__ == "__main__":
    main()
