"""Benchmark: StyleGAN2 training throughput (s/kimg) and G_ema generation throughput (images/s).

Training runs NVlabs' lazy-regularisation schedule (Gmain + Dmain every step, Greg every 4, Dreg every 16) with Adam
steps, and reports s/kimg amortised over that schedule. Each training variant is timed in the same run and compared
with the first one (the baseline):
  eager          ganctl.ops 'auto' (native kernels when built), eager PyTorch
  eager-ref      ganctl.ops' plain-PyTorch reference (GANCTL_OPS=ref)
  channels-last  eager with NHWC activations and weights (train.channels_last=true)
  compile        torch.compile of the first-order passes (train.compile=default)
  compile-cl     compile + channels-last
  cudagraphs     torch.compile mode 'reduce-overhead' (CUDA graphs; train.compile=reduce-overhead)
  autotune       torch.compile mode 'max-autotune'
Generation compares the fused (grouped-conv) modulated conv with the non-fused path.
The 256 config is FACTS.md's: 256x256, channel_base 32768, batch 32, R1 gamma 1, ADA on, fp16 in the 4 highest
resolutions (CUDA); NVlabs' code runs it at about 12.5 s/kimg on an H100.

  python tests/benchmarks/bench_stylegan2.py --config tiny --variants eager,eager-ref,compile      # CPU, 32x32x1
  python tests/benchmarks/bench_stylegan2.py --config 256 --device cuda --variants eager,compile,cudagraphs
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from ganctl.augment import build_augment
from ganctl.config.load import resolve_config
from ganctl.engine import acceleration
from ganctl.losses.stylegan2 import StyleGAN2Loss
from ganctl.models import get_family

CONFIGS = {
    # name: (preset, overrides, resolution, channels)
    "tiny": ("stylegan-tiny", [], 32, 1),
    "256": ("stylegan-ffhq256", ["model.channel_base=32768", "model.mbstd_group=4", "loss.r1_gamma=1",
                                 "train.batch=32", "augment.kind=ada"], 256, 3),
    # StyleGAN3 (same loop: StyleGAN2's loss without path-length / style-mixing regularisation, as the presets set it)
    "sg3-tiny": ("stylegan3-tiny", [], 32, 1),
    "sg3-t-256": ("stylegan3-t-ffhqu256", ["train.batch=32", "loss.r1_gamma=2"], 256, 3),
    "sg3-r-256": ("stylegan3-t-ffhqu256", ["model.config=r", "train.batch=32", "loss.r1_gamma=2",
                                          "loss.blur_init_sigma=10", "loss.blur_fade_kimg=200"], 256, 3),
}
VARIANTS = {
    # name: (GANCTL_OPS, train.compile, train.channels_last)
    "eager": ("auto", "off", False),
    "eager-ref": ("ref", "off", False),
    "channels-last": ("auto", "off", True),
    "compile": ("auto", "default", False),
    "compile-cl": ("auto", "default", True),
    "compile-ref": ("ref", "default", False),
    "cudagraphs": ("auto", "reduce-overhead", False),
    "autotune": ("auto", "max-autotune", False),
}
REG = {"G": 4, "D": 16}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make(cfg, res, channels, device, compile_mode="off", channels_last=False):
    torch.manual_seed(0)
    G, D = get_family(cfg["model"]["family"]).build(cfg["model"], res, channels, 0)
    G, D = G.to(device).train().requires_grad_(False), D.to(device).train().requires_grad_(False)
    augment = build_augment(cfg["augment"], channels)
    if augment is not None:
        augment.to(device)
    loss = StyleGAN2Loss(G, D, cfg["loss"], device, augment_pipe=augment).to(device)
    if channels_last:
        acceleration.to_channels_last(G, D)
    acceleration.enable_compile(loss, compile_mode)
    opts = {}
    for name, net in (("G", G), ("D", D)):
        o = cfg["optim"][name.lower()]
        r = REG[name] / (REG[name] + 1)
        opts[name] = torch.optim.Adam(net.parameters(), lr=o["lr"] * r, betas=tuple(b ** r for b in o["betas"]),
                                      eps=o["eps"])
    return G, D, loss, opts


def run_phase(name, net, opt, loss, real, batch, z_dim, device, gain):
    net.requires_grad_(True)
    opt.zero_grad(set_to_none=True)
    loss.accumulate_gradients(name, real, None, torch.randn(batch, z_dim, device=device), None, gain)
    opt.step()
    net.requires_grad_(False)


def time_phases(G, D, loss, opts, batch, res, channels, device, iters, channels_last=False, warmup=1):
    """Mean seconds per call for each phase, after `warmup` calls (compiled variants trace and tune there)."""
    real = torch.rand(batch, channels, res, res, device=device) * 2 - 1
    if channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    nets = {"G": G, "D": D}
    out = {}
    for phase, gain in (("Gmain", 1.0), ("Dmain", 1.0), ("Greg", 4.0), ("Dreg", 16.0)):
        net = phase[0]
        for _ in range(warmup):
            run_phase(phase, nets[net], opts[net], loss, real, batch, G.z_dim, device, gain)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            run_phase(phase, nets[net], opts[net], loss, real, batch, G.z_dim, device, gain)
        sync(device)
        out[phase] = (time.perf_counter() - t0) / iters
    step = out["Gmain"] + out["Dmain"] + out["Greg"] / REG["G"] + out["Dreg"] / REG["D"]
    return step / batch * 1000, out


@torch.no_grad()
def gen_rate(G, batch, device, fused, iters):
    G.eval()
    z = torch.randn(batch, G.z_dim, device=device)
    G(z, None, fused_modconv=fused)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        G(z, None, fused_modconv=fused)
    sync(device)
    G.train()
    return batch * iters / (time.perf_counter() - t0)


def time_variant(name, cfg, res, channels, device, batch, iters):
    ops_mode, compile_mode, channels_last = VARIANTS[name]
    old = os.environ.get("GANCTL_OPS")
    os.environ["GANCTL_OPS"] = ops_mode
    try:
        G, D, loss, opts = make(cfg, res, channels, device, compile_mode, channels_last)
        t0 = time.perf_counter()
        warm = 3 if compile_mode != "off" else 1  # tracing, autotuning and CUDA-graph capture happen here
        s_kimg, detail = time_phases(G, D, loss, opts, batch, res, channels, device, iters, channels_last, warm)
        return s_kimg, detail, time.perf_counter() - t0, G
    finally:
        if old is None:
            os.environ.pop("GANCTL_OPS")
        else:
            os.environ["GANCTL_OPS"] = old


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--gen-batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--variants", default="eager,eager-ref",
                    help=f"comma-separated, first is the baseline; from {', '.join(VARIANTS)}")
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    preset, overrides, res, channels = CONFIGS[args.config]
    cfg = resolve_config(preset, overrides=overrides)
    batch = args.batch or cfg["train"]["batch"]
    gen_batch = args.gen_batch or batch

    from ganctl import ops

    st = ops.status(build=True)
    print(f"# bench_stylegan2 config={args.config} res={res} batch={batch} device={device} "
          f"torch={torch.__version__} threads={torch.get_num_threads()} native ops={st['bias_act']['active']} "
          + (torch.cuda.get_device_name() if device.type == "cuda" else ""), flush=True)
    print(f"| {'training variant':16} | {'s/kimg':>8} | {'vs ' + variants[0]:>12} | {'set-up s':>8} | "
          f"{'Gmain s':>8} | {'Dmain s':>8} | {'Greg s':>8} | {'Dreg s':>8} |", flush=True)
    base = None
    G_eager = None
    for name in variants:
        try:
            s_kimg, d, setup, G = time_variant(name, cfg, res, channels, device, batch, args.iters)
        except Exception as e:  # a variant that cannot run here (e.g. CUDA graphs on CPU) is reported, not fatal
            print(f"| {name:16} | failed: {type(e).__name__}: {str(e).splitlines()[0][:90]}", flush=True)
            continue
        base = base or s_kimg
        if VARIANTS[name][1] == "off" and G_eager is None:
            G_eager = G
        print(f"| {name:16} | {s_kimg:8.3f} | {base / s_kimg:11.2f}x | {setup:8.1f} | {d['Gmain']:8.3f} | "
              f"{d['Dmain']:8.3f} | {d['Greg']:8.3f} | {d['Dreg']:8.3f} |", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if G_eager is None:
        G_eager = make(cfg, res, channels, device)[0]
    fused = gen_rate(G_eager, gen_batch, device, True, args.iters)
    nonfused = gen_rate(G_eager, gen_batch, device, False, args.iters)
    print(f"# G generate img/s, batch {gen_batch}: fused {fused:.1f}, non-fused {nonfused:.1f}, "
          f"ratio {fused / nonfused:.2f}")
    if device.type == "cuda":
        print(f"# peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
