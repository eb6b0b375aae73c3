"""Feature extraction: decode (parallel workers) or generate, preprocess on the device, run the detector, and either
stream FID statistics or keep the features (IS logits, KID pool3), sharded across torchrun ranks.

Decoded images travel as uint8 (4x fewer bytes than float) and are resized on the compute device, grouped by size,
so one folder may mix sizes and modes. Under torch.distributed each rank takes a contiguous slice of the items (or
seeds); streamed stats are merged exactly and kept features are gathered back into the original item order, so the
numbers equal a single-process run's. Progress goes to stderr only when it is a terminal.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import torch

from ganctl.engine.distributed import dist_info
from ganctl.metrics.protocols import Protocol
from ganctl.metrics.sources import DecodeDataset, Source, collate
from ganctl.metrics.stats import FeatureStats, merge_stats




def shard(n: int, rank: int, world: int) -> range:
    per = -(-n // world)
    return range(min(n, rank * per), min(n, (rank + 1) * per))


@dataclass
class Extracted:
    n: int = 0
    skipped: list[str] = field(default_factory=list)
    stats: FeatureStats | None = None
    pool3: torch.Tensor | None = None   # (N, D) float32 detector features (D=2048 for Inception), item order; keep_pool
    logits: torch.Tensor | None = None  # (N, 1008) float32, item order; only when want_logits
    seconds: float = 0.0


class _Progress:
    def __init__(self, label: str, total: int, enabled: bool):
        self.label, self.total, self.enabled = label, total, enabled and sys.stderr.isatty()
        self.t0, self.last = time.perf_counter(), 0.0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if self.enabled and (now - self.last > 0.5 or done >= self.total):
            self.last = now
            rate = done / max(now - self.t0, 1e-9)
            end = "\n" if done >= self.total else ""
            print(f"\r{self.label}: {done}/{self.total} images, {rate:.1f} img/s", end=end, file=sys.stderr, flush=True)


class _Runner:
    """Feeds normalised 299x299 batches to the detector and collects what was asked for."""

    def __init__(self, model, device, want_logits, keep_pool, stream_stats, channels_last):
        self.model, self.device = model, device
        self.want_logits, self.keep_pool, self.channels_last = want_logits, keep_pool, channels_last
        self.stats = FeatureStats(2048, device) if stream_stats else None
        self.idx, self.pool, self.logit = [], [], []

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, idx: list[int]) -> None:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        pool3, logits = self.model(x, logits=self.want_logits)
        if self.stats is not None:
            self.stats.update(pool3)
        self.idx += idx
        if self.keep_pool:
            self.pool.append(pool3.float().cpu())
        if self.want_logits:
            self.logit.append(logits.float().cpu())


def _batches_from_files(source: Source, protocol: Protocol, idx: range, device, batch_size, workers, skipped):
    """Yield (normalised batch on device, item indices); unreadable items are appended to `skipped`."""
    from torch.utils.data import DataLoader

    ds = DecodeDataset(source, list(idx), protocol.cpu_resize)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate,
                        pin_memory=device.type == "cuda", persistent_workers=False,
                        prefetch_factor=4 if workers > 0 else None)
    for batch in loader:
        groups: dict[tuple, list] = {}
        for i, img in batch:
            if img is None:
                skipped.append(ds.name(i))
            else:
                groups.setdefault(tuple(img.shape), []).append((i, img))
        parts, order = [], []
        for items in groups.values():
            t = torch.stack([img for _, img in items]).to(device, non_blocking=True)
            if protocol.cpu_resize is None:
                t = t.permute(0, 3, 1, 2).contiguous()  # HWC uint8 -> NCHW, contiguous like the reference tools
            parts.append(protocol.device_transform(t))
            order += [i for i, _ in items]
        if parts:
            yield (torch.cat(parts) if len(parts) > 1 else parts[0]), order


def _batches_from_generator(source: Source, protocol: Protocol, idx: range, device, batch_size, truncation_psi, class_idx):
    import numpy as np

    from ganctl.sampling.generate import load_generator

    # An in-memory generator (training's G_ema, engine/metric_eval.py) or one loaded from the run/checkpoint on disk.
    gen = source.generator if source.generator is not None else load_generator(source.spec, device)
    seeds = list(idx)
    pos = 0
    for u8 in gen.iter_images(seeds=seeds, truncation_psi=truncation_psi, class_idx=class_idx, batch_size=batch_size):
        if u8.shape[1] == 1:
            u8 = u8.repeat(1, 3, 1, 1)
        elif u8.shape[1] > 3:
            u8 = u8[:, :3]
        order = seeds[pos:pos + u8.shape[0]]
        pos += u8.shape[0]
        if protocol.cpu_resize is not None:
            hwc = u8.permute(0, 2, 3, 1).numpy()
            t = torch.from_numpy(np.stack([protocol.cpu_resize(im) for im in hwc])).to(device)
        else:
            t = u8.to(device).contiguous()
        yield protocol.device_transform(t), order


def _gather_rows(t: torch.Tensor, comm_device) -> torch.Tensor:
    """Concatenate (n_r, D) tensors of all ranks in rank order (sizes may differ)."""
    import torch.distributed as dist

    world = dist.get_world_size()
    n = torch.tensor([t.shape[0]], device=comm_device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    pad = torch.zeros((max(sizes),) + tuple(t.shape[1:]), dtype=t.dtype, device=comm_device)
    pad[: t.shape[0]] = t.to(comm_device)
    out = [torch.empty_like(pad) for _ in range(world)]
    dist.all_gather(out, pad)
    return torch.cat([o[:s] for o, s in zip(out, sizes)]).cpu()


def extract(source: Source, model, protocol: Protocol, device: torch.device, *, batch_size: int = 64, workers: int = 2,
            stream_stats: bool = False, keep_pool: bool = False, want_logits: bool = False, truncation_psi: float = 1.0,
            class_idx: int | None = None, channels_last: bool = False, progress: bool = True, label: str = "") -> Extracted:
    t0 = time.perf_counter()
    rank, world = dist_info()
    total = len(source)
    idx = shard(total, rank, world)
    skipped: list[str] = []
    run = _Runner(model, device, want_logits, keep_pool, stream_stats, channels_last)
    if source.kind == "generator":
        batches = _batches_from_generator(source, protocol, idx, device, batch_size, truncation_psi, class_idx)
    else:
        batches = _batches_from_files(source, protocol, idx, device, batch_size, workers, skipped)
    prog = _Progress(label or source.spec, len(idx), progress and rank == 0)
    done = 0
    for x, order in batches:
        run(x, order)
        done += len(order)
        prog.update(done + len(skipped))
    out = Extracted(n=len(run.idx), skipped=skipped)
    order = torch.tensor(run.idx, dtype=torch.int64).reshape(-1, 1)
    # The detector's feature width: 2048 (Inception pool3) unless it says otherwise (VGG16 fc2_relu: 4096).
    pool = torch.cat(run.pool) if run.pool else torch.zeros((0, getattr(model, "feature_dim", 2048)))
    logit = torch.cat(run.logit) if run.logit else torch.zeros((0, 1008))
    if world > 1:
        import torch.distributed as dist

        comm = device if dist.get_backend() == "nccl" else torch.device("cpu")
        names: list = [None] * world
        dist.all_gather_object(names, skipped)
        out.skipped = [s for part in names for s in part]
        order = _gather_rows(order, comm)
        if keep_pool:
            pool = _gather_rows(pool, comm)
        if want_logits:
            logit = _gather_rows(logit, comm)
        if stream_stats:
            parts = []
            mean, m2 = run.stats.mean_m2() if run.stats.n else (torch.zeros(2048, dtype=torch.float64, device=device),
                                                                 torch.zeros(2048, 2048, dtype=torch.float64, device=device))
            got_n = _gather_rows(torch.tensor([[float(run.stats.n)]], dtype=torch.float64), comm)
            got_mean = _gather_rows(mean.reshape(1, -1), comm)
            for r in range(world):  # one M2 at a time keeps peak memory at two 2048x2048 float64 buffers
                m2_r = m2.clone().to(comm) if r == rank else torch.empty((2048, 2048), dtype=torch.float64, device=comm)
                dist.broadcast(m2_r, src=r)
                parts.append((int(got_n[r, 0]), got_mean[r].to(torch.float64), m2_r.cpu()))
            n, mean, m2 = merge_stats(parts)
            st = FeatureStats(2048, "cpu")
            st.n, st.shift, st.s1, st.s2 = n, mean, torch.zeros(2048, dtype=torch.float64), m2
            run.stats = st
        out.n = int(order.shape[0])
    perm = torch.argsort(order.flatten(), stable=True)
    out.pool3 = pool[perm] if keep_pool else None
    out.logits = logit[perm] if want_logits else None
    out.stats = run.stats
    out.seconds = time.perf_counter() - t0
    return out
