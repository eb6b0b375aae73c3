"""Fine-tuning from a network: `ganctl train --init NET.pkl|NET.pt|CKPT|RUN_DIR`.

The new run's `model:` section is the network's (its recorded architecture); everything else comes from the preset and
overrides. The network must fit the dataset: same resolution and channels, and a conditional network needs a
dataset with exactly its number of classes (an unconditional one trains unconditionally on any data); an
image-to-image network (sr, pix2pix, cyclegan) needs the channels only, its family checks the image size. The weights
travel as ganctl state_dict tensors prefixed G/, D/, G_ema/; a file without G (a published NVlabs pickle has all
three, some exports only G_ema) starts G from G_ema, and without D, D starts fresh.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from ganctl.errors import UsageError

PREFIXES = ("G", "D", "G_ema")


def _from_checkpoint(path: Path) -> tuple[dict, dict, dict, int, int, int]:
    from ganctl.engine import checkpoint as ckpt
    from ganctl.interop.info import file_sha256
    from ganctl.sampling.generate import resolve_checkpoint

    file = resolve_checkpoint(path)
    tensors, meta = ckpt.load_checkpoint(file)
    ds = meta["dataset"]
    model = meta["config"]["model"]
    classes = len(ds.get("label_names") or []) if model.get("conditional") else 0
    origin = {"path": str(file), "sha256": file_sha256(file), "format": "ganctl-checkpoint"}
    return model, tensors, origin, ds["resolution"], ds["channels"], classes


def init_from(path: str | os.PathLike, cfg: dict, img_resolution: int, img_channels: int,
              num_classes: int) -> tuple[dict, dict, dict]:
    """(config with the network's model section, {G/…, D/…, G_ema/…} tensors, origin {path, sha256, format})."""
    from ganctl.config.load import validate_resolved
    from ganctl.interop.network import is_foreign, read_network

    path = Path(path)
    if not path.exists():
        raise UsageError(f"--init {path}: no such network file, checkpoint or run directory")
    if path.is_file() and is_foreign(path):
        net = read_network(path)
        model, tensors, origin = net.model, dict(net.tensors), net.origin()
        res, ch, classes = net.resolution, net.channels, net.num_classes
    else:
        model, tensors, origin, res, ch, classes = _from_checkpoint(path)
    from ganctl.models import get_family

    # Image-to-image networks are convolutional: any size their family's batches accept (they check the multiple).
    any_size = get_family(model.get("family", "stylegan2")).image_conditioned
    if (res, ch) != (img_resolution, img_channels) and not (any_size and ch == img_channels):
        raise UsageError(f"--init {path}: the network makes {res}x{res} images with {ch} channel(s) but the dataset "
                         f"is {img_resolution}x{img_resolution} with {img_channels}; prepare the data with "
                         f"`ganctl prepare-data --resolution {res}` as {ch}-channel images, or pick a network made "
                         f"for {img_resolution}x{img_resolution}x{img_channels}")
    if classes and classes != num_classes:
        have = f"{num_classes} classes" if num_classes else "no class labels"
        raise UsageError(f"--init {path}: the network is conditional on {classes} classes but the dataset has {have}; "
                         f"use a dataset labelled with {classes} classes, or an unconditional network")
    tensors = {k: v for k, v in tensors.items() if k.split("/", 1)[0] in PREFIXES}
    if not any(k.startswith("G/") for k in tensors):
        tensors.update({"G/" + k[len("G_ema/"):]: v for k, v in tensors.items() if k.startswith("G_ema/")})
    if not any(k.startswith("G_ema/") for k in tensors):
        tensors.update({"G_ema/" + k[len("G/"):]: v for k, v in tensors.items() if k.startswith("G/")})
    new = copy.deepcopy(cfg)
    # An image-to-image family's `model:` also holds training keys no file records (the learning-rate schedule, D's
    # size when only G was saved): with the same family, the preset's values fill what the network does not say.
    base = cfg["model"] if any_size and cfg["model"].get("family") == model.get("family") else {}
    new["model"] = {**base, **model, "conditional": bool(classes)}
    return validate_resolved(new), tensors, origin
