"""Benchmark: StyleGAN2 training throughput (s/kimg) and G_ema generation throughput (images/s).

Training runs NVlabs' lazy-regularisation schedule (Gmain + Dmain every step, Greg every 4, Dreg every 16) with Adam
steps, and reports s/kimg amortised over that schedule. Baselines measured in the same run:
  * training with ganctl.ops' plain-PyTorch reference (GANCTL_OPS=ref) vs the default (native kernels when built);
  * generation with the fused (grouped-conv) modulated conv vs the non-fused path.

  python tests/benchmarks/bench_stylegan2.py --config tiny            # CPU, the stylegan-tiny preset, 32x32x1
  python tests/benchmarks/bench_stylegan2.py --config 256 --device cuda  # 256x256, channel_base 32768, batch 32
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from ganctl.config.load import resolve_config
from ganctl.losses.stylegan2 import StyleGAN2Loss
from ganctl.models.stylegan2 import build

CONFIGS = {
    # name: (preset, overrides, resolution, channels)
    "tiny": ("stylegan-tiny", [], 32, 1),
    "256": ("stylegan-ffhq256", ["model.channel_base=32768", "model.mbstd_group=4", "loss.r1_gamma=1",
                                 "train.batch=32"], 256, 3),
}
REG = {"G": 4, "D": 16}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make(cfg, res, channels, device):
    torch.manual_seed(0)
    G, D = build(cfg["model"], res, channels, 0)
    G, D = G.to(device).train().requires_grad_(False), D.to(device).train().requires_grad_(False)
    loss = StyleGAN2Loss(G, D, cfg["loss"], device).to(device)
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


def time_phases(G, D, loss, opts, batch, res, channels, device, iters):
    """Median-free simple mean seconds per call for each phase, after one warm-up call."""
    real = torch.rand(batch, channels, res, res, device=device) * 2 - 1
    nets = {"G": G, "D": D}
    out = {}
    for phase, gain in (("Gmain", 1.0), ("Dmain", 1.0), ("Greg", 4.0), ("Dreg", 16.0)):
        net = phase[0]
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--gen-batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-ref", action="store_true", help="skip the GANCTL_OPS=ref training baseline")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    preset, overrides, res, channels = CONFIGS[args.config]
    cfg = resolve_config(preset, overrides=overrides)
    batch = args.batch or cfg["train"]["batch"]
    gen_batch = args.gen_batch or batch

    G, D, loss, opts = make(cfg, res, channels, device)
    rows = []
    ours, detail = time_phases(G, D, loss, opts, batch, res, channels, device, args.iters)
    if not args.no_ref:
        old = os.environ.get("GANCTL_OPS")
        os.environ["GANCTL_OPS"] = "ref"
        try:
            base, _ = time_phases(G, D, loss, opts, batch, res, channels, device, args.iters)
        finally:
            if old is None:
                os.environ.pop("GANCTL_OPS")
            else:
                os.environ["GANCTL_OPS"] = old
        rows.append(("train s/kimg (lower is better)", "ops auto", ours, "ops ref", base, base / ours))
    else:
        rows.append(("train s/kimg (lower is better)", "ops auto", ours, "-", float("nan"), float("nan")))
    fused = gen_rate(G, gen_batch, device, True, args.iters)
    nonfused = gen_rate(G, gen_batch, device, False, args.iters)
    rows.append((f"G generate img/s, batch {gen_batch}", "fused", fused, "non-fused", nonfused, fused / nonfused))

    from ganctl import ops
    st = ops.status()
    print(f"# bench_stylegan2 config={args.config} res={res} batch={batch} device={device} "
          f"torch={torch.__version__} threads={torch.get_num_threads()} ops={st['bias_act']['active']}/"
          f"{st['upfirdn2d']['active']} " + (torch.cuda.get_device_name() if device.type == "cuda" else ""))
    print("# phase seconds/call (ops auto): " + ", ".join(f"{k} {v:.3f}" for k, v in detail.items()))
    print(f"| {'measure':34} | {'ours':>10} | {'value':>10} | {'baseline':>10} | {'value':>10} | {'ratio':>6} |")
    print(f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 8}|")
    for what, a, va, b, vb, ratio in rows:
        print(f"| {what:34} | {a:>10} | {va:10.3f} | {b:>10} | {vb:10.3f} | {ratio:6.2f} |")


if __name__ == "__main__":
    main()
