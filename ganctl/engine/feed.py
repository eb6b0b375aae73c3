"""The training data feed: a deterministic, stateless order of real images, prefetched in a background thread.

Batch k's indices are a pure function of (seed, k): the stream of indices is the concatenation of per-epoch
permutations seeded by (seed, epoch). So resuming at step k needs no saved loader state and yields exactly the
batches an uninterrupted run would have seen. Under several processes each rank takes its own slice of the batch.
"""

from __future__ import annotations

import queue
import threading

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
    """Iterates real batches (float32 [-1, 1] NCHW, int64 labels) from step `start_step`, prefetching ahead."""

    def __init__(self, dataset: PreparedDataset, batch: int, seed: int, start_step: int = 0, mirror: bool = False,
                 rank: int = 0, world_size: int = 1, prefetch: int = 3, batches_per_step: int = 1):
        self.ds, self.batch, self.seed, self.mirror = dataset, batch, seed, mirror
        self.rank, self.world_size = rank, world_size
        self.batches_per_step = batches_per_step
        self.step = start_step
        self._q: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._worker, args=(start_step,), daemon=True)
        self._thread.start()

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

    def _worker(self, k: int) -> None:
        try:
            while not self._stop.is_set():
                item = self.load(k)
                while not self._stop.is_set():
                    try:
                        self._q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                k += 1
        except BaseException as e:  # surfaced in next()
            self._q.put(e)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        item = self._q.get()
        if isinstance(item, BaseException):
            raise item
        self.step += 1
        return item

    def close(self) -> None:
        self._stop.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=5)


def to_float(images_u8: torch.Tensor, device) -> torch.Tensor:
    return images_u8.to(device, non_blocking=True).to(torch.float32).div_(127.5).sub_(1.0)
