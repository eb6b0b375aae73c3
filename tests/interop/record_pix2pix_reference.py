"""Record pix2pix/CycleGAN reference outputs ONCE with the reference code's own networks (run by a person, never by the
test suite).

    git clone https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix /tmp/cyclegan_ref
    python3 tests/interop/record_pix2pix_reference.py /tmp/cyclegan_ref

Recorded 2026-12-06 with the upstream master code as of 2023 (models/networks.py: `define_G`/`define_D`,
InstanceNorm2d(affine=False, track_running_stats=False), `init_weights` 'normal' 0.02). The upstream repository is
3 GB, so its code files were taken from copies of that master (two independent copies whose networks.py agree but for
one line break; models/cycle_gan_model.py, used only by tests/benchmarks/bench_translate.py, from the upstream file).
The reference code is not part of ganctl and is never committed; only its `models/networks.py` is imported here
(its `models/__init__.py` is bypassed).

Each case builds small seeded networks with `define_G`/`define_D` (the reference's own init), perturbs every tensor
(weights, biases, batch-norm affine and running statistics) so each one matters, and saves them exactly as the
reference's `BaseModel.save_networks` does (`torch.save(net.cpu().state_dict(), '<epoch>_net_<name>.pth')`) under
tests/interop/fixtures/pix2pix_reference/<case>/. Its outputs on seeded uint8 images (mapped to [-1, 1] as its
transforms do) go to tests/interop/fixtures/pix2pix_reference/io.safetensors:
- `<case>/input` (uint8 NHWC), `<case>/eval` (G in eval mode: running batch-norm statistics, dropout off — the
  reference's `test.py --eval`), and for networks with batch norm or dropout `<case>/train` (G in train mode, as the
  reference's test.py runs it without --eval: each image alone with its own batch statistics, dropout on, the masks
  drawn from the torch CPU generator seeded once with SEED before the first image, images in order) — what
  `ganctl translate --dropout on --bn batch --seed SEED` does;
- `<case>/D_eval`, `<case>/D_train` (batch-norm D, the whole batch at once) or `<case>/D_A`, `<case>/D_B` (instance
  norm): the PatchGAN logits on cat(input, eval output) for pix2pix and on the input for CycleGAN's D_A / D_B.
The metadata holds each case's define_G/define_D arguments and file names.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

SEED = 7
# name: (netG, input_nc, output_nc, ngf, norm, dropout, (H, W), images, D: None | (netD, n_layers_D, ndf), files)
CASES = {
    "unet256_batch": ("unet_256", 1, 1, 2, "batch", True, (256, 256), 1, ("n_layers", 2, 4), "pix2pix"),
    "unet128_batch": ("unet_128", 3, 3, 2, "batch", True, (128, 128), 1, ("basic", 3, 4), "pix2pix"),
    "resnet9_instance": ("resnet_9blocks", 3, 3, 2, "instance", False, (32, 40), 2, ("basic", 3, 4), "cyclegan"),
    "resnet6_instance_dropout": ("resnet_6blocks", 3, 3, 2, "instance", True, (36, 28), 2, None, "single"),
    "resnet6_batch_dropout": ("resnet_6blocks", 3, 3, 2, "batch", True, (32, 32), 2, None, "single"),
}


def _networks(root: Path):
    """The reference's models/networks.py alone (its package __init__ imports every model and their options)."""
    spec = importlib.util.spec_from_file_location("cyclegan_ref_networks", root / "models" / "networks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@torch.no_grad()
def _perturb(net: torch.nn.Module, gen: torch.Generator, calibrate: torch.Tensor) -> None:
    """Every weight moved off its init (convs to a unit-gain scale, so signals neither vanish nor saturate), then
    running batch-norm statistics gathered on `calibrate` as training would, then moved too: eval-mode outputs
    depend on every tensor and are O(0.1), not a near-constant."""
    for name, t in net.state_dict().items():
        if not t.is_floating_point() or "running_" in name:
            continue
        noise = torch.randn(t.shape, generator=gen)
        if t.ndim >= 2:  # conv / transposed conv: std ~ 1 / sqrt(fan-in)
            fan_in = t[0].numel()
            t.mul_(1 + 0.2 * noise).add_(torch.randn(t.shape, generator=gen) / fan_in ** 0.5)
        else:  # biases, batch-norm affine
            t.mul_(1 + 0.2 * noise).add_(0.05 * torch.randn(t.shape, generator=gen))
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if bns:
        for m in bns:
            m.momentum = None  # cumulative average over the calibration batches
        net.train()
        for j in range(len(calibrate)):
            net(calibrate[j:j + 1])
        for m in bns:
            m.momentum = 0.1
            m.running_mean.add_(0.05 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.mul_(1 + 0.2 * torch.rand(m.running_var.shape, generator=gen))


def _images(n: int, c: int, h: int, w: int, seed: int) -> np.ndarray:
    """Smooth seeded uint8 images (upsampled noise plus a gradient): image-like, not white noise."""
    rng = np.random.RandomState(seed)
    small = torch.from_numpy(rng.rand(n, c, max(2, h // 8), max(2, w // 8)).astype(np.float32))
    big = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    ramp = torch.linspace(0, 0.3, w).view(1, 1, 1, w)
    arr = ((big * 0.7 + ramp).clamp(0, 1) * 255).round().to(torch.uint8)
    return arr.permute(0, 2, 3, 1).numpy()


def _to_input(arr: np.ndarray) -> torch.Tensor:
    # the reference: ToTensor (/255) then Normalize((0.5,), (0.5,)): (x / 255 - 0.5) / 0.5
    return (torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5


def main(root: str) -> None:
    networks = _networks(Path(root))
    fixtures = Path(__file__).resolve().parent / "fixtures" / "pix2pix_reference"
    tensors, meta = {}, {}
    for i, (name, (netG, cin, cout, ngf, norm, dropout, (h, w), n, dspec, layout)) in enumerate(CASES.items()):
        gen = torch.Generator().manual_seed(1000 + i)
        torch.manual_seed(100 + i)
        kinds = ["G_A", "G_B"] if layout == "cyclegan" else ["G"]
        G = {k: networks.define_G(cin, cout, ngf, netG, norm, dropout, "normal", 0.02, []) for k in kinds}
        D = {}
        if dspec is not None:
            netD, n_layers_D, ndf = dspec
            d_in = cin + cout if layout == "pix2pix" else cout
            D = {k: networks.define_D(d_in, ndf, netD, n_layers_D, norm, "normal", 0.02, [])
                 for k in (["D_A", "D_B"] if layout == "cyclegan" else ["D"])}
        calib = _to_input(_images(4, cin, h, w, seed=50 + i))
        for k, net in G.items():
            _perturb(net, gen, calib)
        for k, net in D.items():
            _perturb(net, gen, torch.cat([calib, calib], 1) if layout == "pix2pix" else calib)
        out = fixtures / name
        out.mkdir(parents=True, exist_ok=True)
        for k, net in {**G, **D}.items():  # as BaseModel.save_networks saves them (CPU, before any forward)
            torch.save(copy.deepcopy(net).cpu().state_dict(), out / f"latest_net_{k}.pth")
        arr = _images(n, cin, h, w, seed=i)
        x = _to_input(arr)
        tensors[f"{name}/input"] = torch.from_numpy(arr.copy())
        with torch.no_grad():
            for k, g in G.items():
                suffix = "" if k == "G" else f"_{k[-1]}"
                g.eval()
                y = g(x)
                tensors[f"{name}/eval{suffix}"] = y.contiguous()
                if norm == "batch" or dropout:
                    g.train()  # the reference test.py without --eval: its batch statistics, dropout on
                    torch.manual_seed(SEED)
                    tensors[f"{name}/train{suffix}"] = torch.cat([g(x[j:j + 1]) for j in range(n)]).contiguous()
            if layout == "pix2pix":
                d = D["D"]
                pair = torch.cat([x, tensors[f"{name}/eval"]], 1)
                d.eval()
                tensors[f"{name}/D_eval"] = d(pair).contiguous()
                d.train()
                tensors[f"{name}/D_train"] = d(pair).contiguous()
            elif layout == "cyclegan":
                for k, d in D.items():
                    d.eval()
                    tensors[f"{name}/{k}"] = d(x).contiguous()
        meta[name] = {"netG": netG, "input_nc": cin, "output_nc": cout, "ngf": ngf, "norm": norm, "dropout": dropout,
                      "D": None if dspec is None else {"netD": dspec[0], "n_layers_D": dspec[1], "ndf": dspec[2]},
                      "layout": layout, "files": sorted(p.name for p in out.iterdir())}
        for k, v in tensors.items():
            if k.startswith(name + "/") and v.is_floating_point():
                print(f"{k:40s} {tuple(v.shape)} std {v.std():.3f} |y|>0.99: {(v.abs() > 0.99).float().mean():.3f}")
    from safetensors.torch import save_file

    save_file(tensors, str(fixtures / "io.safetensors"),
              metadata={"cases": json.dumps(meta), "seed": str(SEED), "source": "junyanz/pytorch-CycleGAN-and-pix2pix master (2023)"})
    total = sum(p.stat().st_size for p in fixtures.rglob("*") if p.is_file())
    print(f"{fixtures}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
