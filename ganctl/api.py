"""The library API: one function per CLI command, with the same names. The CLI only parses flags and renders.

Example:
    from ganctl import api
    result = api.train(preset="dcgan-fashion-mnist", data="data/fmnist", kimg=10)
    api.sample(result["run_dir"], seeds=range(16), outdir="out")
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from ganctl.errors import UsageError

Emit = Callable[[dict], None]


def _noop(event: dict) -> None:
    pass


def prepare_data(source: str, dest: str, **options):
    """Prepare a dataset (see `ganctl prepare-data --help`); options are PrepareOptions fields. Returns the report."""
    from ganctl.data.prepare import PrepareOptions, prepare_dataset

    return prepare_dataset(source, dest, PrepareOptions(**options))


def resolve_train_config(preset: str | None, config_file: str | None = None, overrides: Iterable[str] = (),
                         data: str | None = None, kimg: float | None = None, seed: int | None = None,
                         device: str | None = None, batch: int | None = None) -> dict:
    from ganctl.config import resolve_config

    ov = list(overrides)
    # Flags are the last layer, after key=value overrides, as the CLI documents.
    for key, val in (("data.path", data), ("train.kimg", kimg), ("train.seed", seed), ("train.device", device), ("train.batch", batch)):
        if val is not None:
            ov.append(f"{key}={val}")
    if not preset and not config_file:
        raise UsageError("--preset: no preset or --config given; pick one from `ganctl presets list`")
    return resolve_config(preset, config_file, ov)


def train(preset: str | None = None, data: str | None = None, outdir: str = "runs", kimg: float | None = None,
          seed: int | None = None, device: str | None = None, config_file: str | None = None,
          overrides: Iterable[str] = (), batch: int | None = None, emit: Emit = _noop, argv: list[str] | None = None) -> dict:
    """Train a new run; returns {'run_dir', 'kimg', 'seconds'}."""
    from ganctl.data.dataset import PreparedDataset
    from ganctl.engine import rundir
    from ganctl.device import resolve_device
    from ganctl.engine.training import Trainer

    from ganctl.engine import distributed

    cfg = resolve_train_config(preset, config_file, overrides, data, kimg, seed, device, batch)
    distributed.maybe_init(cfg["train"]["device"])
    if not cfg["data"]["path"]:
        raise UsageError("--data: no dataset given; prepare one with `ganctl prepare-data SOURCE DEST` and pass --data DEST")
    ds = PreparedDataset(cfg["data"]["path"])
    dev = distributed.local_device(resolve_device(cfg["train"]["device"]))
    rank, _ = distributed.dist_info()
    run_dir = None
    if rank == 0:
        run_dir = rundir.create_run_dir(outdir, cfg, ds.name, ds.resolution)
        rundir.write_config(run_dir, cfg)  # before step 0, so a crashed run still says what it was
        rundir.write_start_files(run_dir, dev, argv or sys.argv)
    run_dir = _broadcast_path(run_dir)
    if rank == 0:
        emit = _logging(emit, run_dir)
    emit({"type": "run_dir", "path": str(run_dir)})
    trainer = Trainer(cfg, ds, run_dir if rank == 0 else None, dev, emit)
    if rank == 0:
        rundir.update_env(run_dir, {"precision": trainer.precision, "world_size": trainer.world_size})
    result = trainer.run()
    result["run_dir"] = str(run_dir)
    return result


def _logging(emit: Emit, run_dir: Path | None) -> Emit:
    """Also append every event as one JSON line to RUN_DIR/log.txt (rank 0), so a run keeps its own history."""
    if run_dir is None:
        return emit
    import json
    import time

    log = Path(run_dir) / "log.txt"

    def both(event: dict) -> None:
        with open(log, "a") as f:
            f.write(json.dumps({"time": round(time.time(), 3), **event}, default=str) + "\n")
        emit(event)

    return both


def _broadcast_path(path):
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        box = [str(path) if path is not None else None]
        dist.broadcast_object_list(box, src=0)
        return Path(box[0])
    return path


def resume(run_dir: str, kimg: float | None = None, device: str | None = None, workers: int | None = None,
           checkpoint: str | None = None, overrides: Iterable[str] = (), emit: Emit = _noop, argv: list[str] | None = None) -> dict:
    """Continue a run in its own directory from its latest (or the named) checkpoint."""
    from ganctl.config.load import apply_overrides, parse_override, validate_resolved
    from ganctl.config.schema import RESUME_SAFE
    from ganctl.data.dataset import PreparedDataset
    from ganctl.engine import checkpoint as ckpt
    from ganctl.engine import rundir
    from ganctl.device import resolve_device
    from ganctl.engine.training import Trainer

    run = Path(run_dir)
    cfg = validate_resolved(rundir.read_config(run))
    ckpt_dir = run / rundir.CHECKPOINTS
    path = ckpt_dir / checkpoint if checkpoint else ckpt.latest_checkpoint(ckpt_dir)
    if path is None or not path.exists():
        raise UsageError(f"{run}: no checkpoint to resume from in {ckpt_dir}")
    ov = list(overrides)
    for text in ov:
        keys, _ = parse_override(text)
        if tuple(keys) not in RESUME_SAFE:
            safe = ", ".join(sorted(".".join(k) for k in RESUME_SAFE))
            raise UsageError(f"override {text!r}: resume cannot change {'.'.join(keys)} (it would change what the run computes); allowed: {safe}")
    for key, val in (("train.kimg", kimg), ("train.device", device), ("train.workers", workers)):
        if val is not None:
            ov.append(f"{key}={val}")
    cfg = validate_resolved(apply_overrides(cfg, ov))
    from ganctl.engine import distributed

    distributed.maybe_init(cfg["train"]["device"])
    ds = PreparedDataset(cfg["data"]["path"])
    dev = distributed.local_device(resolve_device(cfg["train"]["device"]))
    rank, _ = distributed.dist_info()
    if rank == 0:
        emit = _logging(emit, run)
    trainer = Trainer(cfg, ds, run if rank == 0 else None, dev, emit, checkpoint=path)
    if rank == 0:
        rundir.write_config(run, cfg)
        rundir.write_start_files(run, dev, argv or sys.argv)
        rundir.update_env(run, {"precision": trainer.precision, "world_size": trainer.world_size})
        ckpt.remove_stale_temps(ckpt_dir)
        # Ticks logged after the checkpoint (by a run that was killed later) are history that will be redone.
        rundir.truncate_jsonl(run / rundir.STATS, "Progress/kimg", trainer.cur_nimg / 1000)
    emit({"type": "resumed", "path": str(path), "kimg": trainer.cur_nimg / 1000})
    result = trainer.run()
    result["run_dir"] = str(run)
    return result


def sample(source: str | None = None, seeds: Iterable[int] = range(16), truncation_psi: float = 1.0,
           truncation_cutoff: int | None = None, class_idx: int | None = None, grid: bool = False,
           outdir: str = "samples", noise_mode: str = "const", device: str = "auto", batch_size: int = 32,
           workers: int | None = None, standing_stats: int = 0) -> dict:
    """Write one PNG per seed (seed0042.png) and/or a grid (grid.png); returns the paths written.
    `workers` PNG-encoding threads (default: CPU count, at most 8; 1 writes in the calling thread).
    `standing_stats` N > 0: first replace G's batch-norm statistics by the average of N forward passes (BigGAN)."""
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import make_grid, save_png
    from ganctl.sampling.writer import PngWriter

    import torch

    seeds = list(seeds)
    gen = load_generator(source, device)
    if standing_stats:
        gen.use_standing_stats(standing_stats)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    batches = []
    with PngWriter(workers) as writer:  # PNG encoding overlaps the next batch's generation
        for i, imgs in enumerate(gen.iter_images(seeds, truncation_psi, class_idx, batch_size, truncation_cutoff, noise_mode)):
            if grid:
                batches.append(imgs)
                continue
            for j, img in enumerate(imgs):
                seed = seeds[i * batch_size + j]
                writer.submit(img.permute(1, 2, 0).numpy(), out / f"seed{seed:04d}.png")
    written = writer.written
    if grid:
        written.append(str(save_png(make_grid(torch.cat(batches)), out / "grid.png")))
    return {"checkpoint": str(gen.path), "files": written, "count": len(seeds)}


def interpolate(source: str | None = None, seeds: Iterable[int] = (0, 1), steps: int = 30, method: str = "slerp",
                space: str = "z", loop: bool = False, out: str = "interp.gif", truncation_psi: float = 1.0,
                class_idx: int | None = None, fps: int = 24, device: str = "auto") -> dict:
    from ganctl.sampling.interpolate import interpolate_frames, write_frames
    from ganctl.sampling.generate import load_generator

    gen = load_generator(source, device)
    frames = interpolate_frames(gen, list(seeds), steps, method=method, space=space, loop=loop,
                                truncation_psi=truncation_psi, class_idx=class_idx)
    paths = write_frames(frames, out, fps=fps)
    return {"checkpoint": str(gen.path), "frames": int(frames.shape[0]), "files": paths}


def style_mix(source: str | None, row_seeds, col_seeds, styles, truncation_psi: float = 1.0,
              truncation_cutoff: int | None = None, noise_mode: str = "const", class_idx: int | None = None,
              out: str = "style-mix.png", singles: str | None = None, device: str = "auto") -> dict:
    """The classic style-mixing grid (and, with `singles`, each cell as its own PNG)."""
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import save_png
    from ganctl.sampling.stylemix import style_mix_grid

    if noise_mode not in ("const", "random", "none"):
        raise UsageError(f"--noise-mode {noise_mode!r}: use const, random or none")
    gen = load_generator(source, device)
    grid, cells = style_mix_grid(gen.G, row_seeds, col_seeds, styles, truncation_psi, truncation_cutoff, noise_mode,
                                 class_idx, gen.device)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    files = [str(save_png(grid, out))]
    if singles:
        d = Path(singles)
        d.mkdir(parents=True, exist_ok=True)
        for (r, c), img in cells.items():
            files.append(str(save_png(img, d / f"{r}-{c}.png")))
    return {"checkpoint": str(gen.path), "rows": len(row_seeds), "cols": len(col_seeds), "files": files}


def fid(a: str, b: str | None = None, **options) -> dict:
    """FID between two sides (folders, zips, datasets, .npz stats, runs); see ganctl.metrics.compute.fid for options."""
    from ganctl.metrics import compute

    return compute.fid(a, b, **options)


def inception_score(a: str, **options) -> dict:
    """IS of one side (torch-fidelity's protocol by default); see ganctl.metrics.compute.inception_score."""
    from ganctl.metrics import compute

    return compute.inception_score(a, **options)


def kid(a: str, b: str, **options) -> dict:
    """KID between two sides; see ganctl.metrics.compute.kid."""
    from ganctl.metrics import compute

    return compute.kid(a, b, **options)


def presets_list() -> list[dict]:
    from ganctl.config import list_presets, load_preset

    return [{"name": n, "description": load_preset(n).get("description", "")} for n in list_presets()]


def presets_show(name: str) -> dict:
    from ganctl.config import resolve_config

    return resolve_config(name)


def _compile_readiness(torch) -> str:
    """Whether train.compile can work here: inductor needs a C++ compiler for CPU graphs and Triton for CUDA ones."""
    import shutil

    cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++") or shutil.which("clang++")
    parts = [f"cpu: {'yes (' + cxx + ')' if cxx else 'no C++ compiler found'}"]
    if torch.cuda.is_available():
        parts.append(f"cuda: {'yes (triton)' if _has('triton') else 'no (triton missing)'}")
    return "; ".join(parts)


def doctor() -> dict:
    import platform

    import torch

    import ganctl

    info = {"ganctl": ganctl.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
            "cpu_threads": torch.get_num_threads(), "devices": ["cpu"]}
    if torch.cuda.is_available():
        info["devices"] += [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("torchvision", "numpy", "scipy", "pillow", "safetensors", "typer", "rich", "pyyaml"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = "missing"
    try:
        from ganctl import ops

        info["ops"] = ops.status()
    except Exception as e:
        info["ops"] = {"error": f"{type(e).__name__}: {e}"}
    import shutil

    info["ffmpeg"] = shutil.which("ffmpeg") or "not found (MP4 output unavailable; GIF and PNG frames work)"
    info["tensorboard"] = _has("tensorboard")
    info["torch_compile"] = _compile_readiness(torch)
    info["cache_dir"] = os.environ.get("GANCTL_CACHE", str(Path.home() / ".cache" / "ganctl"))
    return info


def _has(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None
