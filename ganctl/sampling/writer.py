"""Background PNG writing for `ganctl sample`: PNG encoding (zlib) costs more than generating an image on a GPU, so
images are encoded on a small thread pool (PIL releases the GIL while compressing) while the next batch generates.

Files are still written atomically (grid.save_png: temp file + rename); at most `max_pending` images wait in memory;
the first write error is raised from submit()/close(), naming the file.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ganctl.errors import GanctlError


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 2))


class PngWriter:
    def __init__(self, workers: int | None = None, max_pending: int = 64):
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ganctl-png") if self.workers > 1 else None
        self._pending: deque[tuple[Path, Future]] = deque()
        self._max_pending = max(1, max_pending)
        self.written: list[str] = []

    def submit(self, array_hwc: np.ndarray, path: str | os.PathLike, provenance=True) -> None:
        """Queue one PNG; `provenance` as in grid.save_png."""
        from ganctl.sampling.grid import save_png

        path = Path(path)
        if self._pool is None:
            self.written.append(str(self._finish(path, lambda: save_png(array_hwc, path, provenance))))
            return
        self._pending.append((path, self._pool.submit(save_png, array_hwc, path, provenance)))
        while len(self._pending) >= self._max_pending:
            self._collect_one()

    def _collect_one(self) -> None:
        path, fut = self._pending.popleft()
        self.written.append(str(self._finish(path, fut.result)))

    @staticmethod
    def _finish(path: Path, get):
        try:
            return get()
        except OSError as e:
            raise GanctlError(f"could not write {path}: {e.strerror or e}") from None

    def close(self) -> list[str]:
        """Wait for every queued image; returns the paths written, in submission order."""
        try:
            while self._pending:
                self._collect_one()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        return self.written

    def __enter__(self) -> "PngWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
