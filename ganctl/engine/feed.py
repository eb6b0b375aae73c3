"""The training data feed: a deterministic, stateless order of real images, prefetched in background threads.

The stream of images is the concatenation of per-epoch permutations seeded by (seed, epoch), and a position in it is
counted in images, not batches: the batch starting at image `pos` is a pure function of (seed, pos, batch). So a
resumed run, or a schedule that changes the batch size mid-run, reads exactly the images an uninterrupted run reads,
with no loader state to save. Mirroring is decided per image position too. Under several processes each rank takes
its own slice of each global batch.

`train.real_labels=uniform` (a labelled set) replaces the shuffle by a class-balanced stream: each epoch gives every
class the same number of positions, filled by that class's images in their own seeded permutation (tiled where the
class is small), then shuffled, so D sees a rare class as often as a common one (the real side of
`train.gen_labels=uniform`). It is the same kind of pure function of (seed, position).

Image-conditioned families (models/family.py) bring their own BatchSource, whose `load(seed, start, count, rank,
world_size)` is the same kind of pure function and returns a dict of uint8 tensors; the feed prefetches it the same way.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from ganctl.data.dataset import PreparedDataset


def _perm(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x6A9]).permutation(n)


def _stream(n: int, start: int, count: int, perm) -> np.ndarray:
    """Positions [start, start+count) of the endless stream of permutations perm(epoch) of n items."""
    out = np.empty(count, dtype=np.int64)
    filled = 0
    while filled < count:
        epoch, off = divmod(start + filled, n)
        take = min(count - filled, n - off)
        out[filled:filled + take] = perm(epoch)[off:off + take]
        filled += take
    return out


def _balanced_epoch(seed: int, epoch: int, by_class: list[np.ndarray]) -> np.ndarray:
    """One epoch of the class-balanced stream: ceil(N / classes) positions per class, taken from that class's own
    endless shuffled stream (so a large class goes through all its images before one repeats, a small one cycles),
    the whole shuffled."""
    per = -(-sum(len(idx) for idx in by_class) // len(by_class))
    parts = []
    for c, idx in enumerate(by_class):
        def own_perm(e: int, c: int = c, m: int = len(idx)) -> np.ndarray:
            return np.random.default_rng([seed, c, e, 0xBA1]).permutation(m)

        parts.append(idx[_stream(len(idx), epoch * per, per, own_perm)])
    out = np.concatenate(parts)
    return out[np.random.default_rng([seed, epoch, 0xBA2]).permutation(len(out))]


def class_lists(labels: np.ndarray) -> list[np.ndarray]:
    """Each labelled class's indices (classes without images left out: they cannot be drawn)."""
    lists = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)] if len(labels) else []
    return [idx for idx in lists if len(idx)]


def batch_indices(seed: int, n: int, start: int, count: int, by_class: list[np.ndarray] | None = None) -> np.ndarray:
    """Indices [start, start+count) of the endless shuffled stream over n items, or, given `by_class` (class_lists),
    of the class-balanced stream over them."""
    if by_class is None:
        return _stream(n, start, count, lambda epoch: _perm(seed, epoch, n))
    epoch_len = -(-n // len(by_class)) * len(by_class)
    return _stream(epoch_len, start, count, lambda epoch: _balanced_epoch(seed, epoch, by_class))


def mirror_flags(seed: int, start: int, count: int) -> np.ndarray:
    """Whether the images at stream positions [start, start+count) are mirrored: a pure function of (seed, position),
    drawn in blocks of 4096 positions, so the decision does not depend on the batch size."""
    out = np.empty(count, dtype=bool)
    filled = 0
    while filled < count:
        block, off = divmod(start + filled, 4096)
        take = min(count - filled, 4096 - off)
        out[filled:filled + take] = np.random.default_rng([seed, block, 0xF11]).random(4096)[off:off + take] < 0.5
        filled += take
    return out


class DataFeed:
    """Iterates global batches of `batch` images (this rank's share: uint8 NCHW, int64 labels) from stream position
    `start_nimg`, with `workers` threads loading ahead.

    Batches are requested in order from a thread pool and handed out in order, so the number of workers changes
    only the speed, never the data (which is why `ganctl resume --workers N` is allowed).
    """

    def __init__(self, dataset: PreparedDataset, batch: int, seed: int, start_nimg: int = 0, mirror: bool = False,
                 rank: int = 0, world_size: int = 1, workers: int = 2, prefetch: int = 4, source=None,
                 balanced: bool = False):
        from concurrent.futures import ThreadPoolExecutor

        self.ds, self.batch, self.seed, self.mirror, self.source = dataset, batch, seed, mirror, source
        self.by_class = class_lists(dataset.labels) if balanced else None
        self.rank, self.world_size = rank, world_size
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ganctl-feed")
        ahead = max(prefetch, workers)
        self._pending = deque(self._pool.submit(self.load, start_nimg + j * batch) for j in range(ahead))
        self._next_pos = start_nimg + ahead * batch

    def load(self, pos: int):
        """The global batch starting at stream position `pos` (this rank's share), as uint8 images and labels, or the
        BatchSource's dict of uint8 tensors."""
        if self.source is not None:
            return self.source.load(self.seed, pos, self.batch, self.rank, self.world_size)
        per = self.batch // self.world_size
        lo = pos + self.rank * per
        idx = batch_indices(self.seed, len(self.ds), lo, per, self.by_class)
        imgs, labels = self.ds.get_batch(idx)
        if self.mirror:
            flip = mirror_flags(self.seed, lo, per)
            imgs[flip] = imgs[flip][..., ::-1]
        return torch.from_numpy(imgs), torch.from_numpy(labels)

    def next(self):
        item = self._pending.popleft().result()
        self._pending.append(self._pool.submit(self.load, self._next_pos))
        self._next_pos += self.batch
        return item

    def close(self) -> None:
        for f in self._pending:
            f.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


def to_float(images_u8: torch.Tensor, device) -> torch.Tensor:
    return images_u8.to(device, non_blocking=True).to(torch.float32).div_(127.5).sub_(1.0)
