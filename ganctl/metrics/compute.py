"""FID, IS and KID end to end: resolve inputs and weights, set the precision mode, extract, compute, describe.

Each function returns a JSON-ready dict (the value(s), n and skipped files per side, the detector file and its
sha256, the preprocessing protocol, TF32 mode, device, seconds, versions and warnings); the CLI prints it or just the
number. Under torchrun (WORLD_SIZE > 1) the process group is set up here (gloo on CPU, nccl on CUDA) and every rank
works on its shard; all ranks return the same dict.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from contextlib import contextmanager

import numpy as np
import torch

from ganctl.errors import DataError, UsageError
from ganctl.metrics import distance
from ganctl.device import resolve_device
from ganctl.engine.distributed import dist_info
from ganctl.metrics.features import Extracted, extract
from ganctl.metrics.inception import build_inception
from ganctl.metrics.protocols import get_protocol
from ganctl.metrics.sources import resolve_source
from ganctl.metrics.stats import load_stats, save_stats
from ganctl.metrics.weights import resolve_weights, sha256_file

SMALL_N = 2048


def warn(msg: str, warnings: list[str]) -> None:
    warnings.append(msg)
    if dist_info()[0] == 0:
        print(f"ganctl: warning: {msg}", file=sys.stderr)


def init_distributed(device: str) -> bool:
    """Join the torchrun process group if launched by torchrun and not joined yet. Returns True when it joined."""
    import torch.distributed as dist

    from ganctl.engine.distributed import maybe_init

    joined_before = dist.is_available() and dist.is_initialized()
    maybe_init(device)
    return dist.is_available() and dist.is_initialized() and not joined_before


@contextmanager
def precision(device: torch.device, tf32: bool):
    """Exact fp32 by default: TF32 moves pool3 features by ~6.5e-4 relative on Ampere/Hopper."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = saved


def _versions() -> dict:
    import scipy
    import torchvision

    from ganctl import __version__ as ganctl_version

    return {"ganctl": ganctl_version, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "python": platform.python_version()}


class _Context:
    """What every metric run shares: device, detector, protocol, options; builds the result record.
    The detector is the FID Inception; a subclass swaps the three hooks below for another one (VGG16 for pr)."""

    get_protocol = staticmethod(get_protocol)
    resolve_weights = staticmethod(resolve_weights)
    build_detector = staticmethod(build_inception)

    def __init__(self, metric, weights, protocol, device, batch_size, workers, tf32, progress, truncation_psi, class_idx):
        if batch_size < 1:
            raise UsageError("--batch-size: must be at least 1")
        if workers < 0:
            raise UsageError("--workers: must be 0 or more")
        self.t0 = time.perf_counter()
        self.metric = metric
        self.protocol = self.get_protocol(protocol)
        self.weights_arg = weights
        self.weights_path = None  # resolved when the detector is first needed (stats-only runs need no weights)
        self.device = resolve_device(device)
        self.batch_size, self.workers, self.tf32, self.progress = batch_size, workers, tf32, progress
        self.truncation_psi, self.class_idx = truncation_psi, class_idx
        self.channels_last = self.device.type == "cuda"
        self.warnings: list[str] = []
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self.weights_path = self.resolve_weights(self.weights_arg)
            self._model = self.build_detector(self.weights_path, self.device)
            if self.channels_last:
                self._model = self._model.to(memory_format=torch.channels_last)
        return self._model

    def extract(self, source, label, **kw) -> Extracted:
        ex = extract(source, self.model, self.protocol, self.device, batch_size=self.batch_size, workers=self.workers,
                     truncation_psi=self.truncation_psi, class_idx=self.class_idx, channels_last=self.channels_last,
                     progress=self.progress, label=label, **kw)
        if ex.skipped:
            shown = ", ".join(ex.skipped[:3]) + (" ..." if len(ex.skipped) > 3 else "")
            warn(f"{source.spec}: skipped {len(ex.skipped)} unreadable file(s): {shown}", self.warnings)
        if ex.n == 0:
            raise DataError(f"{source.spec}: none of its {len(source)} images could be read")
        return ex

    def record(self, values: dict, sides: list[dict]) -> dict:
        return {"metric": self.metric, **values, "inputs": sides,
                "weights": None if self.weights_path is None else {"path": str(self.weights_path),
                                                                   "sha256": sha256_file(self.weights_path)},
                "protocol": self.protocol.record(),
                "precision": {"tf32": self.tf32 if self.device.type == "cuda" else False, "dtype": "float32",
                              "channels_last": self.channels_last, "stats_dtype": "float64"},
                "device": str(self.device) if self.device.type == "cpu" else f"{self.device} ({torch.cuda.get_device_name(self.device)})",
                "world_size": dist_info()[1], "batch_size": self.batch_size,
                "seconds": round(time.perf_counter() - self.t0, 3), "versions": _versions(), "warnings": self.warnings}


def _side(src, ex: Extracted | None, n=None, extra=None) -> dict:
    d = src.record()
    d["n"] = ex.n if ex is not None else n
    d["skipped"] = len(ex.skipped) if ex is not None else 0
    if ex is not None and ex.skipped:
        d["skipped_files"] = ex.skipped[:100]
    d.update(extra or {})
    return d


def _standing_stats(srcs: list, passes: int, device) -> None:
    """--standing-stats N: load each generator side once and replace its batch-norm statistics by the average of N
    fresh forward passes (BigGAN's evaluation rule, sampling/standing.py); deterministic, so every rank agrees."""
    if not passes:
        return
    gens = [s for s in srcs if s.kind == "generator"]
    if not gens:
        raise UsageError("--standing-stats: applies to a generator input (a run or checkpoint); none was given")
    from ganctl.sampling.generate import load_generator

    for s in gens:
        if s.generator is None:
            s.generator = load_generator(s.spec, device)
        s.generator.use_standing_stats(passes)


def fid(a: str, b: str | None = None, *, weights: str | None = None, protocol: str = "pytorch-fid", device: str = "auto",
        batch_size: int = 64, workers: int = 2, num: int | None = None, truncation_psi: float = 1.0,
        class_idx: int | None = None, save_stats_path: str | None = None, tf32: bool = False, progress: bool = True,
        standing_stats: int = 0) -> dict:
    """FID between `a` and `b` (or, with b None, just the stats of `a` for --save-stats)."""
    if b is None and not save_stats_path:
        raise UsageError("ganctl fid needs two inputs (or one input and --save-stats FILE.npz)")
    srcs = [resolve_source(s, allow_stats=True, num=num) for s in ([a] if b is None else [a, b])]
    if save_stats_path and srcs[0].kind == "stats":
        raise UsageError(f"--save-stats: {a} is already a stats file")
    for s in srcs:
        if s.kind != "stats" and len(s) < 2:
            raise DataError(f"{s.spec}: {len(s)} image(s); FID needs at least 2 per side (and 2048+ for a stable value)")
    loaded = {k: load_stats(s.spec) for k, s in enumerate(srcs) if s.kind == "stats"}  # bad files fail before any work
    for k, (mu, _, _, _) in loaded.items():
        if mu.shape[0] != 2048:
            raise UsageError(f"{srcs[k].spec}: mu has {mu.shape[0]} dims; FID here uses the 2048 pool3 features")
    ctx = _Context("fid", weights, protocol, device, batch_size, workers, tf32, progress, truncation_psi, class_idx)
    _standing_stats(srcs, standing_stats, ctx.device)
    stats, sides = [], []
    with precision(ctx.device, tf32):
        for k, src in enumerate(srcs):
            if src.kind == "stats":
                mu, sigma, n, proto = loaded[k]
                if proto and proto != ctx.protocol.name:
                    warn(f"{src.spec} was computed with protocol {proto}, this run uses {ctx.protocol.name}", ctx.warnings)
                stats.append((mu, sigma))
                sides.append(_side(src, None, n, {"protocol": proto}))
                continue
            ex = ctx.extract(src, f"side {k + 1}", stream_stats=True)
            stats.append(ex.stats.finalize())
            sides.append(_side(src, ex))
            if ex.n < SMALL_N:
                warn(f"{src.spec}: {ex.n} images < {SMALL_N}: the covariance is rank-deficient and FID is biased upwards; "
                     "compare only FIDs computed with the same N", ctx.warnings)
    values = {}
    if save_stats_path and dist_info()[0] == 0:
        save_stats(save_stats_path, *stats[0], n=sides[0]["n"], protocol=ctx.protocol.name)
        values["saved_stats"] = str(save_stats_path)
    if b is not None:
        values["fid"] = distance.frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1])
    return ctx.record(values, sides)


def inception_score(a: str, *, weights: str | None = None, protocol: str = "torch-fidelity", device: str = "auto",
                    batch_size: int = 64, workers: int = 2, num: int | None = None, truncation_psi: float = 1.0,
                    class_idx: int | None = None, splits: int = 10, tf32: bool = False, progress: bool = True,
                    standing_stats: int = 0) -> dict:
    if splits < 1:
        raise UsageError("--splits: must be at least 1")
    src = resolve_source(a, allow_stats=False, num=num)
    ctx = _Context("is", weights, protocol, device, batch_size, workers, tf32, progress, truncation_psi, class_idx)
    _standing_stats([src], standing_stats, ctx.device)
    with precision(ctx.device, tf32):
        ex = ctx.extract(src, "images", want_logits=True)
    if ex.n < splits:
        raise DataError(f"{a}: {ex.n} images cannot fill {splits} splits; use more images or fewer --splits")
    mean, std = distance.inception_score(ex.logits, splits=splits)
    return ctx.record({"is_mean": mean, "is_std": std, "splits": splits}, [_side(src, ex)])


def kid(a: str, b: str, *, weights: str | None = None, protocol: str = "torch-fidelity", device: str = "auto",
        batch_size: int = 64, workers: int = 2, num: int | None = None, truncation_psi: float = 1.0,
        class_idx: int | None = None, subsets: int = 100, subset_size: int = 1000, tf32: bool = False,
        progress: bool = True, standing_stats: int = 0) -> dict:
    if subsets < 1 or subset_size < 2:
        raise UsageError("--subsets must be >= 1 and --subset-size >= 2")
    srcs = [resolve_source(s, allow_stats=False, num=num) for s in (a, b)]
    ctx = _Context("kid", weights, protocol, device, batch_size, workers, tf32, progress, truncation_psi, class_idx)
    _standing_stats(srcs, standing_stats, ctx.device)
    feats, sides = [], []
    with precision(ctx.device, tf32):
        for k, src in enumerate(srcs):
            ex = ctx.extract(src, f"side {k + 1}", keep_pool=True)
            if ex.n < subset_size:
                raise DataError(f"{src.spec}: {ex.n} images < --subset-size {subset_size}; lower --subset-size or add images")
            feats.append(ex.pool3)
            sides.append(_side(src, ex))
    mean, std = distance.kernel_inception_distance(feats[0], feats[1], subsets=subsets, subset_size=subset_size)
    return ctx.record({"kid_mean": mean, "kid_std": std, "subsets": subsets, "subset_size": subset_size}, sides)
