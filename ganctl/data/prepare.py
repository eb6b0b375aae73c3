"""`prepare-data` as a library function: any supported source -> a prepared dataset (write_dataset) + its manifest.

Flow: detect and list the source (ganctl.data.sources); when --resolution/--channels are not given, a header-only
probe pass decides them; the decode pass runs in a process pool over chunks of files, consumed in source order so
the result (and which copy of a duplicate is kept) does not depend on worker timing. Decoded pixels are written
straight into one preallocated uint8 array (a memmap in DEST for big outputs), so memory stays bounded: no PIL image
outlives its decode, and at most a few chunks are in flight at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ganctl.data import decode as dec
from ganctl.data.dataset import write_dataset
from ganctl.data.sources import ArraySource, FileSource, TooLarge, detect, read_member
from ganctl.errors import DataError

_IN_RAM_LIMIT = 1 << 30  # outputs above 1 GiB are assembled in a memmap inside DEST instead of RAM
_TMP_NAME = ".prepare-images.tmp"
_FIT_CHUNK = 2048  # images per worker task when idx/CIFAR pixels are resampled


@dataclass
class PrepareOptions:
    resolution: int | None = None
    channels: int | None = None
    policy: str = "center-crop"
    max_images: int | None = None
    name: str | None = None
    workers: int | None = None
    strict: bool = False
    split: str | None = None
    min_size: int = dec.MIN_SIDE
    max_pixels: int = dec.DEFAULT_MAX_PIXELS
    keep_duplicates: bool = False
    val_fraction: float = 0.0  # share of the images held out in DEST/val/ (never seen by training)


@dataclass
class PrepareReport:
    dest: Path
    source_kind: str
    count: int
    resolution: int
    channels: int
    label_names: list[str]
    skipped_counts: dict[str, int]
    converted_counts: dict[str, int]
    skipped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _check_options(o: PrepareOptions) -> None:
    if o.resolution is not None and o.resolution < dec.MIN_SIDE:
        raise DataError(f"--resolution {o.resolution}: must be at least {dec.MIN_SIDE}")
    if o.channels not in (None, 1, 3):
        raise DataError(f"--channels {o.channels}: choose 1 (greyscale) or 3 (RGB)")
    if o.policy not in dec.POLICIES:
        if o.policy in dec.PAIR_POLICIES:
            raise DataError(f"--policy {o.policy}: only for image-to-image datasets (--pairs, --aligned, --unpaired); "
                            "one image set is square: use center-crop, pad or stretch")
        raise DataError(f"--policy {o.policy}: choose one of {', '.join(dec.POLICIES)}")
    if o.max_images is not None and o.max_images < 1:
        raise DataError(f"--max-images {o.max_images}: must be at least 1")
    if o.workers is not None and o.workers < 1:
        raise DataError(f"--workers {o.workers}: must be at least 1")
    if not 0.0 <= o.val_fraction < 1.0:
        raise DataError(f"--val-fraction {o.val_fraction}: use a fraction in [0, 1), e.g. 0.05")
    if o.min_size < 1 or o.max_pixels < 64:
        raise DataError("--min-size must be >= 1 and --max-pixels >= 64")


def _check_dest(dest: Path) -> bool:
    """Make sure DEST is a writable folder before any work; returns whether we created it."""
    created = not dest.exists()
    try:
        if dest.exists() and not dest.is_dir():
            raise DataError(f"{dest}: exists and is not a folder; choose a folder for DEST")
        dest.mkdir(parents=True, exist_ok=True)
        probe = dest / ".ganctl-write-test.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DataError(f"{dest}: cannot write the dataset here ({e.strerror or e}); choose a writable DEST") from None
    return created


class _Output:
    """The preallocated image buffer: RAM for small outputs, a temp memmap in DEST for big ones."""

    def __init__(self, dest: Path, cap: int, channels: int, resolution, tmp_name: str = _TMP_NAME):
        # resolution: N (N x N) or an (H, W) size (image-to-image datasets that keep the aspect ratio)
        size = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        shape = (cap, channels) + size
        self.tmp = None
        if cap * channels * size[0] * size[1] > _IN_RAM_LIMIT:
            self.tmp = dest / tmp_name
            self.images = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.uint8, shape=shape)
        else:
            self.images = np.empty(shape, dtype=np.uint8)
        self.labels = np.empty(cap, dtype=np.int64)
        self.count = 0

    def add(self, pixels: np.ndarray, label: int) -> None:
        self.images[self.count] = pixels
        self.labels[self.count] = label
        self.count += 1

    def close(self) -> None:
        if self.tmp is not None:
            del self.images
            self.tmp.unlink(missing_ok=True)


# ---- worker side ----------------------------------------------------------------------------------------------


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group: let the parent alone handle it (clean up, exit 130), no worker tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _work_chunk(task):
    """Run in a worker: probe or decode a chunk of listed files. Returns one tuple per file."""
    mode, spec, rels, o = task
    out = []
    for rel in rels:
        try:
            try:
                # 8 bytes per allowed pixel covers uncompressed 16-bit RGBA; anything bigger is not a sane image file.
                data = read_member(*spec, rel, max_bytes=8 * o["max_pixels"] + (1 << 20))
            except TooLarge as e:
                raise dec.Skip("huge", f"file too large ({e}; see --max-pixels)") from None
            except Exception as e:  # a bad zip member (CRC, truncation) or an unreadable file: that input only
                kind = "truncated" if spec[0].endswith("zip") else "unreadable"
                raise dec.Skip(kind, f"cannot read ({type(e).__name__}: {e})") from None
            if mode == "probe":
                out.append(("ok", dec.probe(data, o["min_size"], o["max_pixels"])))
            else:
                out.append(("ok", dec.decode(data, o["resolution"], o["channels"], o["policy"], o["min_size"], o["max_pixels"])))
        except dec.Skip as s:
            out.append(("skip", s.kind, s.reason))
    return out


def _fit_chunk(task):
    """Run in a worker: resolution policy + channels for a block of already-decoded pixel arrays (idx/CIFAR)."""
    pixels, resolution, channels, policy = task
    return np.stack([dec.to_channels(dec.fit(p, resolution, policy), channels) for p in pixels])


def _ordered_map(fn, tasks, n_tasks: int, workers: int):
    """Yield fn(task) in task order, from a process pool with a bounded number of tasks in flight (flat memory).

    `tasks` may be a lazy iterable: a task is only built when a slot frees up.
    """
    if workers <= 1 or n_tasks <= 1:
        yield from map(fn, tasks)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
    pending = deque()
    try:
        it = iter(tasks)
        for t in it:
            pending.append(pool.submit(fn, t))
            if len(pending) >= 3 * workers:
                break
        while pending:
            fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(fn, nxt))
            yield fut.result()
    finally:
        # Reached too when the consumer stops early (--max-images) or fails: drop the work not yet started.
        pool.shutdown(wait=True, cancel_futures=True)


def _run_chunks(mode, src: FileSource, rels: list[str], o: dict, workers: int):
    """Yield (rel, result) for every listed file, in source order."""
    spec = (src.kind, str(src.root), src.prefix)
    chunk = 32 if mode == "decode" else 256
    tasks = [(mode, spec, rels[i : i + chunk], o) for i in range(0, len(rels), chunk)]
    for t, results in zip(tasks, _ordered_map(_work_chunk, tasks, len(tasks), workers)):
        yield from zip(t[2], results)


# ---- the two source shapes ------------------------------------------------------------------------------------


def _pick_defaults(o: PrepareOptions, sizes: set[tuple[int, int]], all_grey: bool, where: str) -> tuple[int, int]:
    resolution, channels = o.resolution, o.channels
    if resolution is None:
        if len(sizes) == 1 and next(iter(sizes))[0] == next(iter(sizes))[1]:
            resolution = next(iter(sizes))[0]
        else:
            shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:3]) + (", ..." if len(sizes) > 3 else "")
            raise DataError(f"{where}: images are not all one square size ({len(sizes)} sizes: {shown}); pass --resolution N (e.g. --resolution 64)")
    if channels is None:
        channels = 1 if all_grey else 3
    return resolution, channels


def _prepare_files(src: FileSource, o: PrepareOptions, dest: Path, workers: int, progress, tmp_name: str = _TMP_NAME):
    skipped = list(src.skipped)
    rels = [r for r, _ in src.items]
    labels = dict(src.items)
    popts = {"min_size": max(o.min_size, dec.MIN_SIDE), "max_pixels": o.max_pixels}  # < 8 px is always tiny
    resolution, channels = o.resolution, o.channels
    if resolution is None or channels is None:
        sizes, grey, ok, bad = set(), True, 0, Counter(s["kind"] for s in skipped)
        for i, (rel, r) in enumerate(_run_chunks("probe", src, rels, popts, workers)):
            if r[0] == "skip":
                bad[r[1]] += 1
            else:
                sizes.add(r[1][:2])
                grey = grey and r[1][2]
                ok += 1
                if o.max_images and ok >= o.max_images:
                    break
            if progress and i % 1000 == 0:
                progress("probe", i, len(rels))
        if not sizes:
            raise DataError(f"{src.root}: no usable images ({sum(bad.values())} skipped: {', '.join(f'{k} {v}' for k, v in sorted(bad.items()))})")
        resolution, channels = _pick_defaults(o, sizes, grey, str(src.root))
    dopts = dict(popts, resolution=resolution, channels=channels, policy=o.policy)
    out = _Output(dest, min(len(rels), o.max_images or len(rels)) or 1, channels, resolution, tmp_name)
    records, first_copy, converted = [], {}, Counter()
    try:
        for i, (rel, r) in enumerate(_run_chunks("decode", src, rels, dopts, workers)):
            if progress and i % 500 == 0:
                progress("decode", i, len(rels))
            if r[0] == "skip":
                skipped.append({"path": rel, "kind": r[1], "reason": r[2]})
                continue
            pixels, sha, _size, conversion = r[1]
            if sha in first_copy and not o.keep_duplicates:
                skipped.append({"path": rel, "kind": "duplicate", "reason": f"duplicate of {first_copy[sha]}"})
                continue
            first_copy.setdefault(sha, rel)
            out.add(pixels, labels[rel])
            records.append({"path": rel, "sha256": sha, "label": int(labels[rel])})
            if conversion:
                converted[conversion] += 1
            if o.max_images and out.count >= o.max_images:
                break
    except BaseException:
        out.close()
        raise
    skipped.sort(key=lambda s: s["path"])
    return out, records, skipped, converted, resolution, channels


def _prepare_arrays(src: ArraySource, o: PrepareOptions, dest: Path, workers: int, progress):
    from ganctl.data.arrays import pixel_sha256

    h, w = src.pixels.shape[1:3]
    resolution, channels = _pick_defaults(o, {(w, h)}, src.pixels.ndim == 3, str(src.root))
    hashes = pixel_sha256(src.pixels)
    limit = len(src.pixels) if o.max_images is None else min(o.max_images, len(src.pixels))
    keep, skipped, first_copy = [], [], {}
    for i, hsh in enumerate(hashes):
        if len(keep) >= limit:
            break
        if hsh in first_copy and not o.keep_duplicates:
            skipped.append({"path": src.ids[i], "kind": "duplicate", "reason": f"duplicate of {first_copy[hsh]}"})
            continue
        first_copy.setdefault(hsh, src.ids[i])
        keep.append(i)
    records = [{"path": src.ids[i], "sha256": hashes[i], "label": int(src.labels[i])} for i in keep]
    out = _Output(dest, len(keep), channels, resolution)
    try:
        blocks = [keep[j : j + _FIT_CHUNK] for j in range(0, len(keep), _FIT_CHUNK)]
        if (h, w) == (resolution, resolution):  # no resampling: a cheap in-process copy beats shipping arrays to workers
            workers = 1
        tasks = ((src.pixels[b], resolution, channels, o.policy) for b in blocks)
        for b, fitted in zip(blocks, _ordered_map(_fit_chunk, tasks, len(blocks), workers)):
            for k, i in enumerate(b):
                out.add(fitted[k], int(src.labels[i]))
            if progress:
                progress("convert", out.count, len(keep))
    except BaseException:
        out.close()
        raise
    return out, records, skipped, Counter(), resolution, channels


VAL_SEED = 0  # the held-out images are a fixed function of the image count, so re-preparing gives the same split


def _write_with_split(dest: Path, images, labels, manifest: dict, fraction: float) -> None:
    """Write DEST (and DEST/val/ with a seeded random `fraction` of the images when fraction > 0)."""
    from ganctl.data.dataset import VAL_DIR

    n = len(images)
    k = int(round(fraction * n))
    if fraction > 0 and not 1 <= k < n:
        raise DataError(f"--val-fraction {fraction}: {n} images leave {'no' if k < 1 else 'no training'} images; "
                        "use a fraction that keeps at least one image on each side")
    if k == 0:
        shutil.rmtree(dest / VAL_DIR, ignore_errors=True)  # a re-prepare without a split must not keep a stale one
        write_dataset(dest, images, labels, manifest)
        return
    held = np.zeros(n, bool)
    held[np.random.RandomState(VAL_SEED).permutation(n)[:k]] = True
    records = manifest.get("images") or []
    split_records = len(records) == n
    train_m = dict(manifest, val_split={"count": k, "fraction": fraction, "seed": VAL_SEED, "path": VAL_DIR})
    val_m = dict(manifest, name=f"{manifest['name']}-val", held_out_of=manifest["name"], skipped=[], skipped_counts={})
    if split_records:
        train_m["images"] = [r for r, h in zip(records, held) if not h]
        val_m["images"] = [r for r, h in zip(records, held) if h]
    # Boolean indexing copies the selected rows into RAM; the split is written first so a failure leaves no new DEST.
    write_dataset(dest / VAL_DIR, np.asarray(images)[held], np.asarray(labels)[held], val_m)
    write_dataset(dest, np.asarray(images)[~held], np.asarray(labels)[~held], train_m)


# ---- entry point ----------------------------------------------------------------------------------------------


def prepare_dataset(source, dest, options: PrepareOptions | None = None, progress=None) -> PrepareReport:
    """Prepare SOURCE into DEST (dataset.safetensors + manifest.json). Raises DataError (exit 2) for user problems.

    `progress(phase, done, total)` is called now and then; this function never prints.
    """
    import ganctl

    o = options or PrepareOptions()
    _check_options(o)
    t0 = time.perf_counter()
    source, dest = Path(source), Path(dest)
    src = detect(source, o.split)  # before touching DEST: a missing SOURCE must not leave an empty DEST behind
    created = _check_dest(dest)
    workers = o.workers or default_workers()
    try:
        if isinstance(src, ArraySource):
            out, records, skipped, converted, resolution, channels = _prepare_arrays(src, o, dest, workers, progress)
        else:
            out, records, skipped, converted, resolution, channels = _prepare_files(src, o, dest, workers, progress)
        try:
            counts = dict(sorted(Counter(s["kind"] for s in skipped).items()))
            if o.strict and skipped:
                first = skipped[0]
                detail = ", ".join(f"{k} {v}" for k, v in counts.items())
                raise DataError(f"--strict: {len(skipped)} input(s) would be skipped ({detail}); first: {first['path']}: {first['reason']}")
            if out.count == 0:
                raise DataError(f"{source}: no usable images ({len(skipped)} skipped: {', '.join(f'{k} {v}' for k, v in counts.items())})")
            manifest = {
                "name": o.name or dest.resolve().name,
                "source": str(source.resolve()),
                "source_kind": src.kind,
                "label_names": src.label_names,
                "images": records,
                "skipped": skipped,
                "skipped_counts": counts,
                "converted_counts": dict(sorted(converted.items())),
                "options": {k: v for k, v in asdict(o).items() if k != "name"} | {"resolution": resolution, "channels": channels, "workers": workers},
                "notes": src.notes,
                "ganctl_version": ganctl.__version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            _write_with_split(dest, out.images[: out.count], out.labels[: out.count], manifest, o.val_fraction)
        finally:
            out.close()
    except BaseException:
        if created:  # leave no half-made DEST behind (strict refusals, errors, Ctrl-C)
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return PrepareReport(dest, src.kind, out.count, resolution, channels, src.label_names, counts, dict(converted), skipped, src.notes,
                         time.perf_counter() - t0)
