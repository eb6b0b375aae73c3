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
from typing import Iterable

from ganctl.emit import Emit, no_events
from ganctl.errors import UsageError
from ganctl.latent.commands import directions, edit, project, sample_projected, video  # noqa: F401 (the API's names)


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
          overrides: Iterable[str] = (), batch: int | None = None, emit: Emit = no_events, argv: list[str] | None = None,
          init: str | None = None) -> dict:
    """Train a new run; returns {'run_dir', 'kimg', 'seconds'}. `init`: start G, D, G_ema from a network (NVlabs .pkl,
    rosinality .pt, ganctl checkpoint or run dir), whose architecture replaces the config's `model:` section."""
    from ganctl.data.dataset import open_dataset
    from ganctl.engine import rundir
    from ganctl.device import resolve_device
    from ganctl.engine import distributed
    from ganctl.engine.training import Trainer, check_buildable

    cfg = resolve_train_config(preset, config_file, overrides, data, kimg, seed, device, batch)
    distributed.maybe_init(cfg["train"]["device"])
    if not cfg["data"]["path"]:
        raise UsageError("--data: no dataset given; prepare one with `ganctl prepare-data SOURCE DEST` and pass --data DEST")
    ds = open_dataset(cfg["data"]["path"])  # any kind: the family refuses what it cannot use
    init_tensors = origin = None
    if init:
        from ganctl.interop.init import init_from

        cfg, init_tensors, origin = init_from(init, cfg, ds.resolution, ds.channels, ds.num_classes)
    dev = distributed.local_device(resolve_device(cfg["train"]["device"]))
    check_buildable(cfg, ds)  # a bad model key or schedule map is refused before the run directory exists
    from ganctl.engine.energy import parse_setting

    parse_setting(cfg["train"]["energy"])  # likewise a bad train.energy
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
    trainer = Trainer(cfg, ds, run_dir if rank == 0 else None, dev, emit, init_tensors=init_tensors, origin=origin)
    if rank == 0:
        rundir.update_env(run_dir, {"precision": trainer.precision, "world_size": trainer.world_size})
        if origin is not None:
            rundir.update_env(run_dir, {"init": origin})
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
        if event["type"] == "step":  # per-step progress is for live display only; log.txt keeps the run's history
            emit(event)
            return
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
           checkpoint: str | None = None, overrides: Iterable[str] = (), emit: Emit = no_events, argv: list[str] | None = None) -> dict:
    """Continue a run in its own directory from its latest (or the named) checkpoint."""
    from ganctl.config.load import apply_overrides, parse_override, validate_resolved
    from ganctl.config.schema import RESUME_SAFE
    from ganctl.data.dataset import open_dataset
    from ganctl.engine import checkpoint as ckpt
    from ganctl.engine import rundir
    from ganctl.device import resolve_device
    from ganctl.engine.training import Trainer

    run = Path(run_dir)
    cfg = validate_resolved(rundir.read_config(run))
    ckpt_dir = run / rundir.CHECKPOINTS
    path = Path(select_checkpoint(str(run), checkpoint)) if checkpoint else ckpt.latest_checkpoint(ckpt_dir)
    # A run killed before its first checkpoint restarts from step 0 in its own directory: everything it computes is a
    # function of the config, so the restart repeats what the killed run did.
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
    ds = open_dataset(cfg["data"]["path"])  # any kind: the family refuses what it cannot use
    dev = distributed.local_device(resolve_device(cfg["train"]["device"]))
    rank, _ = distributed.dist_info()
    if rank == 0:
        emit = _logging(emit, run)
    trainer = Trainer(cfg, ds, run if rank == 0 else None, dev, emit, checkpoint=path)
    if rank == 0:
        ckpt_dir.mkdir(exist_ok=True)
        rundir.write_config(run, cfg)
        rundir.write_start_files(run, dev, argv or sys.argv)
        rundir.update_env(run, {"precision": trainer.precision, "world_size": trainer.world_size})
        ckpt.remove_stale_temps(ckpt_dir)
        # Ticks logged after the checkpoint (by a run that was killed later) are history that will be redone.
        rundir.truncate_jsonl(run / rundir.STATS, "Progress/kimg", trainer.cur_nimg / 1000)
        rundir.truncate_jsonl(run / rundir.METRICS, "kimg", trainer.cur_nimg / 1000)
    if path is None:
        emit({"type": "message", "text": f"{run}: no checkpoint yet; restarting from step 0 in the same directory"})
    else:
        emit({"type": "resumed", "path": str(path), "kimg": trainer.cur_nimg / 1000})
    result = trainer.run()
    result["run_dir"] = str(run)
    return result


def sample(source: str | None = None, seeds: Iterable[int] = range(16), truncation_psi: float = 1.0,
           truncation_cutoff: int | None = None, class_idx: int | None = None, grid: bool = False,
           outdir: str = "samples", noise_mode: str = "const", device: str = "auto", batch_size: int = 32,
           workers: int | None = None, standing_stats: int = 0, provenance: bool = True, output=None,
           translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> dict:
    """Write one PNG per seed (seed0042.png) and/or a grid (grid.png); returns the paths written.
    `translate` (x, y) / `rotate` degrees move the output of a generator with a transformable input (StyleGAN3).
    `workers` PNG-encoding threads (default: CPU count, at most 8; 1 writes in the calling thread).
    `standing_stats` N > 0: first replace G's batch-norm statistics by the average of N forward passes (BigGAN).
    Each PNG carries the AI-generated provenance statement and its seed, class, psi, noise mode and network sha256
    (sampling/provenance.py) unless `provenance` is False; `output` (sampling/output.OutputPolicy) adds the watermark
    and/or a signed C2PA manifest."""
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import make_grid, save_png
    from ganctl.sampling.onnx_generator import OnnxGenerator, is_onnx
    from ganctl.sampling.provenance import for_network, seed_list
    from ganctl.sampling.writer import PngWriter

    import torch

    seeds = list(seeds)
    if is_onnx(source):  # an exported graph, run by onnxruntime (ganctl/sampling/onnx_generator.py)
        gen = OnnxGenerator(source, device)
        truncation_psi = gen.truncation_psi(truncation_psi)
    else:
        gen = load_generator(source, device)
    if standing_stats:
        gen.use_standing_stats(standing_stats)
    if output is not None and output.watermark and not grid:
        from ganctl.sampling.watermark import check_size

        res = gen.stage()["resolution"]
        if res:
            check_size(res, res, "model's output")  # refuse before generating, not from the writer threads
    if tuple(translate) != (0.0, 0.0) or rotate:
        gen.set_transform(translate, rotate)
    prov = for_network(gen.path, class_idx=class_idx, truncation_psi=truncation_psi,
                       noise_mode=noise_mode, output=output) if provenance else None
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
                cls = class_idx if class_idx is not None or not gen.num_classes else seed % gen.num_classes
                writer.submit(img.permute(1, 2, 0).numpy(), out / f"seed{seed:04d}.png",
                              prov.with_(seed=seed, class_idx=cls) if prov else None)
    written = writer.written
    if grid:
        written.append(str(save_png(make_grid(torch.cat(batches)), out / "grid.png",
                                    prov.with_(kind="grid", seeds=seed_list(seeds)) if prov else None)))
    return {"checkpoint": str(gen.path), "files": written, "count": len(seeds), **gen.stage()}


def interpolate(source: str | None = None, seeds: Iterable[int] = (0, 1), steps: int = 30, method: str = "slerp",
                space: str = "z", loop: bool = False, out: str = "interp.gif", truncation_psi: float = 1.0,
                class_idx: int | None = None, fps: int = 24, device: str = "auto", provenance: bool = True,
                output=None) -> dict:
    from ganctl.sampling.interpolate import interpolate_frames, write_frames
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.provenance import for_network, seed_list

    gen = load_generator(source, device)
    frames = interpolate_frames(gen, list(seeds), steps, method=method, space=space, loop=loop,
                                truncation_psi=truncation_psi, class_idx=class_idx)
    prov = for_network(gen.path, kind="frames", seeds=seed_list(seeds), class_idx=class_idx,
                       truncation_psi=truncation_psi, noise_mode="const", output=output) if provenance else None
    paths = write_frames(frames, out, fps=fps, provenance=prov)
    return {"checkpoint": str(gen.path), "frames": int(frames.shape[0]), "files": paths}


def style_mix(source: str | None, row_seeds, col_seeds, styles, truncation_psi: float = 1.0,
              truncation_cutoff: int | None = None, noise_mode: str = "const", class_idx: int | None = None,
              out: str = "style-mix.png", singles: str | None = None, device: str = "auto", provenance: bool = True,
              output=None) -> dict:
    """The classic style-mixing grid (and, with `singles`, each cell as its own PNG)."""
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.grid import save_png
    from ganctl.sampling.provenance import for_network, seed_list
    from ganctl.sampling.stylemix import style_mix_grid

    if noise_mode not in ("const", "random", "none"):
        raise UsageError(f"--noise-mode {noise_mode!r}: use const, random or none")
    gen = load_generator(source, device)
    grid, cells = style_mix_grid(gen.G, row_seeds, col_seeds, styles, truncation_psi, truncation_cutoff, noise_mode,
                                 class_idx, gen.device)
    prov = for_network(gen.path, kind="style-mix", class_idx=class_idx, truncation_psi=truncation_psi,
                       noise_mode=noise_mode, output=output) if provenance else None
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    files = [str(save_png(grid, out, prov.with_(seeds=f"rows {seed_list(row_seeds)} / cols {seed_list(col_seeds)}")
                          if prov else None))]
    if singles:
        d = Path(singles)
        d.mkdir(parents=True, exist_ok=True)
        for (r, c), img in cells.items():
            files.append(str(save_png(img, d / f"{r}-{c}.png", prov.with_(seeds=f"{r},{c}") if prov else None)))
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


def presets_summary(name: str, resolution: int | None = None, channels: int | None = None,
                    classes: int | None = None) -> dict:
    """Per-block summary of a preset's G and D (output shapes, parameters, totals G_params / D_params); see
    ganctl.models.summary for how resolution, channels and classes default from the preset."""
    from ganctl.config import resolve_config
    from ganctl.models.summary import summarize

    return summarize(resolve_config(name), name, resolution, channels, classes)


def convert(source: str, out: str) -> dict:
    """Convert a network from elsewhere (NVlabs .pkl, rosinality .pt) into a ganctl checkpoint; nothing in it is run."""
    from ganctl.interop.convert import convert as _convert

    return _convert(source, out)


def info(target: str) -> dict:
    """Family, geometry, classes, parameter counts, kimg, config, precision and sha256 of a run, checkpoint or network."""
    from ganctl.interop.info import info as _info

    return _info(target)


def resolve_init_config(init: str, cfg: dict) -> dict:
    """The config `train --init NET` runs with (the network's `model:` section over `cfg`), checked against the data."""
    from ganctl.data.dataset import PreparedDataset
    from ganctl.interop.init import init_from

    if not cfg["data"]["path"]:
        raise UsageError("--data: --init needs the dataset to check the network against; pass --data DIR")
    ds = PreparedDataset(cfg["data"]["path"])
    return init_from(init, cfg, ds.resolution, ds.channels, ds.num_classes)[0]


def select_checkpoint(source: str | None, which: str | None) -> str | None:
    """`RUN --checkpoint best|latest|NAME` -> that checkpoint's path; `source` unchanged when `which` is None."""
    if which is None:
        return source
    from ganctl.sampling.generate import resolve_checkpoint

    return str(resolve_checkpoint(source, which))


def select_checkpoints(sources: list, which: str | None) -> list:
    """`--checkpoint` for commands with several inputs (fid, kid): applied to the inputs that are run directories."""
    if which is None:
        return list(sources)
    runs = [s is not None and (Path(s) / "checkpoints").is_dir() for s in sources]
    if not any(runs):
        raise UsageError(f"--checkpoint {which}: none of the inputs is a run directory; it selects a run's checkpoint")
    return [select_checkpoint(s, which) if r else s for s, r in zip(sources, runs)]


def diagnose(run_dir: str, checkpoint: str | None = None, num: int = 256, features: str = "auto", weights: str | None = None,
             device: str = "auto", margin: float = 0.1, classifier_steps: int | None = None) -> dict:
    """Findings on a run (mode collapse, D overfitting, conditioning, instability, metric regression); see ganctl.diagnose.run."""
    from ganctl.diagnose.run import diagnose_run

    return diagnose_run(run_dir, checkpoint=checkpoint, num=num, features=features, weights=weights, device=device, margin=margin,
                        classifier_steps=classifier_steps)


def report(run_dir: str, out: str | None = None) -> dict:
    """RUN/report.html + PNG plots + a summary dict; see ganctl.report."""
    from ganctl.report.build import build_report

    return build_report(run_dir, out)


def precision_recall(real: str, fake: str, **options) -> dict:
    """Improved precision/recall of `fake` against `real` in VGG16 features; see ganctl.metrics.prc.precision_recall."""
    from ganctl.metrics import prc

    return prc.precision_recall(real, fake, **options)


def provenance(files: Iterable[str]) -> list[dict]:
    """The provenance statement of each PNG/GIF/MP4 (see ganctl.sampling.provenance.read)."""
    from ganctl.sampling.provenance import read

    return [read(f) for f in files]


def nearest(run: str, data: str, **options) -> dict:
    """Memorisation check: nearest training images of generated ones; see ganctl.metrics.nearest.run_nearest."""
    from ganctl.metrics.nearest import run_nearest

    return run_nearest(run, data, **options)


def ppl(run: str, **options) -> dict:
    """Perceptual path length of a run's generator; see ganctl.metrics.ppl.perceptual_path_length."""
    from ganctl.metrics.ppl import perceptual_path_length

    return perceptual_path_length(run, **options)


def provenance_verify(files: Iterable[str], trust: str | None = None) -> list[dict]:
    """Each file's provenance statement plus its C2PA content-credential state (valid, untrusted, invalid, unsigned;
    see ganctl.sampling.credentials.verify), checked offline against the `trust` anchors (PEM)."""
    from ganctl.sampling.credentials import verify
    from ganctl.sampling.provenance import read

    return [{**read(f), **verify(f, trust)} for f in files]


def watermark_detect(files: Iterable[str], search: bool = True) -> list[dict]:
    """ganctl's invisible watermark in each image (PNG, JPEG, WebP, GIF first frame): matching magic bits, the decoded
    payload and a verdict (see ganctl.sampling.watermark.detect)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from ganctl.sampling import watermark

    out = []
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise UsageError(f"{p}: no such file")
        try:
            with Image.open(p) as im:
                arr = np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as e:
            raise UsageError(f"{p}: not a readable image ({e})") from None
        out.append({"file": str(p), **watermark.detect(arr, search=search).as_dict()})
    return out

def export(source: str | None, out: str, format: str = "onnx", part: str = "full", truncation_psi: float | None = None,
           truncation_cutoff: int | None = None, noise_mode: str = "const", uint8: bool = False, opset: int = 18,
           direction: str = "AtoB") -> dict:
    """Write a generator (or its mapping / synthesis part) as an ONNX graph; see ganctl.export.onnx_export.
    `direction`: which generator of a CycleGAN (AtoB: G_A, BtoA: G_B)."""
    if format != "onnx":
        raise UsageError(f"--format {format!r}: ganctl exports onnx")
    from ganctl.export.onnx_export import export_onnx

    return export_onnx(source, out, part, truncation_psi, truncation_cutoff, noise_mode, uint8, opset,
                       direction=direction)


def serve(source: str | None, host: str = "127.0.0.1", port: int = 8000, device: str = "auto",
          max_images: int = 64, max_batch: int = 16, on_ready=print, directions: str | None = None) -> dict:
    """HTTP API for pipelines (PNG or JSON by seed, class, psi, noise mode); runs until interrupted. See ganctl.serve."""
    from ganctl.serve.run import serve_forever

    return serve_forever(source, host, port, page=False, on_ready=on_ready, device=device, directions=directions,
                         max_images=max_images, max_batch=max_batch)


def explore(source: str | None, host: str = "127.0.0.1", port: int = 0, device: str = "auto",
            directions: str | None = None, on_ready=print) -> dict:
    """The explorer web page (seed grid, truncation, classes, style mixing, interpolation, edits) plus the API."""
    from ganctl.serve.run import serve_forever

    return serve_forever(source, host, port, page=True, on_ready=on_ready, device=device, directions=directions)


def export_dataset(source: str | None, out: str, num: int, truncation_psi: float = 1.0, device: str = "auto",
                   batch_size: int = 64, workers: int | None = None, provenance: bool = True,
                   image_folder: bool = True) -> dict:
    """Write `num` generated images (seeds 0..num-1; labels seed % classes for conditional models) as a prepared
    dataset at `out`, plus the same images in torchvision's ImageFolder layout under out/images/."""
    from ganctl.sampling.export import export_dataset as _export
    from ganctl.sampling.generate import load_generator

    return _export(load_generator(source, device), out, num, truncation_psi, batch_size, workers, provenance, image_folder)


def cas(source: str, real_test: str, num: int = 10000, real_train: str | None = None, epochs: int = 5, seed: int = 0,
        truncation_psi: float = 1.0, device: str = "auto", emit: Emit = no_events) -> dict:
    """Classification accuracy score: a fixed classifier trained on `num` generated labelled images (from a run,
    checkpoint or exported dataset), tested on the real `real_test` set, next to the same classifier trained on `num`
    real images (`real_train`, default the run's training data)."""
    from ganctl.metrics.cas import classification_accuracy_score

    return classification_accuracy_score(source, real_test, num, real_train, epochs, seed, truncation_psi, device, emit)


def audit_privacy(source: str, train: str, heldout: str, **options) -> dict:
    """Membership inference (GAN-Leaks full black-box, LOGAN white-box): ROC AUC of training vs held-out images with a
    bootstrap interval, TPR at low FPR, and nearest's findings; see ganctl.audit.membership."""
    from ganctl.audit.membership import audit_privacy as _audit

    return _audit(source, train, heldout, **options)


def audit_bias(source: str, data: str, **options) -> dict:
    """Label distribution of generated images vs the real data at each truncation (L1, L2, KL, per-class shares);
    see ganctl.audit.bias."""
    from ganctl.audit.bias import audit_bias as _audit

    return _audit(source, data, **options)

def upscale(net: str, inputs: list[str], out: str, outscale: float | None = None, tile: int = 0, tile_pad: int = 10,
            batch_size: int = 4, device: str = "auto", checkpoint: str | None = None, provenance: bool = True,
            progress=lambda done, total: None, output=None) -> dict:
    """Upscale images or folders with a super-resolution network (a run, checkpoint or network file); writes
    OUT/<name>.png per input (folders keep their relative paths) and returns what was written. Every input is checked
    before anything is written (sampling/upscale.py)."""
    from ganctl.sampling import upscale as up
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.provenance import for_network
    from ganctl.sampling.writer import PngWriter

    up.check_outscale(outscale)
    if tile < 0 or tile_pad < 0:
        raise UsageError("--tile and --tile-pad: must be >= 0 (0 = no tiling)")
    if batch_size < 1:
        raise UsageError("--batch-size: must be at least 1")
    gen = load_generator(select_checkpoint(net, checkpoint), device, conditioning="image")
    jobs = up.plan(inputs, gen.G, outscale)
    prov = for_network(gen.path, kind="upscale", output=output) if provenance else None
    done = 0

    def tick(n):
        nonlocal done
        done += n
        progress(done, len(jobs))

    rows = []
    with PngWriter() as writer:
        for job, arr in up.upscale_jobs(gen.G, jobs, gen.device, outscale, tile, tile_pad, batch_size, tick):
            dest = Path(out) / job.rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            writer.submit(arr, dest, prov)
            rows.append({"input": str(job.src), "output": str(dest), "size": [int(arr.shape[1]), int(arr.shape[0])]})
    return {"network": str(gen.path), "scale": gen.G.scale, "outscale": outscale, "tile": tile, "tile_pad": tile_pad,
            "count": len(rows), "files": rows}


def compare(ref: str, out: str, metrics: Iterable[str] = ("psnr", "ssim"), crop_border: int = 0,
            y_channel: bool = False, device: str = "cpu") -> dict:
    """PSNR/SSIM/L1/LPIPS of OUT against REF (files, or folders matched by relative path), per image and mean, with
    BasicSR's conventions; the convention is part of the result (metrics/pairs.py)."""
    from ganctl.metrics.compare import compare as _compare

    return _compare(ref, out, tuple(metrics), crop_border, y_channel, device)


def prepare_pairs(a: str, b: str | None, dest: str, mode: str = "pairs", **options):
    """Prepare an image-to-image dataset (`prepare-data --pairs A B DEST`, `--aligned A DEST` with b None, `--unpaired A B
    DEST`); options are PairOptions fields (direction, factor, multiple, resolution, policy, ...). Returns the report."""
    from ganctl.data.prepare_pairs import PairOptions, prepare_pairs as run

    return run(a, b, dest, PairOptions(mode=mode, **options))


def translate(net: str, inputs: list[str], out: str, **options) -> dict:
    """Apply an image-to-image network to image files/folders; see ganctl.sampling.translate.translate."""
    from ganctl.sampling.translate import translate as run

    return run(net, inputs, out, **options)
