"""Super-resolution training pairs: from HR images (a random gt_size crop of the HR image, flips and 90-degree
rotations, and the LR input made from it by a degradation: MATLAB bicubic by default, or `model.degradation=realesrgan`,
Real-ESRGAN's second-order pipeline (data/degradations.py)), or from prepared LR/HR pairs
(`prepare-data --pairs LR_DIR HR_DIR --factor S`: the same crop at matching positions of both sides, same flips). With
`model.gt_usm` (Real-ESRGAN) each HR patch is also sharpened (data/usm.py): the batch carries it as "target_usm", and
LR inputs made from HR images are made from the sharpened copy, as Real-ESRGAN does. Every draw is seeded from
(seed, stream position), so a batch is a pure function of (seed, position) whatever the batch split or resume point
(the BatchSource contract in models/family.py)."""

from __future__ import annotations

import numpy as np
import torch

from ganctl.data import degradations
from ganctl.data.usm import usm_sharp_uint8
from ganctl.data.imresize import imresize_uint8
from ganctl.engine.conditioning import dataset_kind
from ganctl.engine.feed import batch_indices
from ganctl.errors import UsageError

DEGRADATIONS = ("bicubic", "realesrgan")


def _draws(seed: int, pos: int, span: int) -> tuple[int, int, bool, bool, bool]:
    """(top, left, hflip, vflip, rot90) for the image at stream position `pos`; offsets in [0, span]."""
    r = np.random.default_rng([seed, pos, 0x5E5])
    top, left = (int(v) for v in r.integers(0, span + 1, size=2))
    hflip, vflip, rot = (bool(v) for v in r.random(3) < 0.5)
    return top, left, hflip, vflip, rot


class HRPairs:
    """Pairs {"input": LR, "target": HR} made on the fly from a one-set ("images") dataset of HR images."""

    def __init__(self, dataset, scale: int, gt_size: int, use_hflip: bool, use_rot: bool, degradation: str,
                 degradation_params: dict | None = None, gt_usm: bool = False):
        self.ds, self.scale, self.gt_size = dataset, scale, gt_size
        self.use_hflip, self.use_rot, self.degradation = use_hflip, use_rot, degradation
        self.params, self.gt_usm = degradation_params, gt_usm

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
        src = torch.from_numpy(np.stack([usm_sharp_uint8(h) for h in hr.numpy()])) if self.gt_usm else hr
        if self.degradation == "realesrgan":
            # Own stream per image (third seed word differs from the crop draws'): a pure function of (seed, position).
            lr = torch.from_numpy(np.stack([
                degradations.degrade(src[i].numpy(), self.scale, np.random.default_rng([seed, lo + i, 0xDE6]), self.params)
                for i in range(per)]))
        else:
            lr = imresize_uint8(src, 1.0 / self.scale)
        return {"input": lr, "target": hr, **({"target_usm": src} if self.gt_usm else {})}


def _augment(arrs: list[np.ndarray], hflip: bool, vflip: bool, rot: bool, use_hflip: bool, use_rot: bool) -> list:
    out = []
    for a in arrs:
        if use_hflip and hflip:
            a = a[:, :, ::-1]
        if use_rot and vflip:
            a = a[:, ::-1, :]
        if use_rot and rot:
            a = a.transpose(0, 2, 1)
        out.append(np.ascontiguousarray(a))
    return out


class LRHRPairs:
    """Pairs {"input": LR, "target": HR} from a paired dataset whose HR side is `scale` times its LR side: a
    gt_size HR crop and the LR crop at the matching position, flipped/rotated together."""

    def __init__(self, dataset, scale: int, gt_size: int, use_hflip: bool, use_rot: bool, gt_usm: bool = False):
        self.ds, self.scale, self.gt_size, self.use_hflip, self.use_rot = dataset, scale, gt_size, use_hflip, use_rot
        self.gt_usm = gt_usm

    def load(self, seed: int, start: int, count: int, rank: int = 0, world_size: int = 1) -> dict:
        per = count // world_size
        lo = start + rank * per
        lq, gt = self.ds.get_pairs(batch_indices(seed, len(self.ds), lo, per))
        s, g = self.scale, self.gt_size
        ins, tgts = [], []
        for i in range(per):
            h, w = lq.shape[2], lq.shape[3]
            r = np.random.default_rng([seed, lo + i, 0x5E5])
            top, left = int(r.integers(0, h - g // s + 1)), int(r.integers(0, w - g // s + 1))
            hflip, vflip, rot = (bool(v) for v in r.random(3) < 0.5)
            a = lq[i][:, top:top + g // s, left:left + g // s]
            b = gt[i][:, top * s:top * s + g, left * s:left * s + g]
            a, b = _augment([a, b], hflip, vflip, rot, self.use_hflip, self.use_rot)
            ins.append(a)
            tgts.append(b)
        out = {"input": torch.from_numpy(np.stack(ins)), "target": torch.from_numpy(np.stack(tgts))}
        if self.gt_usm:  # Real-ESRGAN's paired fine-tuning sharpens the given HR side the same way
            out["target_usm"] = torch.from_numpy(np.stack([usm_sharp_uint8(t) for t in tgts]))
        return out


def make_batches(cfg: dict, dataset):
    m = cfg["model"]
    kind = dataset_kind(dataset)
    gt, scale = m["gt_size"], m["scale"]
    if gt % scale:
        raise UsageError(f"config key model.gt_size: {gt} is not a multiple of model.scale {scale}")
    if kind == "paired":
        if dataset.factor != scale or tuple(dataset.input_size) != tuple(t // scale for t in dataset.target_size):
            raise UsageError(f"--data {dataset.path}: its targets are {dataset.target_size[1]}x{dataset.target_size[0]} "
                             f"for {dataset.input_size[1]}x{dataset.input_size[0]} inputs, not x{scale}; prepare it with "
                             f"`--factor {scale}` or set model.scale={dataset.factor}")
        if gt > min(dataset.target_size):
            raise UsageError(f"config key model.gt_size: {gt} is larger than the dataset's HR images "
                             f"({dataset.target_size[1]}x{dataset.target_size[0]}); use model.gt_size<={min(dataset.target_size)}")
        return LRHRPairs(dataset, scale, gt, m["use_hflip"], m["use_rot"], m["gt_usm"])
    if kind != "images":
        raise UsageError(f"--data {dataset.path}: a {kind} dataset; model.family=sr trains from HR images or LR/HR "
                         f"pairs (`ganctl prepare-data HR_DIR DEST` or `--pairs LR_DIR HR_DIR DEST --factor {scale}`)")
    if gt > dataset.resolution:
        raise UsageError(f"config key model.gt_size: {gt} is larger than the dataset's {dataset.resolution}px images; "
                         f"use model.gt_size<={dataset.resolution} or prepare larger HR images")
    if m["degradation"] not in DEGRADATIONS:
        raise UsageError(f"config key model.degradation: {m['degradation']!r} is not one of {', '.join(DEGRADATIONS)}")
    degradations.check_params(m["degradation_params"])
    return HRPairs(dataset, scale, gt, m["use_hflip"], m["use_rot"], m["degradation"], m["degradation_params"], m["gt_usm"])
