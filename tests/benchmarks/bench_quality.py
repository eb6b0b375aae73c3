#!/usr/bin/env python3
"""Quality per CPU-minute of the small presets on several real datasets: a table, not a timed test.

For each dataset (--data NAME=PATH, prepared ganctl datasets; examples/make_datasets.py builds glyphs36 and emoji8)
and each preset (--presets), train through the real CLI (`ganctl train --kimg K`, one thread) and report:
  cpu_min    CPU-minutes of the training process (user + sys of the child, getrusage)
  fd         Frechet distance of --num generated images to --num real training images, in the penultimate layer of
             the dataset's own classifier (ganctl.metrics.classifier: weight-free, trained on the training split)
  class_acc  share of generated images (seeds 0..num-1, class seed % classes) the classifier calls their class
next to the floor (real held-out images: their fd to the training images and the classifier's held-out accuracy)
and the ceiling (the preset's untrained generator: same architecture, freshly initialised with train.seed).

Each run trains for --kimg, or without it for the preset's own train.kimg. Rows go to --json (default
bench-quality.json): a row replaces an earlier one with the same dataset, preset, kimg and --set overrides, and the
printed tables (plain and --markdown) hold every row in the file, so separate invocations build one table. --extend
continues an earlier shorter run of the same row (exact resume) instead of training from scratch.

  python examples/make_datasets.py data/        # glyphs36, emoji8
  python tests/benchmarks/bench_quality.py --data glyphs36=data/glyphs36 --presets cgan-fashion-mnist biggan-tiny
  python tests/benchmarks/bench_quality.py --table-only --markdown     # the table of every row measured so far
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def stats(feats) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(feats, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def fd(a, b) -> float:
    from ganctl.metrics.distance import frechet_distance

    return frechet_distance(*a, *b)


def evenly(n_have: int, n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_have - 1, min(n, n_have)).round().astype(np.int64))


def generated(gen, clf, num: int) -> tuple[tuple, float | None]:
    import torch

    seeds = list(range(num))
    imgs = torch.cat(list(gen.iter_images(seeds))).numpy()
    acc = clf.accuracy(imgs, np.array(seeds) % gen.num_classes)[0] if gen.num_classes else None
    return stats(clf.features(imgs)), acc


def untrained(run: Path, device):
    """The run's generator as it was before its first step: its config's networks built under train.seed."""
    import torch

    from ganctl.config.load import validate_resolved
    from ganctl.engine import checkpoint as ckpt
    from ganctl.models import build_networks
    from ganctl.sampling.generate import LoadedGenerator

    path = ckpt.latest_checkpoint(run / "checkpoints")
    _, meta = ckpt.load_checkpoint(path)
    cfg = validate_resolved(meta["config"])
    ds = meta["dataset"]
    torch.manual_seed(cfg["train"]["seed"])
    G, _ = build_networks(cfg, ds["resolution"], ds["channels"], len(ds["label_names"]) if cfg["model"]["conditional"] else 0)
    return LoadedGenerator(G.to(device).eval().requires_grad_(False), meta, device, path)


def preset_kimg(preset: str, overrides: list[str]) -> float:
    from ganctl.config.load import resolve_config

    return float(resolve_config(preset, overrides=list(overrides))["train"]["kimg"])


def row_key(r: dict) -> tuple:
    return r["dataset"], r["preset"], r["kimg"], " ".join(r.get("set") or []), r.get("num")


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """old rows, each replaced in place by a new row with its key; new rows with unseen keys appended."""
    fresh = {row_key(r): r for r in new}
    out = [fresh.pop(row_key(r), r) for r in old]
    return out + [r for r in new if row_key(r) in fresh]


def floor_of(r: dict, rows: list[dict]) -> dict | None:
    """The real-images row measured on r's dataset with r's image count."""
    return next((x for x in rows if x["dataset"] == r["dataset"] and x["preset"] == "real (floor)"
                 and x.get("num") == r.get("num")), None)


def derived(r: dict, rows: list[dict]) -> tuple[float | None, float | None]:
    """(FD / untrained FD, class_acc / the real images' accuracy on the same dataset)."""
    real_acc = (floor_of(r, rows) or {}).get("class_acc")
    ratio = r["fd"] / r["fd_untrained"] if r.get("fd_untrained") else None
    of_real = r["class_acc"] / real_acc if r.get("class_acc") is not None and real_acc else None
    return ratio, of_real


def label(r: dict) -> str:
    return r["preset"] + ("".join(f" {s}" for s in r.get("set") or []))


def print_table(rows: list[dict]) -> None:
    f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    print(f"{'dataset':10s} {'preset':20s} {'kimg':>5s} {'CPU-min':>7s} {'FD':>8s} {'FD untrained':>12s} {'ratio':>6s} "
          f"{'class_acc':>9s} {'untrained':>9s} {'of real':>7s}")
    for r in rows:
        ratio, of_real = derived(r, rows)
        print(f"{r['dataset']:10s} {label(r):20s} {f(r['kimg'], 'g'):>5s} {f(r['cpu_min'], '.2f'):>7s} {r['fd']:8.3f} "
              f"{f(r.get('fd_untrained'), '.3f'):>12s} {f(ratio, '.3f'):>6s} {f(r['class_acc'], '.3f'):>9s} "
              f"{f(r.get('class_acc_untrained'), '.3f'):>9s} {f(of_real, '.2f'):>7s}")


def print_markdown(rows: list[dict]) -> None:
    """The README's table: the targets (FD ratio < 0.25; class_acc >= 0.8 of real, conditional presets) marked met or not."""
    f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    print("| dataset | preset | kimg | CPU-min | FD (real floor / untrained) | ratio | class_acc (untrained) | of real | targets |")
    print("|---|---|---|---|---|---|---|---|---|")
    order = list(dict.fromkeys(r["dataset"] for r in rows))  # datasets as first measured; then preset, length
    for r in sorted(rows, key=lambda r: (order.index(r["dataset"]), label(r), r["kimg"] or 0)):
        if r["preset"] == "real (floor)":
            continue
        ratio, of_real = derived(r, rows)
        met = ratio is not None and ratio < 0.25 and (of_real is None or of_real >= 0.8) and (r["cpu_min"] or 0) <= 10
        acc = "-" if r["class_acc"] is None else f"{r['class_acc']:.3f} ({f(r.get('class_acc_untrained'), '.3f')})"
        print(f"| {r['dataset']} | {label(r)} | {r['kimg']:g} | {f(r['cpu_min'], '.2f')} | {r['fd']:.1f} "
              f"({f((floor_of(r, rows) or {}).get('fd'), '.2f')} / {f(r.get('fd_untrained'), '.1f')}) | {f(ratio, '.2f')} | {acc} | "
              f"{f(of_real, '.2f')} | {'met' if met else 'not met'} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", default=[], metavar="NAME=PATH")
    ap.add_argument("--presets", nargs="+", default=["cgan-fashion-mnist", "biggan-tiny"])
    ap.add_argument("--kimg", type=float, help="training length per run (default: each preset's own train.kimg)")
    ap.add_argument("--num", type=int, default=1000, help="generated and real images per measurement")
    ap.add_argument("--classifier-steps", type=int, default=1000)
    ap.add_argument("--outdir", type=Path, default=Path("bench-quality-runs"))
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every run")
    ap.add_argument("--json", type=Path, default=Path("bench-quality.json"),
                    help="rows file: read, updated with this invocation's rows (same key: replaced), rewritten")
    ap.add_argument("--markdown", action="store_true", help="also print the table as the README's markdown")
    ap.add_argument("--extend", action="store_true",
                    help="continue (ganctl resume) the longest shorter run of a row in --json instead of training anew; "
                         "its CPU-minutes are added")
    ap.add_argument("--table-only", action="store_true", help="train nothing: print the tables of the rows in --json")
    a = ap.parse_args(argv)
    rows = [] if a.table_only else measure(a)
    # Read the file only now: another invocation may have added rows while this one trained.
    allrows = merge_rows(json.loads(a.json.read_text()) if a.json.is_file() else [], rows)
    if rows:
        tmp = a.json.with_name(a.json.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(allrows, indent=1) + "\n")
        os.replace(tmp, a.json)
    print_table(allrows)
    if a.markdown:
        print()
        print_markdown(allrows)
    return 0


def shorter_run(a, dataset: str, preset: str, kimg: float) -> dict | None:
    """--extend: the longest earlier row of this dataset, preset, --set and --num below kimg whose run is still on disk."""
    rows = json.loads(a.json.read_text()) if a.json.is_file() else []
    same = [r for r in rows if r["dataset"] == dataset and r["preset"] == preset and (r.get("set") or []) == list(a.set)
            and r.get("num") == a.num and r["kimg"] is not None and r["kimg"] < kimg and Path(r.get("run", "")).is_dir()]
    return max(same, key=lambda r: r["kimg"], default=None)


def measure(a) -> list[dict]:
    if not a.data:
        raise SystemExit("--data NAME=PATH is needed unless --table-only")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from ganctl.data.dataset import PreparedDataset, open_validation
    from ganctl.metrics.classifier import classifier_for
    from ganctl.sampling.generate import load_generator

    torch.set_num_threads(1)
    dev = torch.device("cpu")
    rows = []
    for item in a.data:
        name, _, path = item.partition("=")
        ds, val = PreparedDataset(path), open_validation(path)
        t0 = time.process_time()
        clf = classifier_for(path, steps=a.classifier_steps)
        print(f"[{name}] classifier: held-out accuracy {clf.real_accuracy:.3f} on {clf.meta['held_out']['source']} "
              f"({time.process_time() - t0:.0f} CPU-s; {clf.meta['path']})", file=sys.stderr)
        real = stats(clf.features(ds.get_batch(evenly(len(ds), a.num))[0]))
        hold = val if val is not None else ds
        floor = fd(stats(clf.features(hold.get_batch(evenly(len(hold), a.num))[0])), real)
        rows.append({"dataset": name, "preset": "real (floor)", "kimg": None, "cpu_min": None, "fd": floor,
                     "class_acc": clf.real_accuracy, "num": a.num})
        for preset in a.presets:
            kimg = a.kimg if a.kimg is not None else preset_kimg(preset, a.set)
            cpu0, w0 = child_cpu(), time.time()
            prev = shorter_run(a, name, preset, kimg) if a.extend else None
            if prev:  # exact resume: the same run as a fresh one of this length, for the CPU not yet spent
                cmd = [sys.executable, "-m", "ganctl", "resume", prev["run"], "--kimg", str(kimg), "train.threads=1"]
            else:
                cmd = [sys.executable, "-m", "ganctl", "train", "--preset", preset, "--data", path, "--kimg", str(kimg),
                       "--outdir", str(a.outdir / name), "train.threads=1", f"train.tick_kimg={max(kimg / 4, 0.25)}", *a.set]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"[{name}] {preset}: training failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            cpu_min, wall = (child_cpu() - cpu0) / 60 + (prev["cpu_min"] if prev else 0), time.time() - w0
            run = Path(prev["run"]) if prev else Path(p.stdout.strip().splitlines()[-1])
            gen = load_generator(str(run), dev)
            (g_stats, g_acc), (u_stats, u_acc) = generated(gen, clf, a.num), generated(untrained(run, dev), clf, a.num)
            rows.append({"dataset": name, "preset": preset, "set": list(a.set), "kimg": kimg, "cpu_min": cpu_min,
                         "wall_s": wall, "fd": fd(g_stats, real), "class_acc": g_acc, "fd_untrained": fd(u_stats, real),
                         "class_acc_untrained": u_acc, "num": a.num, "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                         "loadavg": os.getloadavg()[0], "run": str(run)})
            print(f"[{name}] {preset}: {json.dumps(rows[-1])}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    sys.exit(main())
