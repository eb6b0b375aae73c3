"""`ganctl info FILE`: what a network file holds, for a run directory, a ganctl checkpoint or a network from elsewhere.

Parameter counts come from the architecture built on the meta device (no memory, no weights loaded), so they count
parameters only (no buffers), the way NVlabs' papers and FACTS.md count them. The sha256 is of the file itself
(for a run directory: its latest checkpoint).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ganctl.errors import UsageError
from ganctl.models import get_family


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _param_counts(cfg: dict, resolution: int, channels: int, num_classes: int) -> dict:
    import torch

    from ganctl.models import build_networks

    with torch.device("meta"):
        G, D = build_networks(cfg, resolution, channels, num_classes)
    return {"G": sum(p.numel() for p in G.parameters()), "D": sum(p.numel() for p in D.parameters())}


def info(target: str | os.PathLike) -> dict:
    from ganctl.interop.network import is_foreign

    path = Path(target)
    if not path.exists():
        raise UsageError(f"{path}: no such run directory, checkpoint or network file")
    if path.is_file() and is_foreign(path):
        return _foreign_info(path)
    return _checkpoint_info(path)


def _checkpoint_info(path: Path) -> dict:
    from ganctl.config.load import validate_resolved
    from ganctl.engine import checkpoint as ckpt
    from ganctl.sampling.generate import resolve_checkpoint

    file = resolve_checkpoint(path)
    try:
        meta = ckpt.read_meta(file)
    except ckpt.CheckpointError as e:
        # Not a readable safetensors checkpoint: a network file named otherwise is still read by content; anything
        # else is bad input (exit 2, one line), like every file the interop readers refuse.
        from ganctl.interop.unpickler import is_pickle_header

        with open(file, "rb") as f:
            head = f.read(4)
        if head == b"PK\x03\x04" or is_pickle_header(head[:2]):
            return _foreign_info(file)
        raise UsageError(f"{e} (not a ganctl .safetensors checkpoint, an NVlabs .pkl or a rosinality .pt)") from None
    cfg = validate_resolved(meta["config"])
    ds = meta["dataset"]
    classes = len(ds.get("label_names") or []) if cfg["model"].get("conditional") else 0
    counters = meta.get("counters") or {}
    kimg = counters["cur_nimg"] / 1000 if "cur_nimg" in counters else (meta.get("source") or {}).get("kimg")
    out = {"path": str(path), "file": str(file), "format": "ganctl-checkpoint", "family": cfg["model"]["family"],
           "resolution": ds["resolution"], "channels": ds["channels"], "classes": classes,
           "params": _param_counts(cfg, ds["resolution"], ds["channels"], classes), "kimg": kimg,
           "precision": meta.get("precision"), "sha256": file_sha256(file), "config": cfg}
    if meta.get("source"):
        out["source"] = meta["source"]
    if meta.get("privacy"):
        out["privacy"] = meta["privacy"]  # DP training: the epsilon spent at this checkpoint, delta, the mechanism
    if meta.get("stage", {}).get("kind", "constant") != "constant" and get_family(cfg["model"]["family"]).has_schedule:
        out["stage"] = meta["stage"]  # a growing network (ProGAN) saved mid-schedule: its resolution and alpha then
    if meta.get("energy"):
        out["energy"] = meta["energy"]  # the run's energy/carbon totals up to this checkpoint (engine/energy.py)
    return out


def _foreign_info(path: Path) -> dict:
    from ganctl.interop.network import read_network

    net = read_network(path)
    cfg = net.config()
    model = cfg["model"]
    return {"path": str(path), "file": str(path), "format": net.format, "family": model["family"],
            "resolution": net.resolution, "channels": net.channels, "classes": net.num_classes,
            "params": _param_counts(cfg, net.resolution, net.channels, net.num_classes), "kimg": net.kimg,
            "precision": f"fp32 (fp16 in the top {model['num_fp16_res']} resolutions on CUDA)"
                         if model.get("num_fp16_res") else "fp32",
            "sha256": net.sha256, "networks": net.networks, "config": {"model": model, **net.extra}}
