"""How much the quality table's judge depends on how it was trained: the dataset classifier (ganctl.metrics.classifier)
trained again under other seeds, learning-rate schedules and thread counts, each scored on the held-out split and,
given runs of image-to-image presets (bench_quality's tasks), on those runs' outputs.

For every (seed, schedule, threads) it prints the held-out accuracy (overall and class-balanced, the table's floor) and,
per run, the class accuracy of the run's outputs on the held-out inputs as a share of that classifier's accuracy on the
very real images ("of real", the table's number for image-to-image rows). The spread of "of real" over seeds is the
judge's own noise: a row closer to its target than that spread meets it at this seed, not with a margin.

    python tests/benchmarks/bench_classifier.py --data emoji8=data/emoji8 --seeds 0 1 2 --schedules cosine constant \
        [--threads 1 2] [--runs RUN ...]

threads 0 = the caller's torch thread count, unpinned (how classifiers trained before 2026-12-08). The shipped setting
is seed 0, cosine, 1 thread (classifier_for's cache). Prints what it measured; nothing here is a target.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_quality import evenly, image_outputs  # noqa: E402
from _image_tasks import PIX2PIX_INPUTS, pix2pix_input_for  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, metavar="NAME=PATH", help="a prepared labelled dataset with a held-out split")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--schedules", nargs="+", choices=("cosine", "constant"), default=["cosine", "constant"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1], help="torch threads while training (0: unpinned)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--runs", nargs="*", default=[], help="pix2pix runs on this set (bench_quality's task for it)")
    ap.add_argument("--num", type=int, default=1000, help="held-out images (evenly spaced), as bench_quality")
    a = ap.parse_args(argv)
    import torch

    from ganctl.data.dataset import PreparedDataset
    from ganctl.metrics.classifier import DatasetClassifier, balanced_accuracy, held_out_split, train_classifier
    from ganctl.sampling.generate import load_generator

    unpinned = torch.get_num_threads()  # the process's own count, before this script pins one for the outputs
    name, _, path = a.data.partition("=")
    ds = PreparedDataset(path)
    train_idx, h_imgs, h_labs, source = held_out_split(ds, path)
    pick = evenly(len(h_labs), a.num)
    hr, labels = h_imgs[pick], h_labs[pick]
    torch.set_num_threads(1)
    outputs = {}
    for run in a.runs:  # the same outputs for every classifier
        gen = load_generator(run, torch.device("cpu"), conditioning=None)
        outputs[run] = image_outputs(gen.G, PIX2PIX_INPUTS[pix2pix_input_for(ds.channels)][1](hr), "AtoB", gen.meta)
    print(f"{name}: classifier trained on {len(train_idx)} images, {a.steps} steps; held-out {source}")
    for i, run in enumerate(a.runs, 1):
        print(f"  run {i}: {run}")
    print(f"{'seed':>4s} {'schedule':>8s} {'threads':>7s} {'CPU-s':>6s} {'held-out':>8s} {'balanced':>8s}"
          + "".join(f"  of real, run {i}" for i in range(1, len(a.runs) + 1)))
    for threads in a.threads:
        torch.set_num_threads(threads or unpinned)
        for schedule in a.schedules:
            for seed in a.seeds:
                t0 = time.process_time()
                net = train_classifier(ds, train_idx, a.steps, seed=seed, lr_schedule=schedule, threads=threads or None)
                cpu = time.process_time() - t0
                clf = DatasetClassifier(net, ds.num_classes, ds.label_names, {})
                acc, per, _ = clf.accuracy(h_imgs, h_labs)
                real = clf.accuracy(hr, labels)[0]
                cells = "".join(f"  {clf.accuracy(outputs[r], labels)[0] / real:16.3f}" for r in a.runs)
                print(f"{seed:4d} {schedule:>8s} {threads or 'caller':>7} {cpu:6.0f} {acc:8.3f} {balanced_accuracy(per):8.3f}{cells}",
                      flush=True)
        torch.set_num_threads(1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
