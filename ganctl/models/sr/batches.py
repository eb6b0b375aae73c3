"""Super-resolution training pairs from HR images: a random gt_size crop of the HR image, flips and 90-degree
rotations, and the LR input made from it by a degradation (MATLAB bicubic by default). Every draw is seeded from
(seed, stream position), so a batch is a pure function of (seed, position) whatever the batch split or resume point
(the BatchSource contract in models/family.py)."""

from __future__ import annotations

import numpy as np
import torch

from ganctl.data.imresize import imresize_uint8
from ganctl.engine.conditioning import dataset_kind
from ganctl.engine.feed import batch_indices
from ganctl.errors import UsageError

DEGRADATIONS = ("bicubic",)


def _draws(seed: int, pos: int, span: int) -> tuple[int, int, bool, bool, bool]:
    """(top, left, hflip, vflip, rot90) for the image at stream position `pos`; offsets in [0, span]."""
    r = np.random.default_rng([seed, pos, 0x5E5])
    top, left = (int(v) for v in r.integers(0, span + 1, size=2))
    hflip, vflip, rot = (bool(v) for v in r.random(3) < 0.5)
    return top, left, hflip, vflip, rot


class HRPairs:
    """Pairs {"input": LR, "target": HR} made on the fly from a one-set ("images") dataset of HR images."""

    def __init__(self, dataset, scale: int, gt_size: int, use_hflip: bool, use_rot: bool, degradation: str):
        self.ds, self.scale, self.gt_size = dataset, scale, gt_size
        self.use_hflip, self.use_rot, self.degradation = use_hflip, use_rot, degradation

    def _pair(self, img: np.ndarray, seed: int, pos: int) -> np.ndarray:
        gt = self.gt_size
        top, left, hflip, vflip, rot = _draws(seed, pos, img.shape[-1] - gt)
        hr = img[:, top:top + gt, left:left + gt]
        # BasicSR's augment(): hflip with p 0.5; with rotation on, vflip and transpose each with p 0.5.
        if self.use_hflip and hflip:
            hr = hr[:, :, ::-1]
        if self.use_rot and vflip:
            hr = hr[:, ::-1, :]
        if self.use_rot and rot:
            hr = hr.transpose(0, 2, 1)
        return np.ascontiguousarray(hr)

    def load(self, seed: int, start: int, count: int, rank: int = 0, world_size: int = 1) -> dict:
        per = count // world_size
        lo = start + rank * per
        imgs, _ = self.ds.get_batch(batch_indices(seed, len(self.ds), lo, per))
        hr = torch.from_numpy(np.stack([self._pair(imgs[i], seed, lo + i) for i in range(per)]))
        lr = imresize_uint8(hr, 1.0 / self.scale)
        return {"input": lr, "target": hr}


def make_batches(cfg: dict, dataset):
    m = cfg["model"]
    kind = dataset_kind(dataset)
    if kind != "images":
        raise UsageError(f"--data {dataset.path}: a {kind} dataset; model.family=sr trains from HR images "
                         f"(prepare a folder of HR images with `ganctl prepare-data HR_DIR DEST`)")
    gt, scale = m["gt_size"], m["scale"]
    if gt % scale:
        raise UsageError(f"config key model.gt_size: {gt} is not a multiple of model.scale {scale}")
    if gt > dataset.resolution:
        raise UsageError(f"config key model.gt_size: {gt} is larger than the dataset's {dataset.resolution}px images; "
                         f"use model.gt_size<={dataset.resolution} or prepare larger HR images")
    if m["degradation"] not in DEGRADATIONS:
        raise UsageError(f"config key model.degradation: {m['degradation']!r} is not one of {', '.join(DEGRADATIONS)}")
    return HRPairs(dataset, scale, gt, m["use_hflip"], m["use_rot"], m["degradation"])
