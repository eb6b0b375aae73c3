"""The generation worker: one thread that owns the generator, fed by a bounded queue.

PyTorch already uses every core for one forward pass, so more generation threads would only contend. A request
waits for its job at most `timeout` seconds; when the queue is full it is refused at once (HTTP 503) instead of
piling up threads or memory. Big requests are split into jobs of at most `max_batch` images by the caller, so other
requests get their turn between them.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from ganctl.errors import GanctlError


class Busy(GanctlError):
    """The queue is full or the job waited too long (HTTP 503)."""


class GenerationWorker:
    def __init__(self, max_queue: int = 64, timeout: float = 60.0):
        self.timeout = float(timeout)
        self._jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name="ganctl-generate", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue  # its requester gave up waiting
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed to the requester, which turns it into an HTTP error
                fut.set_exception(e)

    def run(self, fn):
        """fn() on the worker thread; its result, or Busy."""
        fut: Future = Future()
        try:
            self._jobs.put_nowait((fn, fut))
        except queue.Full:
            raise Busy(f"busy: {self._jobs.maxsize} generation jobs are queued; try again shortly") from None
        try:
            return fut.result(timeout=self.timeout)
        except TimeoutError:
            fut.cancel()
            raise Busy(f"busy: the job waited more than {self.timeout:g} s; try again shortly") from None

    @property
    def queued(self) -> int:
        return self._jobs.qsize()

    def close(self) -> None:
        try:
            self._jobs.put(None, timeout=1)
        except queue.Full:
            pass
