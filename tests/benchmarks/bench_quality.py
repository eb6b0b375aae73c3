#!/usr/bin/env python3
"""Quality per CPU-minute of the small presets on several real datasets: a table, not a timed test.

For each dataset (--data NAME=PATH, prepared ganctl datasets; examples/make_datasets.py builds glyphs36 and emoji8)
and each preset (--presets), train through the real CLI (`ganctl train --kimg K`, one thread) and report:
  cpu_min    CPU-minutes of the training process (user + sys of the child, getrusage)
  fd         Frechet distance of --num generated images to --num real training images, in the penultimate layer of
             the dataset's own classifier (ganctl.metrics.classifier: weight-free, trained on the training split)
  class_acc  share of generated images (seeds 0..num-1, class seed % classes) the classifier calls their class
  spread     how varied the samples are, within each class for a conditional preset (`spread`; not a target)
next to the floor (real held-out images: their fd to the training images and the classifier's class-balanced held-out
accuracy, the mean per-class accuracy, since the generator is asked for every class equally often)
and the ceiling (the preset's untrained generator: same architecture, freshly initialised with train.seed).

Image-to-image presets (super-resolution, pix2pix, CycleGAN) get rows that mean the same: their generated images are
the generator's OUTPUTS on held-out inputs made from the dataset's val split (the same --num images the floor uses),
the ceiling is the untrained generator's outputs on the same inputs, and class_acc asks the classifier for the SOURCE
image's class (an upscaled "A" must still be an "A"; its floor: the classifier's accuracy on those very real images).
Each family's task, built from the dataset itself (tests/_image_tasks.py, prepared with `ganctl prepare-data`):
  sr        the family degrades the image set on the fly (x scale, MATLAB bicubic); held-out inputs are the val
            images downscaled the same way; baseline: bicubic upscaling of those inputs
  pix2pix   Sobel gradient magnitude -> image on a grey set, luminance -> colour image on a colour one (--pix2pix-input
            sobel|gray overrides), trained on up to PAIRS training images; held-out inputs are made from the val
            images the same way; baseline: the input itself
  cyclegan  two classes as unpaired domains (--domains, or DOMAINS' pair the dataset has), one row per direction: the
            real images are the target class's (training images; floor: its val images, its held-out accuracy), the
            label is the target class; inputs are the source class's val images; baseline: the untranslated input
The baseline (a trivial method on the same inputs) is a row's `baseline`, `fd_baseline` and `class_acc_baseline`.
pix2pix and CycleGAN decay their learning rate to 0 at model.lr_constant_kimg + lr_decay_kimg: a --kimg beyond the
preset's (or --extend) trains nothing more unless --set raises those too.

Each run trains for --kimg, or without it for the preset's own train.kimg. Rows go to --json (default
bench-quality.json): a row replaces an earlier one with the same dataset, preset, task, kimg, --set overrides and
--init, and the printed tables (plain and --markdown) hold every row in the file, so separate invocations build one
table. --extend continues an earlier shorter run of the same row (exact resume) instead of training from scratch.
--init RUN starts from another run's weights (sr-tiny-gan from an sr-tiny run); that run's row's CPU-minutes are
added, so the row counts both stages. A row whose preset has changed since it was measured carries `superseded`
(what changed): kept in the JSON (preset descriptions cite such rows), left out of --presets-as-is tables.

  python examples/make_datasets.py data/        # glyphs36, emoji8
  python tests/benchmarks/bench_quality.py --data glyphs36=data/glyphs36 --presets cgan-fashion-mnist biggan-tiny
  python tests/benchmarks/bench_quality.py --data glyphs36=data/glyphs36 --presets sr-tiny pix2pix-tiny cyclegan-tiny
  python tests/benchmarks/bench_quality.py --table-only --markdown     # the table of every row measured so far
  python tests/benchmarks/bench_quality.py --rescore --data glyphs36=data/glyphs36   # spread for older rows
  python tests/benchmarks/bench_quality.py --reclassify --data glyphs36=data/glyphs36   # rows again, new classifier
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the image-task builders
from _image_tasks import PIX2PIX_INPUTS, pix2pix_input_for, prepare_domains, prepare_input_pairs  # noqa: E402

PAIRS = 8192  # pix2pix training pairs at most (evenly spaced over the training split): bounds the PNG round trip
# CycleGAN's default domains, the first pair a dataset's label names hold: Fashion-MNIST's sneaker <-> ankle boot (the
# slow test's pair), glyphs36's E <-> F (one stroke apart, as the shoes differ by a shaft, and both near the
# classifier's best held-out accuracy; O <-> Q would also measure the classifier's O/0 confusion), emoji8's faces <->
# animals (round faces both, most animal emoji being animal faces; the two largest classes after flags and hands).
DOMAINS = (("Sneaker", "Ankle boot"), ("E", "F"), ("faces", "animals"))


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


@dataclass
class Task:
    """What one row measures. The default is the noise-to-image one: seeds 0..num-1 against the training images."""

    name: str | None = None            # shown after the preset (image-to-image rows)
    inputs: np.ndarray | None = None   # uint8 (N, C, H, W) held-out inputs of an image-to-image generator
    labels: np.ndarray | None = None   # the class each output should be called
    real: tuple | None = None          # feature stats of the real images the outputs should look like (None: training set)
    direction: str = "AtoB"
    fd_real: float | None = None       # the floor and the real accuracy, where they are not the dataset's (one class)
    acc_real: float | None = None
    baseline: tuple[str, np.ndarray] | None = None  # (what, uint8 images): a trivial method's outputs on the inputs


def image_outputs(G, inputs: np.ndarray, direction: str = "AtoB", meta: dict | None = None, chunk: int = 100) -> np.ndarray:
    """uint8 outputs of an image-to-image generator in the test mode `ganctl translate` and `upscale` use by default:
    dropout on, batch norm by `--bn auto` (the running statistics for a network trained at batch > 1, per its checkpoint
    metadata `meta`; else each image's own, pix2pix's paper mode, one image per pass), seeded, so a row repeats exactly."""
    import torch

    from ganctl.sampling.conditioned import apply_generator
    from ganctl.sampling.latents import to_uint8
    from ganctl.sampling.translate import has_batch_norm, resolve_test_bn, set_test_modes

    bn = resolve_test_bn("auto", meta)
    set_test_modes(G, dropout="on", bn=bn)
    step = 1 if bn == "batch" and has_batch_norm(G) else chunk  # each image's own statistics: one per pass
    dev = next(G.parameters()).device
    torch.manual_seed(0)
    out = []
    with torch.no_grad():
        for i in range(0, len(inputs), step):
            x = torch.from_numpy(np.ascontiguousarray(inputs[i:i + step])).to(dev).float().div(127.5).sub(1)
            out.append(to_uint8(apply_generator(G, x, direction)).cpu())
    return torch.cat(out).numpy()


def training_reference(ds, clf, num: int) -> tuple:
    """(features, labels, feature stats) of num training images, evenly spaced: what FD and spread compare with."""
    imgs, labels = ds.get_batch(evenly(len(ds), num))
    feats = clf.features(imgs)
    return feats, labels, stats(feats)


def generated(gen, clf, num: int, task: Task | None = None, real: tuple | None = None) -> tuple[tuple, float | None, dict]:
    """(feature stats, class accuracy or None, spread fields) of a generator's images: num seeds, or its outputs on
    task's inputs. `real` (features, labels, label names) of the training images: the seeds' spread against them (see `spread`)."""
    import torch

    seeded = task is None or task.inputs is None  # noise-to-image; else an image-to-image task's outputs
    if seeded:
        seeds = list(range(num))
        imgs = torch.cat(list(gen.iter_images(seeds))).numpy()
        labels = np.array(seeds) % gen.num_classes if gen.num_classes else None
    else:
        imgs, labels = image_outputs(gen.G, task.inputs, task.direction, gen.meta), task.labels
    acc = clf.accuracy(imgs, labels)[0] if labels is not None else None
    feats = clf.features(imgs)
    return stats(feats), acc, (spread(feats, labels, *real) if real is not None and seeded else {})


def spread(feats, labels, real_feats, real_labels, label_names=()) -> dict:
    """How varied G's samples are: `ganctl diagnose`'s mode-collapse measure (mean pairwise distance of the samples
    over that of as many real images, and their near-duplicate share) in the classifier's feature space, within each
    class for a conditional generator (the worst class is the row's number), over all samples otherwise. Class
    accuracy and FD miss a generator that draws one image per class: this does not. Image-to-image rows have none (an
    output is fixed by its input)."""
    from ganctl.diagnose.diversity import collapse_findings

    f = collapse_findings(feats, real_feats, gen_labels=labels, real_labels=None if labels is None else real_labels,
                          label_names=label_names, feature_name="classifier penultimate")[0]
    if "ratio" not in f.evidence:
        return {}
    return {"spread": f.evidence["ratio"], "spread_group": f.evidence["worst_group"],
            "collapse": "ok" if f.severity == "info" else f.severity}


def tasks_for(family, cfg: dict, name: str, path: str, ds, hold, clf, num: int, workdir: Path,
              domains: tuple[str, str] | None = None, pix2pix_input: str | None = None) -> tuple[str, list[Task]]:
    """(the dataset to train on, the rows' tasks) of a preset's family on the prepared dataset `path` (opened: ds, its
    held-out split hold, its classifier clf); task datasets are prepared under workdir/NAME/data/ and kept there."""
    import torch

    from ganctl.data.imresize import imresize_uint8

    if not family.image_conditioned:
        return path, [Task()]
    hr, labels = hold.get_batch(evenly(len(hold), num))
    acc_hr = clf.accuracy(hr, labels)[0]  # the floor of an image-to-image row: the classifier on these very targets
    if family.extra.get("command") == "upscale":  # super-resolution: the family degrades the image set itself
        s = int(cfg["model"]["scale"])
        lr = imresize_uint8(torch.from_numpy(hr), 1 / s).numpy()
        return path, [Task(f"x{s} bicubic-downscaled", lr, labels, acc_real=acc_hr,
                           baseline=("bicubic", imresize_uint8(torch.from_numpy(lr), s).numpy()))]
    data = Path(workdir) / name / "data"
    if family.data == "paired":
        kind = pix2pix_input or pix2pix_input_for(ds.channels)
        train = prepare_input_pairs(ds.get_batch(evenly(len(ds), PAIRS))[0], data / f"{kind}-pairs", kind)
        what, make = PIX2PIX_INPUTS[kind]
        x = make(hr)
        return str(train), [Task(f"{what} -> image", x, labels, acc_real=acc_hr, baseline=("input", x))]
    names = ds.label_names
    pair = domains or next((p for p in DOMAINS if set(p) <= set(names)), None)
    if pair is None or not set(pair) <= set(names):
        raise SystemExit(f"[{name}] {family.name}: pass --domains CLASS_A CLASS_B (two of: {', '.join(names)})")
    ia, ib = names.index(pair[0]), names.index(pair[1])
    imgs, labs = ds.get_batch(np.flatnonzero((ds.labels == ia) | (ds.labels == ib)))
    train = prepare_domains(imgs, labs, ia, ib, data / f"domains-{ia}-{ib}")
    val_imgs, val_labs = hold.get_batch(np.arange(len(hold)))
    tasks = []
    for src, dst, direction in ((ia, ib, "AtoB"), (ib, ia, "BtoA")):
        target = stats(clf.features(imgs[labs == dst][evenly(int((labs == dst).sum()), num)]))
        x = val_imgs[val_labs == src]
        tasks.append(Task(f"{names[src]} -> {names[dst]}", x, np.full(len(x), dst), target, direction,
                          fd(stats(clf.features(val_imgs[val_labs == dst])), target), clf.real_per_class[dst],
                          ("input", x)))
    return str(train), tasks


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


def row_key(r: dict) -> tuple:
    """What makes two rows the same measurement. A superseded row ran a preset's earlier settings: it never replaces,
    and is never replaced by, a row of the settings the preset has now, even where the rest of the key agrees."""
    return (r["dataset"], r["preset"], r.get("task"), r["kimg"], " ".join(r.get("set") or []), r.get("init"), r.get("num"),
            r.get("classifier"), bool(r.get("superseded")))


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """old rows, each replaced in place by a new row with its key; new rows with unseen keys appended (of new rows
    that share a key, the last)."""
    fresh = {row_key(r): r for r in new}
    out = [fresh.pop(row_key(r), r) for r in old]
    return out + list(fresh.values())


def floor_of(r: dict, rows: list[dict]) -> dict | None:
    """The real-images row measured on r's dataset with r's image count and r's classifier: a dataset rebuilt, or its
    classifier retrained, on another machine gives other features and accuracies (rows without `classifier` predate
    the field and share the floor row without one)."""
    return next((x for x in rows if x["dataset"] == r["dataset"] and x["preset"] == "real (floor)"
                 and x.get("num") == r.get("num") and x.get("classifier") == r.get("classifier")), None)


def floor_fd(r: dict, rows: list[dict]) -> float | None:
    """The real images' FD for r: its own (one class's images) or the dataset's floor row's."""
    return r["fd_real"] if r.get("fd_real") is not None else (floor_of(r, rows) or {}).get("fd")


def derived(r: dict, rows: list[dict]) -> tuple[float | None, float | None]:
    """(FD / untrained FD, class_acc / the real images' accuracy: of r's target class, else of the dataset)."""
    real_acc = r["class_acc_real"] if r.get("class_acc_real") is not None else (floor_of(r, rows) or {}).get("class_acc")
    ratio = r["fd"] / r["fd_untrained"] if r.get("fd_untrained") else None
    of_real = r["class_acc"] / real_acc if r.get("class_acc") is not None and real_acc else None
    return ratio, of_real


def label(r: dict) -> str:
    return (r["preset"] + (f" [{r['task']}]" if r.get("task") else "") + ("".join(f" {s}" for s in r.get("set") or []))
            + (f" --init {Path(r['init']).name}" if r.get("init") else ""))


def baseline(r: dict, key: str, fmt: str) -> str:
    """'; bicubic 12.3': the row's trivial-method number, for the table cells."""
    return f"; {r['baseline']} {format(r[key], fmt)}" if r.get("baseline") and r.get(key) is not None else ""


def spread_cell(r: dict) -> str:
    """'0.16 severe, class 6 (Shirt)': the spread, and where diagnose would flag it, its verdict and the worst class."""
    if r.get("spread") is None:
        return "-"
    flag = "" if r["collapse"] == "ok" else f" {r['collapse']}"
    where = f", {r['spread_group']}" if flag and r["spread_group"].startswith("class") else ""
    return f"{r['spread']:.2f}{flag}{where}"


def print_table(rows: list[dict]) -> None:
    f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    print(f"{'dataset':10s} {'preset':20s} {'kimg':>5s} {'CPU-min':>7s} {'FD':>8s} {'FD untrained':>12s} {'ratio':>6s} "
          f"{'class_acc':>9s} {'untrained':>9s} {'of real':>7s} {'spread':>6s}  baseline (FD, class_acc)")
    for r in rows:
        ratio, of_real = derived(r, rows)
        print(f"{r['dataset']:10s} {label(r):20s} {f(r['kimg'], 'g'):>5s} {f(r['cpu_min'], '.2f'):>7s} {r['fd']:8.3f} "
              f"{f(r.get('fd_untrained'), '.3f'):>12s} {f(ratio, '.3f'):>6s} {f(r['class_acc'], '.3f'):>9s} "
              f"{f(r.get('class_acc_untrained'), '.3f'):>9s} {f(of_real, '.2f'):>7s} {f(r.get('spread'), '.2f'):>6s}"
              + (f"  {r['baseline']} {r['fd_baseline']:.3f}, {f(r.get('class_acc_baseline'), '.3f')}" if r.get("baseline") else ""))


def print_markdown(rows: list[dict]) -> None:
    """The README's table: the targets (FD ratio < 0.25; class_acc >= 0.8 of real, conditional presets) marked met or not,
    and the spread (not a target) with `ganctl diagnose`'s verdict where it is not ok."""
    f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
    print("| dataset | preset | kimg | CPU-min | FD (real floor / untrained; baseline) | ratio | class_acc (untrained; baseline) "
          "| of real | spread (worst class) | targets | measured (UTC) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    order = list(dict.fromkeys(r["dataset"] for r in rows))  # datasets as first measured; then preset, length
    for r in sorted(rows, key=lambda r: (order.index(r["dataset"]), label(r), r["kimg"] or 0)):
        if r["preset"] == "real (floor)":
            continue
        ratio, of_real = derived(r, rows)
        met = ratio is not None and ratio < 0.25 and (of_real is None or of_real >= 0.8) and (r["cpu_min"] or 0) <= 10
        acc = "-" if r["class_acc"] is None else \
            f"{r['class_acc']:.3f} ({f(r.get('class_acc_untrained'), '.3f')}{baseline(r, 'class_acc_baseline', '.3f')})"
        print(f"| {r['dataset']} | {label(r)} | {r['kimg']:g} | {f(r['cpu_min'], '.2f')} | {r['fd']:.1f} "
              f"({f(floor_fd(r, rows), '.2f')} / {f(r.get('fd_untrained'), '.1f')}{baseline(r, 'fd_baseline', '.1f')}) | "
              f"{f(ratio, '.2f')} | {acc} | "
              f"{f(of_real, '.2f')} | {spread_cell(r)} | {'met' if met else 'not met'} | {r.get('date') or '-'} |")


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
    ap.add_argument("--presets-as-is", action="store_true",
                    help="markdown: only rows of presets as they are (no --set probes, no rows of a preset's earlier "
                         "settings, marked `superseded`; the JSON keeps those)")
    ap.add_argument("--domains", nargs=2, metavar=("CLASS_A", "CLASS_B"),
                    help="CycleGAN presets: the two classes (label names) that are its domains (default: DOMAINS' pair)")
    ap.add_argument("--pix2pix-input", choices=sorted(PIX2PIX_INPUTS),
                    help="pix2pix presets: the task's input (default: sobel on a grey set, gray on a colour one)")
    ap.add_argument("--init", metavar="RUN", help="start every run from this run's weights (`ganctl train --init`); "
                                                  "its row's CPU-minutes in --json are added")
    ap.add_argument("--reclassify", action="store_true",
                    help="train nothing: score --json's rows of --data's datasets that another classifier scored again "
                         "with the current one, from each row's own checkpoint (see `reclassify`)")
    ap.add_argument("--all-rows", action="store_true", help="--reclassify: probe rows (--set) too")
    ap.add_argument("--rescore", action="store_true",
                    help="train nothing: measure the spread of --json's noise-to-image rows on --data's datasets again "
                         "from each row's own checkpoint, where its run is still on disk (see `rescore`)")
    a = ap.parse_args(argv)
    rows = [] if a.table_only else rescore(a) if a.rescore else reclassify(a) if a.reclassify else measure(a)
    # Read the file only now: another invocation may have added rows while this one trained.
    allrows = merge_rows(stored_rows(a), rows)
    if rows:
        tmp = a.json.with_name(a.json.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(allrows, indent=1) + "\n")
        os.replace(tmp, a.json)
    print_table(allrows)
    if a.markdown:
        print()
        print_markdown([r for r in allrows if not (a.presets_as_is and (r.get("set") or r.get("superseded")))])
    return 0


TRAINED_AS = ("model", "loss", "optim", "augment")  # the config sections that make two runs the same run


def trained_as(cfg: dict) -> dict:
    return {k: cfg.get(k) for k in TRAINED_AS}


def shorter_run(a, dataset: str, preset: str, kimg: float, cfg: dict) -> dict | None:
    """--extend: the longest earlier row of this dataset, preset, --set, --init and --num below kimg whose run is still
    on disk and whose config.yaml trains as `cfg` (the preset as it resolves now) does: a row measured before the
    preset's file changed (the rows file is shared and outlives preset edits) names a run of other settings, not one
    to continue."""
    import yaml

    rows = stored_rows(a)
    same = [r for r in rows if r["dataset"] == dataset and r["preset"] == preset and (r.get("set") or []) == list(a.set)
            and r.get("init") == (str(a.init) if a.init else None) and r.get("num") == a.num and r["kimg"] is not None
            and r["kimg"] < kimg and (Path(r.get("run", "")) / "config.yaml").is_file()]
    same = [r for r in same
            if trained_as(yaml.safe_load((Path(r["run"]) / "config.yaml").read_text())) == trained_as(cfg)]
    return max(same, key=lambda r: r["kimg"], default=None)


def init_cpu(a) -> float:
    """--init: the CPU-minutes of the run it starts from, as its longest row in --json has them (--extend continues a
    run in place, and --init takes its latest checkpoint)."""
    rows = stored_rows(a)
    mine = [r for r in rows if r.get("run") and Path(r["run"]).resolve() == Path(a.init).resolve() and r.get("cpu_min")]
    if not mine:
        raise SystemExit(f"--init {a.init}: no row of that run in {a.json}; measure it first, so both stages' CPU is counted")
    return max(mine, key=lambda r: r["kimg"])["cpu_min"]


def checkpoint_at(run: Path, kimg: float) -> Path | None:
    """The run's checkpoint written when training reached kimg (the first at or past it: a step is a batch)."""
    from ganctl.engine import checkpoint as ckpt

    at = [p for p in ckpt.list_checkpoints(run / "checkpoints") if ckpt.checkpoint_nimg(p) >= round(kimg * 1000)]
    return at[0] if at else None


def row_checkpoint(name: str, r: dict) -> Path | None:
    """The checkpoint of row r's run at its kimg, or None (said on stderr) when the run or that checkpoint is gone."""
    ck = checkpoint_at(Path(r.get("run", "")), r["kimg"])
    if ck is None:
        print(f"[{name}] {label(r)} at {r['kimg']:g} kimg: no checkpoint of that kimg left in {r.get('run')}", file=sys.stderr)
    return ck


def rescore(a) -> list[dict]:
    """Rows measured before the spread column existed get it from their own runs: each noise-to-image row of a --data
    dataset (same classifier, same --num) whose run still holds the checkpoint of the row's kimg is sampled again
    and must reproduce its recorded FD (relative 1e-6: same weights, seeds and classifier) before its spread is
    added; a row that does not, or whose run is gone, is named and left as it was."""
    import torch

    from ganctl.errors import UsageError
    from ganctl.sampling.generate import load_generator

    torch.set_num_threads(1)
    rows, out = stored_rows(a), []
    for j in judges(a):
        name, clf, ds, tag, (real_feats, real_labels, real) = j.name, j.clf, j.ds, j.tag, j.real
        for r in rows:
            if (r["dataset"] != name or r["preset"] == "real (floor)" or r.get("task") or r.get("num") != a.num
                    or r.get("classifier") != tag):
                continue
            ck = row_checkpoint(name, r)
            if ck is None:
                continue
            try:
                gen = load_generator(str(ck), "cpu", conditioning=None)
            except UsageError as e:  # e.g. a probe of an option that no longer exists
                print(f"[{name}] {label(r)} at {r['kimg']:g} kimg: {ck} does not load ({e}); left as it was", file=sys.stderr)
                continue
            g_stats, _, g_spread = generated(gen, clf, a.num, None, (real_feats, real_labels, ds.label_names))
            again = fd(g_stats, real)
            if abs(again - r["fd"]) > 1e-6 * max(1.0, r["fd"]):
                print(f"[{name}] {label(r)} at {r['kimg']:g} kimg: {ck} gives FD {again:.4f}, the row says {r['fd']:.4f}; "
                      "left as it was", file=sys.stderr)
                continue
            out.append({**r, **g_spread})
            print(f"[{name}] {label(r)} at {r['kimg']:g} kimg: spread {g_spread}", file=sys.stderr)
    return out


@dataclass
class Judge:
    """One dataset as the rows see it: its training images, held-out split, classifier, and the floor row."""
    name: str
    path: str
    ds: object
    hold: object
    clf: object
    real: tuple            # (features, labels, feature stats) of the training reference
    tag: str               # the classifier's cache key: which floor row a row is divided by
    floor: dict


def judge(name: str, path: str, a) -> Judge:
    from ganctl.data.dataset import PreparedDataset, open_validation
    from ganctl.metrics.classifier import classifier_for

    ds, val = PreparedDataset(path), open_validation(path)
    t0 = time.process_time()
    clf = classifier_for(path, steps=a.classifier_steps)
    print(f"[{name}] classifier: held-out accuracy {clf.real_accuracy:.3f} on {clf.meta['held_out']['source']} "
          f"({time.process_time() - t0:.0f} CPU-s; {clf.meta['path']})", file=sys.stderr)
    real_feats, real_labels, real = training_reference(ds, clf, a.num)
    hold = val if val is not None else ds
    floor = fd(stats(clf.features(hold.get_batch(evenly(len(hold), a.num))[0])), real)
    tag = Path(clf.meta["path"]).stem  # the classifier's cache key (dataset digest + settings): rows' floor match
    # Generated images are asked for every class equally often: the floor is the class-balanced accuracy.
    row = {"dataset": name, "preset": "real (floor)", "kimg": None, "cpu_min": None, "fd": floor,
           "class_acc": clf.real_balanced_accuracy, "class_acc_overall": clf.real_accuracy, "num": a.num, "classifier": tag}
    return Judge(name, path, ds, hold, clf, (real_feats, real_labels, real), tag, row)


def judges(a):
    """The Judge of each --data NAME=PATH, built as the loop reaches it."""
    for item in a.data:
        name, _, path = item.partition("=")
        yield judge(name, path, a)


def stored_rows(a) -> list[dict]:
    return json.loads(a.json.read_text()) if a.json.is_file() else []


def score(j: Judge, preset: str, cfg: dict, tasks: list[Task], run: Path, generator_from: Path, trained: dict,
          num: int) -> list[dict]:
    """The rows of one trained run (its generator loaded from `generator_from`: the run, or one of its checkpoints):
    `trained` (set, kimg, cpu_min, wall_s, [init]) plus what j's classifier measures."""
    import torch

    from ganctl.sampling.generate import load_generator

    dev = torch.device("cpu")
    gen, blank = load_generator(str(generator_from), dev, conditioning=None), untrained(run, dev)
    real_feats, real_labels, real = j.real
    rows = []
    for task in tasks:
        g_stats, g_acc, g_spread = generated(gen, j.clf, num, task, (real_feats, real_labels, j.ds.label_names))
        u_stats, u_acc, _ = generated(blank, j.clf, num, task)
        ref = task.real if task.real is not None else real
        row = {"dataset": j.name, "preset": preset, **trained, "fd": fd(g_stats, ref), "class_acc": g_acc,
               "fd_untrained": fd(u_stats, ref), "class_acc_untrained": u_acc, "num": num,
               "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "loadavg": os.getloadavg()[0], "run": str(run),
               "classifier": j.tag, **g_spread}
        if task.name:
            row.update(task=task.name, inputs=len(task.inputs))
        if task.fd_real is not None:
            row.update(fd_real=task.fd_real)
        if task.acc_real is not None:
            row.update(class_acc_real=task.acc_real)
        if task.baseline:
            what, imgs = task.baseline
            row.update(baseline=what, fd_baseline=fd(stats(j.clf.features(imgs)), ref),
                       class_acc_baseline=j.clf.accuracy(imgs, task.labels)[0])
        rows.append(row)
        print(f"[{j.name}] {label(row)}: {json.dumps(row)}", file=sys.stderr)
    return rows


def measure(a) -> list[dict]:
    if not a.data:
        raise SystemExit("--data NAME=PATH is needed unless --table-only")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from ganctl.config.load import resolve_config
    from ganctl.models import get_family

    torch.set_num_threads(1)
    before = init_cpu(a) if a.init else 0.0
    rows = []
    for j in judges(a):
        name, path = j.name, j.path
        rows.append(j.floor)
        for preset in a.presets:
            cfg = resolve_config(preset, overrides=list(a.set))
            kimg = a.kimg if a.kimg is not None else float(cfg["train"]["kimg"])
            data, tasks = tasks_for(get_family(cfg["model"]["family"]), cfg, name, path, j.ds, j.hold, j.clf, a.num,
                                    a.outdir, a.domains, a.pix2pix_input)
            cpu0, w0 = child_cpu(), time.time()
            prev = shorter_run(a, name, preset, kimg, cfg) if a.extend else None
            if prev:  # exact resume: the same run as a fresh one of this length, for the CPU not yet spent
                cmd = [sys.executable, "-m", "ganctl", "resume", prev["run"], "--kimg", str(kimg), "train.threads=1"]
            else:
                cmd = [sys.executable, "-m", "ganctl", "train", "--preset", preset, "--data", data, "--kimg", str(kimg),
                       "--outdir", str(a.outdir / name), *(["--init", a.init] if a.init else []), "train.threads=1",
                       f"train.tick_kimg={max(kimg / 4, 0.25)}", *a.set]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"[{name}] {preset}: training failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            cpu_min, wall = (child_cpu() - cpu0) / 60 + (prev["cpu_min"] if prev else before), time.time() - w0
            run = Path(prev["run"]) if prev else Path(p.stdout.strip().splitlines()[-1])
            trained = {"set": list(a.set), "kimg": kimg, "cpu_min": cpu_min, "wall_s": wall,
                       **({"init": str(a.init)} if a.init else {})}
            rows += score(j, preset, cfg, tasks, run, run, trained, a.num)
    return rows


def reclassify(a) -> list[dict]:
    """Rows of --data's datasets scored by another classifier than the one classifier_for gives now (its settings
    changed), scored again by the current one from each row's own run: the checkpoint written at the row's kimg, the
    same held-out inputs and seeds. Training fields (set, kimg, CPU-minutes, wall, init) are the row's; the new row
    names the old classifier's key (`rescored_from`) and the date it was scored. Only rows of the presets as they
    are (no --set probe, not superseded) unless --all-rows; a row whose run or checkpoint is gone is named and skipped."""
    import torch

    from ganctl.config.load import resolve_config
    from ganctl.errors import UsageError
    from ganctl.models import get_family

    torch.set_num_threads(1)
    rows, out = stored_rows(a), []
    for j in judges(a):
        name, path = j.name, j.path
        out.append(j.floor)
        done = {row_key(r) for r in rows if r.get("classifier") == j.tag}
        for r in rows:
            if (r["dataset"] != name or r["preset"] == "real (floor)" or r.get("num") != a.num or r.get("classifier") == j.tag
                    or r.get("superseded") or (r.get("set") and not a.all_rows) or row_key({**r, "classifier": j.tag}) in done):
                continue
            ck = row_checkpoint(name, r)
            if ck is None:
                continue
            try:
                cfg = resolve_config(r["preset"], overrides=list(r.get("set") or []))
                tasks = tasks_for(get_family(cfg["model"]["family"]), cfg, name, path, j.ds, j.hold, j.clf, a.num,
                                  a.outdir, a.domains, a.pix2pix_input)[1]
                tasks = [t for t in tasks if t.name == r.get("task")]
                trained = {k: r[k] for k in ("set", "kimg", "cpu_min", "wall_s", "init", "measured_as") if k in r}
                new = score(j, r["preset"], cfg, tasks, Path(r["run"]), ck, trained, a.num)
            except UsageError as e:  # e.g. a probe of an option that no longer exists
                print(f"[{name}] {label(r)} at {r['kimg']:g} kimg: {ck} does not load ({e}); skipped", file=sys.stderr)
                continue
            for n in new:
                n.update(rescored_from=r.get("classifier"), trained_date=r.get("date"))
                done.add(row_key(n))
            out += new
    return out


if __name__ == "__main__":
    sys.exit(main())
