"""Readers of the two image-to-image dataset kinds: paired (input/target rows) and unpaired (domains A and B).

Both are memory-mapped views of one prepared dataset file (layout in ganctl.data.dataset), cheap to open and safe to
pickle into worker processes (the maps reopen lazily). They hand out uint8 N x C x H x W arrays for given row
indices; which rows, crops and flips a training step uses is the BatchSource's business (a pure function of seed and
stream position), not theirs.
"""

from __future__ import annotations

import os

import numpy as np

from ganctl.data.dataset import read_dataset_header
from ganctl.errors import DataError


class _TensorFile:
    """Named uint8 (N, C, H, W) tensors of one prepared dataset file, memory-mapped on first use."""

    kind = ""
    names: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike):
        self.path, self.manifest, header, data_start = read_dataset_header(path)
        kind = self.manifest.get("kind", "images")
        if kind != self.kind:
            raise DataError(f"{self.path}: a {kind} dataset, not a {self.kind} one; prepare it with the matching "
                            "`ganctl prepare-data` mode (--pairs/--aligned: paired, --unpaired: unpaired)")
        size = self.path.stat().st_size
        self.shapes, self._offsets = {}, {}
        for name in self.names:
            t = header[name]
            if t["dtype"] != "U8" or len(t["shape"]) != 4 or data_start + t["data_offsets"][1] > size:
                raise DataError(f"{self.path}: tensor {name} is truncated or has an unexpected layout; prepare the dataset again")
            self.shapes[name] = tuple(t["shape"])
            self._offsets[name] = data_start + t["data_offsets"][0]
        self._maps = {}

    def __getstate__(self):
        d = self.__dict__.copy()
        d["_maps"] = {}
        return d

    def array(self, name: str) -> np.memmap:
        """The whole tensor `name` as a read-only memmap."""
        if name not in self._maps:
            self._maps[name] = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self._offsets[name], shape=self.shapes[name])
        return self._maps[name]

    def get(self, name: str, indices) -> np.ndarray:
        """uint8 (B, C, H, W) rows of tensor `name` (any order, repeats allowed)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        shape = self.shapes[name]
        if len(idx) and (idx.min() < 0 or idx.max() >= shape[0]):
            raise IndexError(f"{name}: index out of range 0..{shape[0] - 1}")
        rows = self.array(name).reshape(shape[0], -1)  # one gather of whole rows (see PreparedDataset.get_batch)
        return np.asarray(rows[idx]).reshape((len(idx),) + shape[1:])

    @property
    def channels(self) -> int:
        return self.shapes[self.names[-1]][1]

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.parent.name

    @property
    def label_names(self) -> list[str]:
        return []

    @property
    def num_classes(self) -> int:
        return 0


class PairedDataset(_TensorFile):
    """Rows i of `input` and `target` are one pair. The target side is `factor` times the input side (1 for pix2pix)."""

    kind = "paired"
    names = ("input", "target")

    def __len__(self) -> int:
        return self.shapes["input"][0]

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the input side."""
        return self.shapes["input"][2:]

    @property
    def target_size(self) -> tuple[int, int]:
        return self.shapes["target"][2:]

    @property
    def resolution(self) -> int:
        """The target side's height (the size the generator produces)."""
        return self.shapes["target"][2]

    @property
    def factor(self) -> int:
        return self.shapes["target"][2] // self.shapes["input"][2]

    def get_pairs(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) uint8 arrays for the given pair indices."""
        return self.get("input", indices), self.get("target", indices)


class UnpairedDataset(_TensorFile):
    """Two domains A and B of one image size, with independent counts (an epoch is max(|A|, |B|) in the reference)."""

    kind = "unpaired"
    names = ("A", "B")

    def __len__(self) -> int:
        return max(self.shapes["A"][0], self.shapes["B"][0])

    def count(self, domain: str) -> int:
        return self.shapes[domain][0]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of both domains."""
        return self.shapes["A"][2:]

    @property
    def resolution(self) -> int:
        return self.shapes["A"][2]
