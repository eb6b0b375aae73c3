"""Benchmark: forward + backward of ganctl's native ops vs the plain-PyTorch reference, on the StyleGAN2 shapes.

Rows are the shapes of FACTS.md's table of NVlabs' kernels (256x256 / 1024x1024 StyleGAN2 layers). On CUDA the full
batch of 32 runs; on CPU the batch is reduced (--cpu-batch, default 2) so a 2-core machine finishes in minutes.
GB/s counts minimum bytes as FACTS.md does: bias_act (lrelu, gain, clamp) = 5 tensor passes; upfirdn2d with the
[1,3,3,1] filter = 2 x (input + output).

Usage: python tests/benchmarks/bench_ops.py [--device cpu|cuda] [--cpu-batch 2] [--reps 5] [--tiny]
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


def time_fwd_bwd(fn, x, params, dy, device, reps):
    """Median ms of forward + backward (grad wrt x and the params)."""
    times = []
    for i in range(reps + 2):  # two warm-up runs
        sync(device)
        t0 = time.perf_counter()
        y = fn(x)
        torch.autograd.backward(y, dy, inputs=[x, *params])
        sync(device)
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--cpu-batch", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tiny", action="store_true", help="the stylegan-tiny shapes (full batch 32) instead")
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
