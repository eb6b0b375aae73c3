"""One imported network, whatever file it came from: reading it, checking it fits ganctl's StyleGAN2, and turning it
into ganctl checkpoint content (tensors + metadata), in memory.

`read_network(path)` picks the reader by content: a zip is a torch.save checkpoint (a BasicSR/Real-ESRGAN `.pth`,
interop/basicsr.py, or else rosinality stylegan2-pytorch),
a pickle stream is an NVlabs network pickle. Both readers return ganctl state_dict names; here the names and shapes
are checked against a StyleGAN2 built (on the meta device, no memory) from the derived `model:` section, so a file
that would not load is refused with one line before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganctl.errors import UsageError

FOREIGN_SUFFIXES = (".pkl", ".pt", ".pth")
_SNAPSHOT_KIMG = re.compile(r"network-snapshot-(\d+)")


@dataclass
class ImportedNetwork:
    path: Path
    sha256: str
    format: str                      # nvlabs-pickle | rosinality-pt
    model: dict                      # ganctl `model:` section (family stylegan2, conditional, mapped keys)
    resolution: int
    channels: int
    num_classes: int
    tensors: dict                    # "G/…", "D/…", "G_ema/…" in ganctl state_dict names
    kimg: float | None = None
    dataset_name: str | None = None
    dataset_count: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def networks(self) -> list[str]:
        return [n for n in ("G", "D", "G_ema") if any(k.startswith(n + "/") for k in self.tensors)]

    @property
    def label_names(self) -> list[str]:
        return [str(i) for i in range(self.num_classes)]

    def origin(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "format": self.format}

    def config(self) -> dict:
        """A valid resolved ganctl config: defaults with this network's `model:` section (and StyleGAN2's loss)."""
        from ganctl.config.load import validate_resolved

        from ganctl.models import get_family

        loss = get_family(self.model["family"]).losses[0]  # the family's natural loss (stylegan2, sr)
        return validate_resolved({"preset": "converted", "model": dict(self.model), "loss": {"type": loss}})

    def checkpoint(self) -> tuple[dict, dict]:
        """(tensors, meta) as a ganctl checkpoint holds them; what `convert` writes and `sample` reads in memory."""
        meta = {"config": self.config(),
                "dataset": {"name": self.dataset_name or self.path.stem, "resolution": self.resolution,
                            "channels": self.channels, "label_names": self.label_names, "count": self.dataset_count},
                "source": {**self.origin(), "kimg": self.kimg, "networks": self.networks,
                           "arguments": self.extra.get("arguments", {})},
                "precision": "fp32"}
        return _own_storage(self.tensors), meta


def _own_storage(tensors: dict) -> dict:
    """Each tensor in its own storage (safetensors refuses shared ones); copies only views and shared buffers."""
    out, seen = {}, set()
    for k, t in tensors.items():
        t = t.contiguous()
        st = t.untyped_storage()
        if st.data_ptr() in seen or st.nbytes() != t.numel() * t.element_size():
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[k] = t
    return out


def is_foreign(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in FOREIGN_SUFFIXES


def read_network(path: str | os.PathLike) -> ImportedNetwork:
    """Read an NVlabs pickle or rosinality checkpoint without executing anything from it; UsageError if it is neither."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such network file")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if data[:4] == b"PK\x03\x04":
        from ganctl.interop import basicsr, rosinality

        obj = basicsr.load(data, path) if path.suffix.lower() == ".pth" else None
        sd = basicsr.state_dict_of(obj)
        net = basicsr.read(obj, sd, path, sha) if sd is not None else rosinality.read(data, path, sha)
    else:
        net = _read_nvlabs(data, path, sha)
    check_fits(net)
    return net


def _read_nvlabs(data: bytes, path: Path, sha: str) -> ImportedNetwork:
    from ganctl.interop import nvlabs, unpickler

    obj = unpickler.load(data, path)
    nets = nvlabs.detect(obj, path)
    model, (res, ch, classes) = nvlabs.model_config(nets, path)
    ts = obj.get("training_set_kwargs") if isinstance(obj.get("training_set_kwargs"), dict) else {}
    m = _SNAPSHOT_KIMG.search(path.name)
    name = Path(str(ts.get("path") or "")).stem or None
    return ImportedNetwork(path, sha, nvlabs.FORMAT, model, res, ch, classes, nvlabs.tensors(nets, path),
                           kimg=float(m.group(1)) if m else None, dataset_name=name,
                           dataset_count=int(ts.get("max_size") or 0),
                           extra={"training_set_kwargs": plain_data(ts),
                                  "arguments": {n: plain_data({"args": list(r.state.get("_init_args") or ()),
                                                               "kwargs": r.state.get("_init_kwargs") or {}})
                                                for n, r in nets.items()},
                                  "augment_pipe": obj.get("augment_pipe") is not None})


def plain_data(value):
    """JSON-safe copy of recorded arguments: numbers, strings, bools, None, lists and dicts of them; others dropped."""
    if isinstance(value, dict):
        items = ((str(k), plain_data(v)) for k, v in value.items())
        return {k: v for k, v in items if v is not _DROP}
    if isinstance(value, (list, tuple)):
        return [x for x in map(plain_data, value) if x is not _DROP]
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return value.item()
    return _DROP


_DROP = object()


def build_meta(model: dict, resolution: int, channels: int, num_classes: int):
    """(G, D) of the network's family (StyleGAN2 unless `model` names another) on the meta device: names and shapes,
    no memory, no initialisation cost."""
    from ganctl.models import get_family

    family = get_family(model.get("family", "stylegan2"))
    with torch.device("meta"):
        # Readers give the keys they derive; the family's defaults fill the rest, as the config layer would.
        cfg = {**family.defaults, **{k: v for k, v in model.items() if k not in ("family", "conditional")}}
        return family.build(cfg, resolution, channels, num_classes)


def check_fits(net: ImportedNetwork) -> None:
    """Every network's tensors match ganctl's StyleGAN2 names and shapes exactly (no missing, no extra)."""
    G, D = build_meta(net.model, net.resolution, net.channels, net.num_classes)
    for prefix in net.networks:
        want = {k: tuple(v.shape) for k, v in (D if prefix == "D" else G).state_dict().items()}
        have = {k[len(prefix) + 1:]: tuple(v.shape) for k, v in net.tensors.items() if k.startswith(prefix + "/")}
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        shapes = [k for k in want if k in have and want[k] != have[k]]
        if missing or extra or shapes:
            what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra
                    else f"{shapes[0]} is {have[shapes[0]]}, expected {want[shapes[0]]}")
            raise UsageError(f"{net.path}: {prefix} does not fit ganctl's {net.model.get('family', 'stylegan2')} with the recorded arguments "
                             f"({what}); this network's architecture is not one ganctl supports")
