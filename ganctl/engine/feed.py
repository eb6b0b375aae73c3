"""The training data feed: a deterministic, stateless order of real images, prefetched in a background thread.

Batch k's indices are a pure function of (seed, k): the stream of indices is the concatenation of per-epoch
permutations seeded by (seed, epoch). So resuming at step k needs no saved loader state and yields exactly the
batches an uninterrupted run would have seen. Under several processes each rank takes its own slice of the batch.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from ganctl.data.dataset import PreparedDataset


def _perm(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x6A9]).permutation(n)


def batch_indices(seed: int, n: int, start: int, count: int) -> np.ndarray:
    """Indices [start, start+count) of the endless shuffled stream over n items."""
    out = np.empty(count, dtype=np.int64)
    filled = 0
    while filled < count:
        epoch, off = divmod(start + filled, n)
        take = min(count - filled, n - off)
        out[filled:filled + take] = _perm(seed, epoch, n)[off:off + take]
        filled += take
    return out


class DataFeed:
    """Iterates real batches (uint8 NCHW, int64 labels) from batch index `start`, `workers` threads loading ahead.

    Batches are requested in order from a thread pool and handed out in order, so the number of workers changes
    only the speed, never the data (which is why `ganctl resume --workers N` is allowed).
    """

    def __init__(self, dataset: PreparedDataset, batch: int, seed: int, start: int = 0, mirror: bool = False,
                 rank: int = 0, world_size: int = 1, workers: int = 2, prefetch: int = 4):
        from concurrent.futures import ThreadPoolExecutor

        self.ds, self.batch, self.seed, self.mirror = dataset, batch, seed, mirror
        self.rank, self.world_size = rank, world_size
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ganctl-feed")
        self._pending = deque(self._pool.submit(self.load, k) for k in range(start, start + max(prefetch, workers)))
        self._next_k = start + len(self._pending)

    def load(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch k of the stream (this rank's share), as uint8 images and labels."""
        idx = batch_indices(self.seed, len(self.ds), k * self.batch, self.batch)
        per = self.batch // self.world_size
        idx = idx[self.rank * per:(self.rank + 1) * per]
        imgs, labels = self.ds.get_batch(idx)
        if self.mirror:
            flip = np.random.default_rng([self.seed, k, 0xF11]).random(self.batch)[self.rank * per:(self.rank + 1) * per] < 0.5
            imgs[flip] = imgs[flip][..., ::-1]
        return torch.from_numpy(imgs), torch.from_numpy(labels)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        item = self._pending.popleft().result()
        self._pending.append(self._pool.submit(self.load, self._next_k))
        self._next_k += 1
        return item

    def close(self) -> None:
        for f in self._pending:
            f.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


def to_float(images_u8: torch.Tensor, device) -> torch.Tensor:
    return images_u8.to(device, non_blocking=True).to(torch.float32).div_(127.5).sub_(1.0)
