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

  python examples/make_datasets.py data/        # glyphs36, emoji8
  python tests/benchmarks/bench_quality.py --data glyphs36=data/glyphs36 --presets cgan-fashion-mnist biggan-tiny --kimg 4
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True, metavar="NAME=PATH")
    ap.add_argument("--presets", nargs="+", default=["cgan-fashion-mnist", "biggan-tiny"])
    ap.add_argument("--kimg", type=float, default=4.0, help="training length per run (the presets' own kimg is longer)")
    ap.add_argument("--num", type=int, default=1000, help="generated and real images per measurement")
    ap.add_argument("--classifier-steps", type=int, default=1000)
    ap.add_argument("--outdir", type=Path, default=Path("bench-quality-runs"))
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every run")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    a = ap.parse_args(argv)
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
        rows.append({"dataset": name, "preset": "real (floor)", "kimg": None, "cpu_min": None, "fd": floor, "class_acc": clf.real_accuracy})
        for preset in a.presets:
            cpu0, w0 = child_cpu(), time.time()
            cmd = [sys.executable, "-m", "ganctl", "train", "--preset", preset, "--data", path, "--kimg", str(a.kimg),
                   "--outdir", str(a.outdir / name), "train.threads=1", f"train.tick_kimg={max(a.kimg / 4, 0.25)}", *a.set]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"[{name}] {preset}: training failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            cpu_min, wall = (child_cpu() - cpu0) / 60, time.time() - w0
            run = Path(p.stdout.strip().splitlines()[-1])
            gen = load_generator(str(run), dev)
            (g_stats, g_acc), (u_stats, u_acc) = generated(gen, clf, a.num), generated(untrained(run, dev), clf, a.num)
            rows.append({"dataset": name, "preset": preset, "kimg": a.kimg, "cpu_min": cpu_min, "wall_s": wall,
                         "fd": fd(g_stats, real), "class_acc": g_acc, "fd_untrained": fd(u_stats, real),
                         "class_acc_untrained": u_acc, "run": str(run)})
            print(f"[{name}] {preset}: {json.dumps(rows[-1])}", file=sys.stderr)
    f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    print(f"{'dataset':10s} {'preset':20s} {'kimg':>5s} {'CPU-min':>7s} {'FD':>8s} {'FD untrained':>12s} {'ratio':>6s} "
          f"{'class_acc':>9s} {'untrained':>9s} {'of real':>7s}")
    for r in rows:
        real_acc = next(x["class_acc"] for x in rows if x["dataset"] == r["dataset"] and x["preset"] == "real (floor)")
        ratio = r["fd"] / r["fd_untrained"] if r.get("fd_untrained") else None
        of_real = r["class_acc"] / real_acc if r["class_acc"] is not None and real_acc else None
        print(f"{r['dataset']:10s} {r['preset']:20s} {f(r['kimg'], 'g'):>5s} {f(r['cpu_min'], '.2f'):>7s} {r['fd']:8.3f} "
              f"{f(r.get('fd_untrained'), '.3f'):>12s} {f(ratio, '.3f'):>6s} {f(r['class_acc'], '.3f'):>9s} "
              f"{f(r.get('class_acc_untrained'), '.3f'):>9s} {f(of_real, '.2f'):>7s}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
