"""The projector: find the w whose image matches a target (Karras et al. 2020, NVlabs stylegan2-ada-pytorch
projector.py), for any generator with the W-space seam (mapping, synthesis, num_ws, w_dim; noise_const buffers
where it has noise inputs).

NVlabs' defaults, kept: w statistics from 10,000 z drawn with RandomState(123); start at w_avg; Adam (0.9, 0.999) at
lr 0.1 times a ramp (linear up over the first 5% of steps, cosine down over the last 25%); Gaussian noise on w of
std w_std * 0.05 * max(0, 1 - t / 0.75)^2; the noise maps re-drawn, optimised alongside w, penalised by 1e5 x the
squared autocorrelation (shift 1 in x and y) over a pyramid down to 8x8, and renormalised to zero mean and unit
variance after every step; images area-downsampled to 256 px when larger; one w broadcast to every layer ("w").
Additions: `space="w+"` (one w per layer), `noise="const"` (keep the network's own noise maps fixed, as `sample`
and proj.png use them, instead of re-drawing and optimising them: right for images the generator itself made, whose
noise is exactly those maps; NVlabs' re-drawn maps are thrown away at the end, so what they absorbed during the
optimisation is missing from proj.png), a start w, several targets in one batch (each target has its own w and
noise maps and its own loss term, so with Adam's per-element updates it follows the same path it would alone, up to
its w-noise draw), and `loss="mse"` (pixel MSE, needs no weights). The LPIPS distance is ganctl.metrics.lpips'
LPIPS-VGG16 v0.1, whose target taps are computed once.

The result is w per step (optional) and the final w; like NVlabs, the images made from it use the network's own
noise buffers (noise_mode="const"), so `ganctl sample --projected-w` reproduces proj.png.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ganctl.errors import UsageError

LPIPS_SIZE = 256


@dataclass
class ProjectorConfig:
    steps: int = 1000
    w_avg_samples: int = 10000
    initial_learning_rate: float = 0.1
    initial_noise_factor: float = 0.05
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    space: str = "w"          # w | w+
    noise: str = "optimise"   # optimise (re-drawn, optimised, regularised: NVlabs) | const (the network's own, fixed)
    loss: str = "lpips"       # lpips | mse
    seed: int = 0             # the w noise and the re-drawn noise maps

    def check(self) -> None:
        if self.steps < 1:
            raise UsageError("--steps: must be at least 1 (NVlabs' default is 1000)")
        if self.space not in ("w", "w+"):
            raise UsageError(f"--space {self.space!r}: use w (one w broadcast, NVlabs) or w+ (one w per layer)")
        if self.noise not in ("optimise", "const"):
            raise UsageError(f"--noise {self.noise!r}: use optimise (re-drawn and optimised, NVlabs) or const "
                             "(the network's own noise maps, fixed)")
        if self.loss not in ("lpips", "mse"):
            raise UsageError(f"--loss {self.loss!r}: use lpips (NVlabs) or mse (pixels; needs no weights)")


def learning_rate(cfg: ProjectorConfig, step: int) -> float:
    t = step / cfg.steps
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return cfg.initial_learning_rate * ramp * min(1.0, t / cfg.lr_rampup_length)


def w_noise_scale(cfg: ProjectorConfig, step: int, w_std: float) -> float:
    t = step / cfg.steps
    return w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2


@torch.no_grad()
def w_stats(G, num: int, device, c=None, batch_size: int = 1000) -> tuple[torch.Tensor, float]:
    """(w_avg [1, 1, w_dim], w_std) of `num` z from RandomState(123), as NVlabs computes them."""
    z = torch.from_numpy(np.random.RandomState(123).randn(num, G.z_dim).astype(np.float32))
    ws = []
    for i in range(0, num, batch_size):
        zz = z[i:i + batch_size].to(device)
        cc = None if c is None else c[:1].expand(len(zz), *c.shape[1:])
        ws.append(G.mapping(zz, cc)[:, :1, :].float())
    w = torch.cat(ws).double()
    w_avg = w.mean(0, keepdim=True)
    w_std = float(((w - w_avg).square().sum() / num).sqrt())
    return w_avg.float(), w_std


def noise_buffers(G) -> list[tuple[torch.nn.Module, str]]:
    """(module, buffer name) of every noise_const buffer (none in StyleGAN3)."""
    out = []
    for mod in G.synthesis.modules():
        for name, _ in mod.named_buffers(recurse=False):
            if name == "noise_const":
                out.append((mod, name))
    return out


def noise_regularisation(noises: list[torch.Tensor]) -> torch.Tensor:
    """Per target (B,): sum over maps and pyramid levels of the squared mean x- and y-autocorrelation."""
    reg = 0.0
    for v in noises:
        noise = v  # (B, 1, H, W)
        while True:
            reg = reg + (noise * torch.roll(noise, shifts=1, dims=3)).mean(dim=(1, 2, 3)).square()
            reg = reg + (noise * torch.roll(noise, shifts=1, dims=2)).mean(dim=(1, 2, 3)).square()
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    return reg


def to_lpips_input(img255: torch.Tensor) -> torch.Tensor:
    """[0, 255] float (B, C, H, W) -> 3 channels, area-downsampled to 256 when larger (NVlabs)."""
    if img255.shape[1] == 1:
        img255 = img255.expand(-1, 3, -1, -1)
    if img255.shape[2] > LPIPS_SIZE:
        img255 = F.interpolate(img255, size=(LPIPS_SIZE, LPIPS_SIZE), mode="area")
    return img255


class Distance:
    """Per-target distance to fixed targets: LPIPS (target taps computed once) or pixel MSE."""

    def __init__(self, targets255: torch.Tensor, lpips=None):
        self.lpips = lpips
        if lpips is None:
            self.target = targets255 / 255
        else:
            with torch.no_grad():
                self.target = [t.detach() for t in lpips.taps(to_lpips_input(targets255))]

    def __call__(self, synth255: torch.Tensor) -> torch.Tensor:
        if self.lpips is None:
            return (synth255 / 255 - self.target).square().mean(dim=(1, 2, 3))
        total = 0.0
        for f, t, w in zip(self.lpips.taps(to_lpips_input(synth255)), self.target, self.lpips.w):
            total = total + ((f - t).square() * w).sum(dim=1).mean(dim=(1, 2))
        return total


def project(G, targets: torch.Tensor, cfg: ProjectorConfig, lpips=None, start_w: torch.Tensor | None = None,
            c: torch.Tensor | None = None, keep_steps: bool = False, progress=None) -> dict:
    """Project uint8 targets (B, C, res, res) into G. Returns {"w": final ws (B, num_ws, w_dim), "w_steps":
    (steps, B, num_ws, w_dim) or None, "loss": final per-target distances}."""
    cfg.check()
    if cfg.loss == "lpips" and lpips is None:
        raise UsageError("--loss lpips needs the LPIPS weights (see --weights/--lpips-weights); or use --loss mse")
    device = targets.device
    G = copy.deepcopy(G).eval().requires_grad_(False)  # its noise buffers become per-target optimisation variables
    B, num_ws = targets.shape[0], G.num_ws
    w_avg, w_std = w_stats(G, cfg.w_avg_samples, device, c)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    if start_w is not None:
        w0 = start_w.to(device, torch.float32)
        w0 = w0.expand(B, -1, -1) if w0.shape[0] == 1 else w0
        if cfg.space == "w":
            w0 = w0[:, :1]
    else:
        w0 = w_avg.expand(B, 1 if cfg.space == "w" else num_ws, -1)
    w_opt = w0.clone().contiguous().requires_grad_(True)
    noises = []
    for mod, name in (noise_buffers(G) if cfg.noise == "optimise" else []):
        buf = getattr(mod, name)
        v = torch.randn((B, 1, *buf.shape[-2:]), generator=gen).to(device).requires_grad_(True)
        delattr(mod, name)
        setattr(mod, name, v)  # broadcasts over channels in the layer's `x + noise`
        noises.append(v)
    optimizer = torch.optim.Adam([w_opt] + noises, betas=(0.9, 0.999), lr=cfg.initial_learning_rate)
    dist_fn = Distance(targets.float(), lpips if cfg.loss == "lpips" else None)
    # G's weights are frozen: modulating the activations (StyleGAN2's non-fused modconv) needs only input gradients
    # of each conv, where the per-sample (fused) weights would also need the convs' weight gradients to reach w.
    # 1.5x faster per step on a CPU at 64 px (tests/benchmarks/bench_project.py). Families without the switch ignore it.
    synth_kwargs = {"fused_modconv": False} if "fused_modconv" in inspect.signature(G.synthesis.forward).parameters else {}
    w_steps = [] if keep_steps else None
    dist = None
    for step in range(cfg.steps):
        lr = learning_rate(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        w_noise = torch.randn(w_opt.shape, generator=gen).to(device) * w_noise_scale(cfg, step, w_std)
        ws = w_opt + w_noise
        ws = ws.expand(-1, num_ws, -1) if cfg.space == "w" else ws
        synth = (G.synthesis(ws, noise_mode="const", **synth_kwargs) + 1) * (255 / 2)
        dist = dist_fn(synth)
        loss = dist.sum()
        if noises:
            loss = loss + noise_regularisation(noises).sum() * cfg.regularize_noise_weight
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for v in noises:
                v -= v.mean(dim=(1, 2, 3), keepdim=True)
                v *= v.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
        if keep_steps:
            w_steps.append(w_opt.detach().expand(-1, num_ws, -1).cpu().clone())
        if progress is not None:
            progress({"step": step + 1, "steps": cfg.steps, "dist": dist.detach().cpu().tolist(), "lr": lr})
    return {"w": w_opt.detach().expand(-1, num_ws, -1).clone(), "w_steps": torch.stack(w_steps) if keep_steps else None,
            "loss": dist.detach().cpu().tolist()}


def load_target(path, resolution: int, channels: int, log=None) -> np.ndarray:
    """An image file -> uint8 (res, res, channels): centre-cropped to a square, LANCZOS-resized (NVlabs)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise UsageError(f"{path}: not a readable image ({e.__class__.__name__})") from None
    w, h = im.size
    s = min(w, h)
    if (w, h) != (resolution, resolution):
        im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((resolution, resolution),
                                                                                     Image.LANCZOS)
        if log is not None:
            log(f"{path}: {w}x{h} centre-cropped to {s}x{s} and LANCZOS-resized to {resolution}x{resolution}")
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def image_metrics(synth_u8: torch.Tensor, target_u8: torch.Tensor, lpips=None) -> list[dict]:
    """Per image: MSE (on [0, 1]), PSNR (dB, peak 255) and, with LPIPS weights, the LPIPS distance."""
    a, b = synth_u8.double(), target_u8.double()
    mse = (a - b).square().mean(dim=(1, 2, 3)) / 255 ** 2
    out = []
    lp = None
    if lpips is not None:
        with torch.no_grad():
            lp = lpips(to_lpips_input(synth_u8.float()), to_lpips_input(target_u8.float())).cpu().tolist()
    for i, m in enumerate(mse.cpu().tolist()):
        out.append({"mse": m, "psnr": float("inf") if m == 0 else 10 * math.log10(1 / m),
                    "lpips": None if lp is None else lp[i]})
    return out
