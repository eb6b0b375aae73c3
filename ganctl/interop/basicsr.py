"""Super-resolution weight files users have -> ganctl's `sr` family: BasicSR / Real-ESRGAN `.pth` files (a dict with
`params_ema` or `params` holding the state dict: RealESRGAN_x4plus, x2plus, RealESRNet_x4plus, x4plus_anime_6B,
realesr-general-x4v3, ...), bare BasicSR state dicts, and the original ESRGAN repository's RRDB_ESRGAN_x4.pth layouts
(`RRDB_trunk.N.RDBk.convj` / `trunk_conv` / `upconv1` / `HRconv`, and the older `model.N` sequential numbering).

Read with `torch.load(weights_only=True)`: tensors and plain containers only, nothing unpickled as an object. The
architecture (generator kind, scale, features, blocks, growth, convs, channels) is inferred from tensor names and
shapes; the file holds G only, so ganctl's G, G_ema get its weights and D is left to the config.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import torch

from ganctl.errors import UsageError

FORMAT = "basicsr-pth"


def load(data: bytes, path: Path):
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"{path}: not a readable weights-only torch file ({msg[:160]})") from None


def state_dict_of(obj) -> dict | None:
    """The generator state dict inside a BasicSR/Real-ESRGAN/ESRGAN file, or None when it is not one."""
    if not isinstance(obj, dict):
        return None
    for key in ("params_ema", "params"):
        if isinstance(obj.get(key), dict):
            return obj[key]
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()) and (
            "conv_first.weight" in obj or "body.0.weight" in obj or "model.0.weight" in obj):
        return obj
    return None


def _esrgan_to_basicsr(sd: dict) -> dict:
    """The original ESRGAN repository's names -> BasicSR's RRDBNet names."""
    out = {}
    if "model.0.weight" in sd:  # the oldest layout: one nn.Sequential
        n_sub = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.", k)))
        for k, v in sd.items():
            if m := re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", k):
                out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
            elif m := re.match(rf"model\.1\.sub\.{n_sub}\.(weight|bias)$", k):
                out[f"conv_body.{m[1]}"] = v
            else:
                m = re.match(r"model\.(\d+)\.(weight|bias)$", k)
                names = {"0": "conv_first", "3": "conv_up1", "6": "conv_up2", "8": "conv_hr", "10": "conv_last"}
                if not m or m[1] not in names:
                    raise UsageError(f"unexpected tensor {k} in an ESRGAN file")
                out[f"{names[m[1]]}.{m[2]}"] = v
        return out
    ren = {"trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2", "HRconv": "conv_hr"}
    for k, v in sd.items():
        k2 = re.sub(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", lambda m: f"body.{m[1]}.rdb{m[2]}.", k)
        head, _, tail = k2.partition(".")
        out[f"{ren.get(head, head)}.{tail}"] = v
    return out


def infer_model(sd: dict, path: Path) -> tuple[dict, dict, int]:
    """(ganctl `model:` section, state dict in ganctl/BasicSR names, image channels) from the tensors."""
    if "RRDB_trunk.0.RDB1.conv1.weight" in sd or "model.0.weight" in sd:
        sd = _esrgan_to_basicsr(sd)
    if "body.0.rdb1.conv1.weight" in sd:
        out_ch, nf = sd["conv_last.weight"].shape[:2]
        in_ch = sd["conv_first.weight"].shape[1]
        unshuffle2 = in_ch // out_ch
        scale = {1: 4, 4: 2, 16: 1}.get(unshuffle2)
        if scale is None or in_ch % out_ch:
            raise UsageError(f"{path}: RRDBNet with {in_ch} input and {out_ch} output channels: not a scale ganctl knows")
        n_block = len({k.split(".")[1] for k in sd if k.startswith("body.") and k.endswith("rdb1.conv1.weight")})
        model = {"generator": "rrdbnet", "scale": scale, "num_feat": int(nf), "num_block": n_block,
                 "num_grow_ch": int(sd["body.0.rdb1.conv1.weight"].shape[0])}
        return model, sd, int(out_ch)
    if "conv_first.weight" in sd and "upconv1.weight" in sd:  # MSRResNet
        nf = sd["conv_first.weight"].shape[0]
        scale = 4 if "upconv2.weight" in sd else int(round((sd["upconv1.weight"].shape[0] / nf) ** 0.5))
        n_block = len({k.split(".")[1] for k in sd if k.startswith("body.") and k.endswith("conv1.weight")})
        return ({"generator": "msrresnet", "scale": scale, "num_feat": int(nf), "num_block": n_block}, sd,
                int(sd["conv_last.weight"].shape[0]))
    if "body.0.weight" in sd:  # SRVGGNetCompact: conv, act, (conv, act) x num_conv, conv
        convs = sorted(int(k.split(".")[1]) for k in sd if re.match(r"body\.\d+\.weight$", k) and sd[k].ndim == 4)
        acts = [int(k.split(".")[1]) for k in sd if re.match(r"body\.\d+\.weight$", k) and sd[k].ndim == 1]
        first, last = sd[f"body.{convs[0]}.weight"], sd[f"body.{convs[-1]}.weight"]
        in_ch, nf = int(first.shape[1]), int(first.shape[0])
        scale = int(round((last.shape[0] / in_ch) ** 0.5))
        act = "prelu" if acts else "relu"  # relu and leakyrelu leave no tensors; Real-ESRGAN's files use prelu
        return ({"generator": "srvgg", "scale": scale, "num_feat": nf, "num_conv": len(convs) - 2, "act_type": act},
                sd, in_ch)
    raise UsageError(f"{path}: a torch file whose tensors are none of RRDBNet, MSRResNet or SRVGGNetCompact; "
                     "ganctl reads BasicSR/Real-ESRGAN/ESRGAN super-resolution files")


def read(obj, data_sd: dict, path: Path, sha256: str):
    from ganctl.interop.imported import ImportedNetwork

    model, sd, channels = infer_model(data_sd, path)
    model = {"family": "sr", "conditional": False, **model}
    tensors = {}
    for prefix in ("G", "G_ema"):
        tensors.update({f"{prefix}/{k}": v for k, v in sd.items()})
    which = "params_ema" if isinstance(obj, dict) and "params_ema" in obj else "params" if "params" in obj else "state_dict"
    # The HR patch size a fine-tuning run would use by default: BasicSR's 128 (ESRGAN) at x4.
    resolution = 128
    return ImportedNetwork(path, sha256, FORMAT, model, resolution, channels, 0, tensors,
                           extra={"weights": which})
