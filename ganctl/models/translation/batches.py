"""Training batches of the translation families (the BatchSource contract of models/family.py).

Paired (pix2pix): {"input", "target"} rows of a paired dataset, in the engine's shuffled stream order; with
train.mirror, a pair is flipped as one (input and target together), decided by stream position. Unpaired (CycleGAN):
{"A", "B"}: A follows the stream over domain A; B is drawn from its own stream over domain B (the reference draws B
at random, its epoch being max(|A|, |B|)). Everything is a pure function of (seed, stream position), so resume and
N processes read exactly what one uninterrupted process reads.
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.engine.conditioning import dataset_kind
from ganctl.engine.feed import batch_indices, mirror_flags
from ganctl.errors import UsageError

_B_STREAM = 0x0B0B  # domain B's shuffle is its own stream: B is not tied to the A image it is shown with


def _flip(x: np.ndarray, flags: np.ndarray) -> np.ndarray:
    if flags.any():
        x = x.copy()
        x[flags] = x[flags][..., ::-1]
    return x


class PairedBatches:
    def __init__(self, dataset, mirror: bool):
        self.ds, self.mirror = dataset, mirror

    def load(self, seed: int, start: int, count: int, rank: int = 0, world_size: int = 1) -> dict:
        per = count // world_size
        lo = start + rank * per
        idx = batch_indices(seed, len(self.ds), lo, per)
        inp, tgt = self.ds.get_pairs(idx)
        if self.mirror:
            flags = mirror_flags(seed, lo, per)
            inp, tgt = _flip(inp, flags), _flip(tgt, flags)
        return {"input": torch.from_numpy(np.ascontiguousarray(inp)), "target": torch.from_numpy(np.ascontiguousarray(tgt))}


class UnpairedBatches:
    def __init__(self, dataset, mirror: bool):
        self.ds, self.mirror = dataset, mirror

    def load(self, seed: int, start: int, count: int, rank: int = 0, world_size: int = 1) -> dict:
        per = count // world_size
        lo = start + rank * per
        a = self.ds.get("A", batch_indices(seed, self.ds.count("A"), lo, per))
        b = self.ds.get("B", batch_indices(seed ^ _B_STREAM, self.ds.count("B"), lo, per))
        if self.mirror:
            a, b = _flip(a, mirror_flags(seed, lo, per)), _flip(b, mirror_flags(seed ^ _B_STREAM, lo, per))
        return {"A": torch.from_numpy(np.ascontiguousarray(a)), "B": torch.from_numpy(np.ascontiguousarray(b))}


def _check_size(cfg: dict, family: str, size: tuple[int, int], multiple: int, path) -> None:
    h, w = size
    if h % multiple or w % multiple:
        raise UsageError(f"--data {path}: {w}x{h} images; model.generator={cfg['model']['generator']} needs sides divisible "
                         f"by {multiple}: prepare with --resolution N (N a multiple of {multiple}) or --policy keep-aspect "
                         f"--multiple {multiple}")


def make_paired(cfg: dict, dataset, multiple: int):
    kind = dataset_kind(dataset)
    if kind != "paired":
        raise UsageError(f"--data {dataset.path}: a {kind} dataset; model.family={cfg['model']['family']} trains on pairs: "
                         "prepare them with `ganctl prepare-data --pairs A_DIR B_DIR DEST` or `--aligned DIR DEST`")
    if dataset.factor != 1:
        raise UsageError(f"--data {dataset.path}: targets are {dataset.factor}x the inputs; pix2pix maps images to images "
                         "of the same size (super-resolution pairs are for model.family=sr)")
    _check_size(cfg, "pix2pix", dataset.target_size, multiple, dataset.path)
    return PairedBatches(dataset, cfg["train"]["mirror"])


def make_unpaired(cfg: dict, dataset, multiple: int):
    kind = dataset_kind(dataset)
    if kind != "unpaired":
        raise UsageError(f"--data {dataset.path}: a {kind} dataset; model.family=cyclegan trains on two domains: prepare "
                         "them with `ganctl prepare-data --unpaired A_DIR B_DIR DEST`")
    h, w = dataset.size
    if h != w:
        raise UsageError(f"--data {dataset.path}: {w}x{h} images; cyclegan trains on square images here (its image pool "
                         "is square): prepare with --resolution N")
    _check_size(cfg, "cyclegan", dataset.size, multiple, dataset.path)
    return UnpairedBatches(dataset, cfg["train"]["mirror"])
