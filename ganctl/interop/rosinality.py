"""rosinality stylegan2-pytorch checkpoints (`.pt`) -> ganctl's StyleGAN2.

The file is a torch.save zip holding state dicts ('g', 'd', 'g_ema'), optimizer states, the training `args`
(an argparse.Namespace) and sometimes `latent_avg`. It is read with `torch.load(weights_only=True)`, with
argparse.Namespace as the one extra admitted class (it is rebuilt as a plain attribute bag, nothing is called).

Their networks compute the same functions as NVlabs' config F (skip G, resnet D, no activation clamp, minibatch-std
group 4) with different module names and shapes: modulated conv weights carry a leading batch axis, noise strengths
are shape (1,), per-layer noise lives in `noises.noise_i` (1, 1, r, r), and the mapping starts with a parameter-free
PixelNorm at `style.0`. Their mapping has no running w average: truncation moves toward `latent_avg` when the file
has it (their convert_weight.py stores it), otherwise toward the mean of 10,000 w for z from RandomState(0), which
is what their generate.py's `mean_latent(4096)` estimates with torch's RNG.
"""

from __future__ import annotations

import argparse
import io
import math
import re
from pathlib import Path

import numpy as np
import torch

from ganctl.errors import UsageError

FORMAT = "rosinality-pt"
W_AVG_SAMPLES = 10_000
_SUB = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight", "conv.modulation.bias": "affine.bias",
        "noise.weight": "noise_strength", "activate.bias": "bias"}


def _load(data: bytes, path: Path) -> dict:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses any other global with an UnpicklingError naming it
        refused = re.search(r"GLOBAL ([\w.]+)", str(e))
        if refused:
            raise UsageError(f"{path}: not a rosinality stylegan2-pytorch checkpoint: it references the global "
                             f"{refused.group(1)}, which ganctl never imports or calls (weights-only load)") from None
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"{path}: not a readable weights-only torch checkpoint ({msg[:160]})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("g_ema", obj.get("g")), dict):
        raise UsageError(f"{path}: a torch checkpoint without rosinality stylegan2-pytorch's 'g_ema' state dict; "
                         "ganctl reads NVlabs pickles and rosinality checkpoints")
    return obj


def _synthesis_layer(src: dict, pre: str, dst: str, out: dict) -> None:
    for a, b in _SUB.items():
        t = src[pre + a]
        if b == "weight":
            t = t[0]
        elif b == "noise_strength":
            t = t.reshape([])
        out[f"{dst}.{b}"] = t


def _torgb(src: dict, pre: str, dst: str, out: dict) -> None:
    out[f"{dst}.weight"] = src[pre + "conv.weight"][0]
    out[f"{dst}.affine.weight"] = src[pre + "conv.modulation.weight"]
    out[f"{dst}.affine.bias"] = src[pre + "conv.modulation.bias"]
    out[f"{dst}.bias"] = src[pre + "bias"].reshape(-1)


def generator_tensors(g: dict, size: int, n_mlp: int) -> dict:
    """rosinality Generator state_dict -> ganctl Generator names (without resample filters and w_avg)."""
    out = {f"mapping.layers.{i - 1}.{p}": g[f"style.{i}.{p}"] for i in range(1, n_mlp + 1) for p in ("weight", "bias")}
    out["synthesis.b4.const"] = g["input.input"][0]
    _synthesis_layer(g, "conv1.", "synthesis.b4.conv1", out)
    _torgb(g, "to_rgb1.", "synthesis.b4.torgb", out)
    out["synthesis.b4.conv1.noise_const"] = g["noises.noise_0"][0, 0]
    for k in range(int(math.log2(size)) - 2):
        res = 2 ** (k + 3)
        for j, conv in enumerate(("conv0", "conv1")):
            _synthesis_layer(g, f"convs.{2 * k + j}.", f"synthesis.b{res}.{conv}", out)
            out[f"synthesis.b{res}.{conv}.noise_const"] = g[f"noises.noise_{2 * k + 1 + j}"][0, 0]
        _torgb(g, f"to_rgbs.{k}.", f"synthesis.b{res}.torgb", out)
    return out


def discriminator_tensors(d: dict, size: int) -> dict:
    out = {f"b{size}.fromrgb.weight": d["convs.0.0.weight"], f"b{size}.fromrgb.bias": d["convs.0.1.bias"]}
    for i in range(1, int(math.log2(size)) - 1):
        res = size >> (i - 1)
        p = f"convs.{i}."
        out.update({f"b{res}.conv0.weight": d[p + "conv1.0.weight"], f"b{res}.conv0.bias": d[p + "conv1.1.bias"],
                    f"b{res}.conv1.weight": d[p + "conv2.1.weight"], f"b{res}.conv1.bias": d[p + "conv2.2.bias"],
                    f"b{res}.skip.weight": d[p + "skip.1.weight"]})
    out.update({"b4.conv.weight": d["final_conv.0.weight"], "b4.conv.bias": d["final_conv.1.bias"],
                "b4.fc.weight": d["final_linear.0.weight"], "b4.fc.bias": d["final_linear.0.bias"],
                "b4.out.weight": d["final_linear.1.weight"], "b4.out.bias": d["final_linear.1.bias"]})
    return out


def _channel_plan(g: dict, size: int) -> tuple[int, int]:
    """(channel_base, channel_max) reproducing the file's per-resolution channels (theirs: 512 up to 32 px, then
    16384 * channel_multiplier / res)."""
    chans = {4: g["input.input"].shape[1]}
    for k in range(int(math.log2(size)) - 2):
        chans[2 ** (k + 3)] = g[f"convs.{2 * k}.conv.weight"].shape[1]
    cmax = max(chans.values())
    below = [r * c for r, c in chans.items() if c < cmax]
    return (min(below) if below else cmax * size), cmax


def _fir_ok(state: dict) -> bool:
    from ganctl import ops
    from ganctl.models.stylegan2.layers import RESAMPLE_TAPS

    fir = ops.setup_filter(RESAMPLE_TAPS)
    return all(v.shape == fir.shape and torch.allclose(v / v.sum(), fir) for k, v in state.items()
               if k.endswith("kernel"))


def read(data: bytes, path: Path, sha256: str):
    from ganctl.interop.imported import ImportedNetwork, build_meta, plain_data
    from ganctl import ops
    from ganctl.models.stylegan2.layers import RESAMPLE_TAPS

    obj = _load(data, path)
    g_ema = obj.get("g_ema", obj.get("g"))
    n_mlp = len({m.group(1) for k in g_ema if (m := re.match(r"style\.(\d+)\.weight$", k))})
    size = 4 * 2 ** len([k for k in g_ema if re.match(r"to_rgbs\.\d+\.bias$", k)])
    latent = g_ema["style.1.weight"].shape[1]
    args = obj.get("args")
    if isinstance(args, argparse.Namespace) and (getattr(args, "size", size), getattr(args, "latent", latent),
                                                  getattr(args, "n_mlp", n_mlp)) != (size, latent, n_mlp):
        raise UsageError(f"{path}: its args (size {args.size}, latent {args.latent}, n_mlp {args.n_mlp}) disagree "
                         "with its weights; the file is inconsistent")
    if any(not _fir_ok(sd) for sd in (obj.get(n) for n in ("g", "d", "g_ema")) if isinstance(sd, dict)):
        raise UsageError(f"{path}: uses a blur kernel other than StyleGAN2's [1,3,3,1]; ganctl cannot run it")
    base, cmax = _channel_plan(g_ema, size)
    model = {"family": "stylegan2", "conditional": False, "z_dim": latent, "w_dim": latent, "mapping_layers": n_mlp,
             "mapping_lr_mult": 0.01, "channel_base": base, "channel_max": cmax, "num_fp16_res": 0,
             "conv_clamp": None, "mbstd_group": 4, "mbstd_channels": 1, "d_architecture": "resnet"}
    G_meta, D_meta = build_meta(model, size, 3, 0)
    fir = ops.setup_filter(RESAMPLE_TAPS)
    filters = {k: fir for k in G_meta.state_dict() if k.endswith("resample_filter")}
    d_filters = {k: fir for k in D_meta.state_dict() if k.endswith("resample_filter")}
    tensors = {}
    try:
        for src, dst in (("g", "G"), ("g_ema", "G_ema")):
            if isinstance(obj.get(src), dict):
                tensors.update({f"{dst}/{k}": v for k, v in {**generator_tensors(obj[src], size, n_mlp),
                                                            **filters}.items()})
        if isinstance(obj.get("d"), dict):
            tensors.update({f"D/{k}": v for k, v in {**discriminator_tensors(obj["d"], size), **d_filters}.items()})
    except KeyError as e:
        raise UsageError(f"{path}: rosinality checkpoint lacks {e.args[0]}; not a stylegan2-pytorch StyleGAN2") from None
    w_avg, how = _w_avg(obj, model, tensors, size)
    for dst in ("G", "G_ema"):
        if f"{dst}/mapping.layers.0.weight" in tensors:
            tensors[f"{dst}/mapping.w_avg"] = w_avg
    return ImportedNetwork(path, sha256, FORMAT, model, size, 3, 0, tensors, kimg=None,
                           extra={"args": plain_data(vars(args)) if isinstance(args, argparse.Namespace) else {},
                                  "arguments": {"args": plain_data(vars(args))} if isinstance(args, argparse.Namespace)
                                  else {}, "w_avg": how})


def _w_avg(obj: dict, model: dict, tensors: dict, size: int) -> tuple[torch.Tensor, str]:
    avg = obj.get("latent_avg")
    if isinstance(avg, torch.Tensor) and avg.numel() == model["w_dim"]:
        return avg.reshape(-1).float(), "latent_avg from the file"
    from ganctl.models.stylegan2.mapping import MappingNetwork

    prefix = "G_ema/" if "G_ema/mapping.layers.0.weight" in tensors else "G/"
    mapping = MappingNetwork(model["z_dim"], 0, model["w_dim"], None, num_layers=model["mapping_layers"],
                             w_avg_beta=None)
    mapping.load_state_dict({k[len(prefix) + len("mapping."):]: v for k, v in tensors.items()
                             if k.startswith(prefix + "mapping.layers.")})
    z = torch.from_numpy(np.random.RandomState(0).randn(W_AVG_SAMPLES, model["z_dim"]).astype(np.float32))
    with torch.no_grad():
        return mapping(z, None).mean(0), f"mean w of {W_AVG_SAMPLES} z from RandomState(0) (the file has no latent_avg)"
