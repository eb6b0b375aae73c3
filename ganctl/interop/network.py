"""Reading a network from another project's file: `read_network(path)` picks the reader by content and checks the
result fits the ganctl family it names.

`read_network(path)` picks the reader by content: a zip is a torch.save checkpoint (a pix2pix/CycleGAN reference
`.pth`, interop/pix2pix.py, read with the files of its set beside it; a BasicSR/Real-ESRGAN `.pth`, interop/basicsr.py;
or else rosinality stylegan2-pytorch); a pickle stream is an NVlabs network pickle, read by nvlabs.py
(StyleGAN2 / ADA) or nvlabs_sg3.py (StyleGAN3, recognised by its SynthesisInput). Every reader returns an
`ImportedNetwork` (imported.py) under ganctl state_dict names; its names and shapes are checked against the family
built on the meta device from the derived `model:` section, so a file that would not load is refused with one line
before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ganctl.errors import UsageError
from ganctl.interop.imported import ImportedNetwork, check_fits, plain_data

FOREIGN_SUFFIXES = (".pkl", ".pt", ".pth")
_SNAPSHOT_KIMG = re.compile(r"network-snapshot-(\d+)")


def is_foreign(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in FOREIGN_SUFFIXES


def read_network(path: str | os.PathLike) -> ImportedNetwork:
    """Read an NVlabs pickle or rosinality checkpoint without executing anything from it; UsageError if it is neither."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such network file")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    is_zip = data[:4] == b"PK\x03\x04"
    obj = None
    if path.suffix.lower() == ".pth":
        from ganctl.interop import basicsr

        try:
            obj = basicsr.load(data, path)
        except UsageError:
            if is_zip:
                raise
            # not a legacy (pre-1.6 torch.save) tensor file either: an NVlabs pickle named .pth, read below
    from ganctl.interop import pix2pix

    if pix2pix.is_reference(obj):  # before BasicSR: a PatchGAN's `model.0.weight` also opens old ESRGAN files
        net = pix2pix.read(obj, path, sha)
    elif is_zip:
        import torch

        from ganctl.interop import basicsr, rosinality

        sd = basicsr.state_dict_of(obj)
        if sd is None and isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise UsageError(f"{path}: a state dict of none of the networks ganctl reads ({next(iter(obj))}, ...); "
                             "pass a pix2pix/CycleGAN latest_net_G.pth, a BasicSR/Real-ESRGAN .pth or a rosinality .pt")
        net = basicsr.read(obj, sd, path, sha) if sd is not None else rosinality.read(data, path, sha)
    else:
        net = _read_nvlabs(data, path, sha)
    check_fits(net)
    return net


def _read_nvlabs(data: bytes, path: Path, sha: str) -> ImportedNetwork:
    from ganctl.interop import nvlabs, nvlabs_sg3, unpickler

    obj = unpickler.load(data, path)
    nets = nvlabs.network_records(obj, path)
    if nvlabs.is_stylegan3(nets):
        reader = nvlabs_sg3
        reader.check(nets, path)
    else:
        reader = nvlabs
        nvlabs.detect(nets, path)
    model, (res, ch, classes) = reader.model_config(nets, path)
    ts = obj.get("training_set_kwargs") if isinstance(obj.get("training_set_kwargs"), dict) else {}
    m = _SNAPSHOT_KIMG.search(path.name)
    name = Path(str(ts.get("path") or "")).stem or None
    return ImportedNetwork(path, sha, reader.FORMAT, model, res, ch, classes, reader.tensors(nets, path),
                           kimg=float(m.group(1)) if m else None, dataset_name=name,
                           dataset_count=int(ts.get("max_size") or 0),
                           extra={"training_set_kwargs": plain_data(ts),
                                  "arguments": {n: plain_data({"args": list(r.state.get("_init_args") or ()),
                                                               "kwargs": r.state.get("_init_kwargs") or {}})
                                                for n, r in nets.items()},
                                  "augment_pipe": obj.get("augment_pipe") is not None},
                           loss=dict(reader.LOSS))




