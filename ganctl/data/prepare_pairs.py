"""`prepare-data --pairs / --aligned / --unpaired`: image-to-image sources -> one prepared paired or unpaired dataset.

Three source layouts (FACTS.md, "Image-to-image translation"):
- `--pairs A_DIR B_DIR`: two folders (or zips) whose files are matched by relative path without the extension
  (`a/1.jpg` pairs with `a/1.png`; a trailing `x4`-style suffix on the A side is also tried, as in DIV2K's LR files).
  Files without a partner are counted and listed as skipped ("unmatched"). The two sides may differ in resolution by an
  integer factor (low- and high-resolution pairs for super-resolution): the target side is `factor` times the input.
- `--aligned DIR`: the reference code's layout, each file is A|B side by side (left half A, as its aligned dataset cuts
  at int(w / 2)).
- `--unpaired A_DIR B_DIR`: two domains of any sizes and counts, both fitted to one size.
`--direction BtoA` makes B the input (facades labels -> photo is BtoA). Each side goes through the same decoding,
dirty-input and duplicate rules as `prepare-data SOURCE` (ganctl.data.decode); a pair is kept only when both of its
files are usable. Non-square sources: the usual --policy choices make N x N, and `keep-aspect` keeps the sources'
aspect ratio at an H x W whose sides are multiples of `--multiple` (the network's factor: 4 for CycleGAN's ResNet,
256 for unet_256) and of the pair factor.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ganctl.data import decode as dec
from ganctl.data import prepare as prep
from ganctl.data.dataset import VAL_DIR, write_tensors
from ganctl.data.sources import FileSource, TooLarge, detect, read_member
from ganctl.errors import DataError

MODES = ("pairs", "aligned", "unpaired")
_DIV2K_SUFFIX = re.compile(r"x\d+$")


@dataclass
class PairOptions(prep.PrepareOptions):
    mode: str = "pairs"  # pairs | aligned | unpaired
    direction: str = "AtoB"
    factor: int | None = None  # target side = factor x input side (paired); None: from the sources' sizes, else 1
    multiple: int = 1  # keep-aspect: both sides of the size are multiples of this


@dataclass
class PairReport:
    dest: Path
    kind: str  # paired | unpaired
    counts: dict[str, int]  # paired: {"pairs": N}; unpaired: {"A": NA, "B": NB}
    sizes: dict[str, tuple[int, int]]  # (H, W) per tensor name
    channels: int
    skipped_counts: dict[str, int]
    converted_counts: dict[str, int]
    skipped: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _check(o: PairOptions) -> None:
    if o.mode not in MODES:
        raise DataError(f"mode {o.mode!r}: choose one of {', '.join(MODES)}")
    if o.policy not in dec.PAIR_POLICIES:
        raise DataError(f"--policy {o.policy}: choose one of {', '.join(dec.PAIR_POLICIES)}")
    prep._check_options(replace(o, policy="center-crop", split=None))
    if o.split is not None:
        raise DataError("--split applies to MNIST idx and CIFAR-10 sources only; --pairs/--aligned/--unpaired read image folders")
    if o.direction not in ("AtoB", "BtoA"):
        raise DataError(f"--direction {o.direction}: choose AtoB or BtoA")
    if o.factor is not None and o.factor < 1:
        raise DataError(f"--factor {o.factor}: must be a whole number >= 1 (the target side is factor x the input side)")
    if o.factor not in (None, 1) and o.mode != "pairs":
        raise DataError("--factor applies to --pairs only (input and target of different resolutions)")
    if o.multiple < 1:
        raise DataError(f"--multiple {o.multiple}: must be >= 1")


def _list(path: Path, flag: str) -> FileSource:
    src = detect(path, None)
    if not isinstance(src, FileSource):
        raise DataError(f"{path}: {flag} needs image folders or zips; this is an {src.kind} array source "
                        f"(prepare it with `ganctl prepare-data {path} DEST` instead)")
    return src


def _stem(rel: str) -> str:
    return rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel


def match_pairs(a_rels: list[str], b_rels: list[str]) -> tuple[list[tuple[str, str]], list[dict]]:
    """Pair files by relative path without extension; returns (pairs sorted by A path, skipped 'unmatched' inputs)."""
    skipped, b_by_stem = [], {}
    for r in sorted(b_rels):
        if _stem(r) in b_by_stem:
            skipped.append({"path": f"B:{r}", "kind": "unmatched", "reason": f"another B file has the same name: {b_by_stem[_stem(r)]}"})
        else:
            b_by_stem[_stem(r)] = r
    pairs, used, a_seen = [], set(), set()
    for r in sorted(a_rels):
        stem = _stem(r)
        key = stem if stem in b_by_stem else _DIV2K_SUFFIX.sub("", stem)
        if key in a_seen or key not in b_by_stem:
            why = "another A file has the same name" if key in a_seen else "no B file with the same relative path"
            skipped.append({"path": f"A:{r}", "kind": "unmatched", "reason": why})
            continue
        a_seen.add(key)
        used.add(key)
        pairs.append((r, b_by_stem[key]))
    for stem, r in b_by_stem.items():
        if stem not in used:
            skipped.append({"path": f"B:{r}", "kind": "unmatched", "reason": "no A file with the same relative path"})
    return pairs, skipped


# ---- sizes ------------------------------------------------------------------------------------------------------


def _probe_side(src: FileSource, rels: list[str], o: PairOptions, workers: int, halves: bool = False):
    """(w, h) counts and greyness of the listed files (halves: of each half of an A|B image)."""
    sizes, grey = Counter(), True
    popts = {"min_size": max(o.min_size, dec.MIN_SIDE), "max_pixels": o.max_pixels}
    for _rel, r in prep._run_chunks("probe", src, rels, popts, workers):
        if r[0] == "ok":
            w, h, g = r[1]
            sizes[(w // 2, h) if halves else (w, h)] += 1
            grey = grey and g
    return sizes, grey


def _keep_aspect_size(w: int, h: int, short: int | None, multiple: int) -> tuple[int, int]:
    """(H, W) with the source's aspect ratio, the short side `short` (default: the source's), both multiples of `multiple`."""
    s = (short or min(w, h)) / min(w, h)
    th, tw = (max(multiple, int(round(h * s)) // multiple * multiple), max(multiple, int(round(w * s)) // multiple * multiple))
    return th, tw


def _size_of(sizes: Counter, o: PairOptions, multiple: int, where: str) -> tuple[int, int]:
    """The (H, W) one side is fitted to."""
    if o.policy == "keep-aspect":
        (w, h), _ = sizes.most_common(1)[0]  # the dataset keeps its most common shape; other shapes are cropped to it
        return _keep_aspect_size(w, h, o.resolution, multiple)
    if o.resolution is not None:
        return o.resolution, o.resolution
    if len(sizes) == 1 and next(iter(sizes))[0] == next(iter(sizes))[1]:
        return next(iter(sizes))[1], next(iter(sizes))[0]
    shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:3]) + (", ..." if len(sizes) > 3 else "")
    raise DataError(f"{where}: images are not all one square size ({len(sizes)} sizes: {shown}); pass --resolution N "
                    "or --policy keep-aspect")


def _no_images(where, sizes) -> None:
    if not sizes:
        raise DataError(f"{where}: no usable images (every file was skipped: empty, corrupt, tiny or not an image)")


# ---- worker side ------------------------------------------------------------------------------------------------


def _work_pairs(task):
    """Run in a worker: decode a chunk of (input file, target file) pairs, or of A|B images when aligned."""
    mode, spec_in, spec_tg, items, o = task
    out = []
    cap = 8 * o["max_pixels"] + (1 << 20)
    for item in items:
        side = "input"
        try:
            if mode == "aligned":
                rel, = item
                data = _read(spec_in, rel, cap)
                pixels, sha, (w, h), conv = dec.load(data, o["min_size"], o["max_pixels"])
                left, right = pixels[:, : w // 2], pixels[:, w // 2 :]  # the reference cuts at int(w / 2)
                a_px, b_px = (left, right) if o["direction"] == "AtoB" else (right, left)
                pin = dec.to_channels(dec.fit(a_px, o["input_size"], o["policy"]), o["channels"])
                ptg = dec.to_channels(dec.fit(b_px, o["target_size"], o["policy"]), o["channels"])
                out.append(("ok", pin, ptg, sha, sha, conv))
                continue
            rel_in, rel_tg = item
            res = []
            for side, spec, rel, size in (("input", spec_in, rel_in, o["input_size"]), ("target", spec_tg, rel_tg, o["target_size"])):
                data = _read(spec, rel, cap)
                res.append(dec.decode(data, size, o["channels"], o["policy"], o["min_size"], o["max_pixels"]))
            conv = res[0][3] or res[1][3]
            out.append(("ok", res[0][0], res[1][0], res[0][1], res[1][1], conv))
        except dec.Skip as s:
            out.append(("skip", s.kind, f"{side} side: {s.reason}" if mode != "aligned" else s.reason))
    return out


def _read(spec, rel, cap) -> bytes:
    try:
        return read_member(*spec, rel, max_bytes=cap)
    except TooLarge as e:
        raise dec.Skip("huge", f"file too large ({e}; see --max-pixels)") from None
    except Exception as e:  # one unreadable input: that pair only
        raise dec.Skip("unreadable", f"cannot read ({type(e).__name__}: {e})") from None


# ---- the two kinds ----------------------------------------------------------------------------------------------


def _spec(src: FileSource):
    return (src.kind, str(src.root), src.prefix)


def _paired(o: PairOptions, a: Path, b: Path | None, dest: Path, workers: int, progress):
    if o.mode == "aligned":
        src_in = src_tg = _list(a, "--aligned")
        items = [(r,) for r, _ in src_in.items]
        skipped = list(src_in.skipped)
        sizes, grey = _probe_side(src_in, [r for r, in items], o, workers, halves=True)
        _no_images(a, sizes)
        sizes_in = sizes_tg = sizes
        where_in = where_tg = str(a)
        names = [r for r, in items]
    else:
        sa, sb = _list(a, "--pairs"), _list(b, "--pairs")
        pairs, skipped = match_pairs([r for r, _ in sa.items], [r for r, _ in sb.items])
        skipped += [dict(s, path=f"A:{s['path']}") for s in sa.skipped] + [dict(s, path=f"B:{s['path']}") for s in sb.skipped]
        if not pairs:
            raise DataError(f"{a} and {b}: no files match by relative path (without extension); "
                            f"e.g. {a}/1.png pairs with {b}/1.jpg ({len(skipped)} unmatched)")
        if o.direction == "BtoA":
            sa, sb, pairs = sb, sa, [(y, x) for x, y in pairs]
        src_in, src_tg = sa, sb
        items = pairs
        sizes_in, g1 = _probe_side(src_in, [p[0] for p in pairs], o, workers)
        sizes_tg, g2 = _probe_side(src_tg, [p[1] for p in pairs], o, workers)
        _no_images(src_in.root, sizes_in)
        _no_images(src_tg.root, sizes_tg)
        grey = g1 and g2
        where_in, where_tg = str(src_in.root), str(src_tg.root)
        names = [f"{x} | {y}" for x, y in pairs]
    factor = o.factor
    if factor is None:
        # Different native sizes by a whole factor (LR/HR folders) keep that factor unless --resolution says otherwise.
        (wi, hi), (wt, ht) = sizes_in.most_common(1)[0][0], sizes_tg.most_common(1)[0][0]
        whole = wt % wi == 0 and ht % hi == 0 and wt // wi == ht // hi
        factor = wt // wi if o.resolution is None and whole else 1
    multiple = o.multiple * factor // math.gcd(o.multiple, factor)
    target_size = _size_of(sizes_tg, o, multiple, where_tg)
    if target_size[0] % factor or target_size[1] % factor:
        raise DataError(f"--factor {factor}: the target size {target_size[1]}x{target_size[0]} is not divisible by it; pick "
                        "a --resolution that is")
    input_size = (target_size[0] // factor, target_size[1] // factor)
    if factor == 1 and o.policy != "keep-aspect" and o.resolution is None:
        input_size = _size_of(sizes_in, o, multiple, where_in)
        if input_size != target_size:
            raise DataError(f"{where_in}: input images are {input_size[1]}x{input_size[0]} but targets are "
                            f"{target_size[1]}x{target_size[0]}; pass --resolution N (and --factor K for K-times-larger targets)")
    channels = o.channels or (1 if grey else 3)
    opts = {"input_size": input_size, "target_size": target_size, "channels": channels, "policy": o.policy,
            "min_size": max(o.min_size, dec.MIN_SIDE), "max_pixels": o.max_pixels, "direction": o.direction}
    cap = min(len(items), o.max_images or len(items))
    out_in = prep._Output(dest, cap, channels, input_size, ".prepare-input.tmp")
    out_tg = prep._Output(dest, cap, channels, target_size, ".prepare-target.tmp")
    records, first_copy, converted = [], {}, Counter()
    try:
        chunk = 16
        tasks = [(o.mode, _spec(src_in), _spec(src_tg), items[i : i + chunk], opts) for i in range(0, len(items), chunk)]
        done = 0
        for t, results in zip(tasks, prep._ordered_map(_work_pairs, tasks, len(tasks), workers)):
            for item, r in zip(t[3], results):
                name = names[done]
                done += 1
                if r[0] == "skip":
                    skipped.append({"path": name, "kind": r[1], "reason": r[2]})
                    continue
                _, pin, ptg, sha_in, sha_tg, conv = r
                key = (sha_in, sha_tg)
                if key in first_copy and not o.keep_duplicates:
                    skipped.append({"path": name, "kind": "duplicate", "reason": f"duplicate of {first_copy[key]}"})
                    continue
                first_copy.setdefault(key, name)
                out_in.add(pin, -1)
                out_tg.add(ptg, -1)
                rec = {"input": item[0], "target": item[-1], "sha256_input": sha_in, "sha256_target": sha_tg}
                records.append(rec if o.mode != "aligned" else {"path": item[0], "sha256": sha_in})
                if conv:
                    converted[conv] += 1
                if o.max_images and out_in.count >= o.max_images:
                    break
            if o.max_images and out_in.count >= o.max_images:
                break
            if progress:
                progress("decode", done, len(items))
        if out_in.count == 0:
            raise DataError(f"{a}: no usable pairs ({len(skipped)} skipped: "
                            f"{', '.join(f'{k} {v}' for k, v in sorted(Counter(s['kind'] for s in skipped).items()))})")
        n = out_in.count
        tensors = {"input": out_in.images[:n], "target": out_tg.images[:n]}
        extra = {"factor": factor, "direction": o.direction}
        result = _write(dest, "paired", tensors, records, o, [str(a)] + ([str(b)] if b else []), skipped,
                        converted, extra)
    finally:
        out_in.close()
        out_tg.close()
    return result


def _unpaired(o: PairOptions, a: Path, b: Path, dest: Path, workers: int, progress):
    sa, sb = _list(a, "--unpaired"), _list(b, "--unpaired")
    if o.direction == "BtoA":
        sa, sb = sb, sa
    sizes_a, ga = _probe_side(sa, [r for r, _ in sa.items], o, workers)
    sizes_b, gb = _probe_side(sb, [r for r, _ in sb.items], o, workers)
    _no_images(sa.root, sizes_a)
    _no_images(sb.root, sizes_b)
    size = _size_of(sizes_a, o, o.multiple, str(sa.root))
    if o.policy != "keep-aspect" and o.resolution is None and _size_of(sizes_b, o, o.multiple, str(sb.root)) != size:
        raise DataError(f"{sb.root}: domain B's images are not the size of domain A's ({size[1]}x{size[0]}); pass --resolution N")
    channels = o.channels or (1 if ga and gb else 3)
    res = size if o.policy == "keep-aspect" else size[0]
    so = replace(o, resolution=res, channels=channels)
    outs, records, skipped, converted = {}, {}, [], Counter()
    try:
        for dom, src in (("A", sa), ("B", sb)):
            out, rec, sk, conv, _, _ = prep._prepare_files(src, so, dest, workers, progress, f".prepare-{dom}.tmp")
            outs[dom] = out
            records[dom] = rec
            skipped += [dict(s, path=f"{dom}:{s['path']}") for s in sk]
            converted.update(conv)
            if out.count == 0:
                raise DataError(f"{src.root}: no usable images in domain {dom} ({len(sk)} skipped)")
        tensors = {d: outs[d].images[: outs[d].count] for d in ("A", "B")}
        return _write(dest, "unpaired", tensors, records, o, [str(a), str(b)], skipped, converted, {"direction": o.direction})
    finally:
        for out in outs.values():
            out.close()


def _write(dest: Path, kind: str, tensors: dict, records, o: PairOptions, sources: list[str], skipped: list[dict],
           converted: Counter, extra: dict) -> PairReport:
    import ganctl

    skipped.sort(key=lambda s: s["path"])
    counts = dict(sorted(Counter(s["kind"] for s in skipped).items()))
    if o.strict and skipped:
        first = skipped[0]
        raise DataError(f"--strict: {len(skipped)} input(s) would be skipped ({', '.join(f'{k} {v}' for k, v in counts.items())}); "
                        f"first: {first['path']}: {first['reason']}")
    some = next(iter(tensors.values()))
    manifest = {
        "kind": kind,
        "name": o.name or dest.resolve().name,
        "source": sources[0] if len(sources) == 1 else sources,
        "source_kind": o.mode,
        "label_names": [],
        "counts": {k: int(v.shape[0]) for k, v in tensors.items()},
        "sizes": {k: list(v.shape[2:]) for k, v in tensors.items()},
        "channels": int(some.shape[1]),
        "resolution": int(tensors["target" if kind == "paired" else "A"].shape[2]),
        "images": records,
        "skipped": skipped,
        "skipped_counts": counts,
        "converted_counts": dict(sorted(converted.items())),
        "options": {k: v for k, v in asdict(o).items() if k != "name"},
        "ganctl_version": ganctl.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    } | extra
    _write_split(dest, kind, tensors, manifest, o.val_fraction)
    return PairReport(dest, kind, manifest["counts"], {k: tuple(v.shape[2:]) for k, v in tensors.items()}, manifest["channels"],
                      counts, dict(converted), skipped)


def _write_split(dest: Path, kind: str, tensors: dict, manifest: dict, fraction: float) -> None:
    """Hold out `fraction` of the pairs (paired) or of each domain (unpaired) in DEST/val/, seeded as prepare-data's split."""
    groups = [["input", "target"]] if kind == "paired" else [["A"], ["B"]]
    if fraction <= 0:
        shutil.rmtree(dest / VAL_DIR, ignore_errors=True)
        write_tensors(dest, tensors, np.zeros(len(tensors["input"]) if kind == "paired" else 0, np.int64) - 1, manifest)
        return
    train_t, val_t = {}, {}
    recs = manifest["images"]
    train_r, val_r = ([], []) if kind == "paired" else ({}, {})
    for names in groups:
        n = len(tensors[names[0]])
        k = int(round(fraction * n))
        if not 1 <= k < n:
            raise DataError(f"--val-fraction {fraction}: {n} {'pairs' if kind == 'paired' else 'images in domain ' + names[0]} "
                            "leave no images on one side; use a fraction that keeps at least one on each")
        held = np.zeros(n, bool)
        held[np.random.RandomState(prep.VAL_SEED).permutation(n)[:k]] = True
        for name in names:
            train_t[name], val_t[name] = np.asarray(tensors[name])[~held], np.asarray(tensors[name])[held]
        # the per-image records follow their rows, so row i of each file is described by its manifest's record i
        mine = recs if kind == "paired" else recs[names[0]]
        kept, out = [r for r, h in zip(mine, held) if not h], [r for r, h in zip(mine, held) if h]
        if kind == "paired":
            train_r, val_r = kept, out
        else:
            train_r[names[0]], val_r[names[0]] = kept, out
    def labels(t):
        return np.zeros(len(t["input"]) if kind == "paired" else 0, np.int64) - 1

    def described(t, **more):
        return dict(manifest, counts={k: int(v.shape[0]) for k, v in t.items()}, **more)

    write_tensors(dest / VAL_DIR, val_t, labels(val_t), described(val_t, name=f"{manifest['name']}-val", held_out_of=manifest["name"],
                                                                      images=val_r, skipped=[], skipped_counts={}))
    write_tensors(dest, train_t, labels(train_t), described(train_t, images=train_r,
                                                            val_split={"fraction": fraction, "seed": prep.VAL_SEED, "path": VAL_DIR}))


# ---- entry point ------------------------------------------------------------------------------------------------


def prepare_pairs(a, b, dest, options: PairOptions | None = None, progress=None) -> PairReport:
    """Prepare an image-to-image dataset in DEST. `a`, `b`: the two folders (b is None for --aligned). Never prints."""
    o = options or PairOptions()
    _check(o)
    t0 = time.perf_counter()
    a, dest = Path(a), Path(dest)
    b = Path(b) if b is not None else None
    if (b is None) != (o.mode == "aligned"):
        raise DataError(f"--{o.mode}: takes {'one folder' if o.mode == 'aligned' else 'two folders (A_DIR B_DIR)'}")
    for p in (a, b):
        if p is not None and not p.exists():
            raise DataError(f"{p}: no such file or directory; --{o.mode} needs existing image folders")
    created = prep._check_dest(dest)
    workers = o.workers or prep.default_workers()
    try:
        if o.mode == "unpaired":
            r = _unpaired(o, a, b, dest, workers, progress)
        else:
            r = _paired(o, a, b, dest, workers, progress)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    r.seconds = time.perf_counter() - t0
    return r
