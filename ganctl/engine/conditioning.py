"""What the training loop does differently for image-conditioned families (models/family.py): checking the dataset
against the family before anything is written, building the family's BatchSource, turning its uint8 dicts into float
batches, and the fixed pairs shown in training grids. Latent families never reach this module's batch paths."""

from __future__ import annotations

import torch

from ganctl.engine import pair_metrics
from ganctl.errors import UsageError

# Training grids of image families show the pairs at stream positions [0, grid_size) drawn under this fixed seed, so
# grids of runs with different training seeds show the same inputs.
GRID_SEED = 0x6121D


def dataset_kind(dataset) -> str:
    """"images", "paired" or "unpaired" (datasets prepared before paired data existed are "images")."""
    kind = getattr(dataset, "kind", None)
    if kind is None:
        kind = (getattr(dataset, "manifest", None) or {}).get("kind", "images")
    return kind


def check_data(cfg: dict, family, dataset):
    """Refuse a dataset or config keys the family cannot use (one line naming the key or dataset and the fix); return
    the family's BatchSource (image families) or None (latent families)."""
    kind = dataset_kind(dataset)
    pair_metrics.check(cfg, family, dataset)  # psnr/ssim/l1 need targets and a val split
    if not family.image_conditioned:
        if kind != "images":
            raise UsageError(f"--data {dataset.path}: a {kind} dataset; model.family={family.name} trains on one image set "
                             f"(prepare one with `ganctl prepare-data SOURCE DEST`), or pick an image-to-image family")
        return None
    if cfg["model"].get("conditional"):
        raise UsageError(f"config key model.conditional: model.family={family.name} is conditioned on an input image, "
                         f"not a class; set model.conditional=false")
    if cfg["augment"]["kind"] != "none":
        raise UsageError(f"config key augment.kind: model.family={family.name} does not use D augmentation; "
                         f"set augment.kind=none")
    from ganctl.config.schema import loss_class

    check = getattr(loss_class(cfg["loss"]["type"]), "check_config", None)
    if check is not None:
        check(cfg)
    return family.make_batches(cfg, dataset)  # refuses a dataset kind it cannot read


def to_float(batch_u8: dict, device, channels_last: bool = False) -> dict:
    """uint8 [0, 255] -> float [-1, 1] on `device`, every tensor of the dict."""
    out = {}
    for k, v in batch_u8.items():
        x = v.to(device, non_blocking=True).to(torch.float32).div_(127.5).sub_(1.0)
        out[k] = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    return out


def chunk(batch: dict, sl: slice) -> dict:
    return {k: v[sl] for k, v in batch.items()}


def grid_batch(source, n: int) -> dict:
    return source.load(GRID_SEED, 0, n)
