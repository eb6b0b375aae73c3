"""Super-resolution speed: `ganctl upscale` (PNG reading, channel handling, tiling, PNG writing with provenance) vs the
bare forward of the same network on the same tensors, measured in the same run; and the training step of an SR preset
through the engine's loss vs a hand-written step (G forward, L1 + GAN, backward, Adam; D likewise).

    python tests/benchmarks/bench_sr.py --device cpu --size 64 --n 4 --num-block 23
    python tests/benchmarks/bench_sr.py --device cuda --size 256 --n 16 --tile 128

Weights are random (RealESRGAN_x4plus's architecture; the speed does not depend on their values). Prints CPU time
(process_time) and wall time; compare ratios, not absolute numbers, on a shared machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _timed(fn, device):
    if device == "cuda":
        torch.cuda.synchronize()
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--num-block", type=int, default=23)
    ap.add_argument("--tile", type=int, default=0)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    from ganctl import api
    from ganctl.models.sr.generators import RRDBNet
    from ganctl.sampling.upscale import run_network

    torch.manual_seed(0)
    G = RRDBNet(num_block=args.num_block).eval()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.save({"params_ema": G.state_dict()}, tmp / "net.pth")
        (tmp / "in").mkdir()
        r = np.random.default_rng(0)
        imgs = [r.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8) for _ in range(args.n)]
        for i, a in enumerate(imgs):
            Image.fromarray(a).save(tmp / "in" / f"{i}.png")
        G = G.to(args.device)
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(255).to(args.device)
        run_network(G, x[:1], args.tile)  # warm-up
        base = _timed(lambda: [run_network(G, x[i:i + 4], args.tile) for i in range(0, args.n, 4)], args.device)
        ours = _timed(lambda: api.upscale(str(tmp / "net.pth"), [str(tmp / "in")], str(tmp / "out"), tile=args.tile,
                                          device=args.device), args.device)
    print(f"upscale x4 RRDBNet({args.num_block} blocks) {args.n} x {args.size}px tile {args.tile or 'none'} on {args.device}")
    print(f"  bare forward        cpu {base[0]:8.2f} s  wall {base[1]:8.2f} s")
    print(f"  ganctl upscale      cpu {ours[0]:8.2f} s  wall {ours[1]:8.2f} s   (file I/O, provenance, network load included)")
    print(f"  ratio bare/ganctl   cpu {base[0] / ours[0]:.2f}  wall {base[1] / ours[1]:.2f}")

    # Training step: the engine's loss module vs the same arithmetic by hand, one step of batch 4 at 32 px patches.
    from ganctl.config import resolve_config
    from ganctl.losses.sr import SRLoss
    from ganctl.models import build_networks

    cfg = resolve_config("esrgan-x4", overrides=[f"model.num_block={args.num_block}", "model.gt_size=32",
                                                 "loss.perceptual_weight=0"])
    torch.manual_seed(0)
    G, D = build_networks(cfg, 32, 3, 0)
    G, D = G.to(args.device), D.to(args.device)
    loss = SRLoss(G, D, cfg["loss"], args.device)
    og, od = torch.optim.Adam(G.parameters(), 1e-4), torch.optim.Adam(D.parameters(), 1e-4)
    b = {"input": torch.rand(4, 3, 8, 8, device=args.device) * 2 - 1,
         "target": torch.rand(4, 3, 32, 32, device=args.device) * 2 - 1}

    def engine_step():
        for _ in range(args.steps):
            og.zero_grad(); loss.accumulate_gradients("Gboth", b, 1.0, 0); og.step()
            od.zero_grad(); loss.accumulate_gradients("Dboth", b, 1.0, 0); od.step()

    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def hand_step():
        for _ in range(args.steps):
            og.zero_grad()
            fake = G(b["input"])
            fl = D(fake)
            with torch.no_grad():
                rl = D(b["target"])
            lg = 0.01 * (fake - b["target"]).abs().mean() * 0.5 + 0.005 * 0.5 * (
                bce(rl - fl.mean(), torch.zeros_like(rl)) + bce(fl - rl.mean(), torch.ones_like(fl)))
            lg.backward(); og.step()
            od.zero_grad()
            rl, fl = D(b["target"]), D(fake.detach())
            (0.5 * (bce(rl - fl.mean().detach(), torch.ones_like(rl)) + bce(fl - rl.mean().detach(), torch.zeros_like(fl)))).backward()
            od.step()

    hand_step()
    h = _timed(hand_step, args.device)
    e = _timed(engine_step, args.device)
    print(f"esrgan-x4 step (RaGAN + L1, {args.num_block} blocks, batch 4, 32 px HR) x {args.steps}")
    print(f"  hand-written        cpu {h[0]:8.2f} s  wall {h[1]:8.2f} s")
    print(f"  ganctl SRLoss       cpu {e[0]:8.2f} s  wall {e[1]:8.2f} s")
    print(f"  ratio hand/ganctl   cpu {h[0] / e[0]:.2f}  wall {h[1] / e[1]:.2f}")


if __name__ == "__main__":
    main()
