"""A dataset's own classifier: a small fixed CNN trained by ganctl on a labelled prepared dataset, cached by its sha256.

Two uses, one network. Class accuracy of generated images (`class_acc`: `ganctl diagnose`'s conditioning finding and
`train.metrics`): the share of images generated for class c that the classifier calls c, beside its accuracy on
held-out real images (the floor a perfect generator reaches: class-balanced, the mean per-class accuracy, because a
generator is asked for every class equally often). A feature space for a Frechet distance that needs no
downloaded weights: the penultimate layer (FEATURE_DIM values after ReLU), with ganctl.metrics.distance's maths.

Protocol. Images are uint8 (N, C, H, W) scaled to [-1, 1] as training feeds them, resized (antialiased bilinear) to
INPUT_RES when their resolution differs. The network is fixed (ARCH_VERSION): three 3x3 conv blocks with batch norm
and 2x2 max pooling (16, 32, 64 channels), global average pooling, a 128-unit hidden layer (the features) and the
class layer. Training is seeded and runs on one CPU thread whatever the caller's count (TRAIN_THREADS: a 2-thread
reduction order trained another network, 73% instead of 80% held-out accuracy on emoji8): Adam (lr 1e-3, cosine decay
to 0 over the run: the last steps settle instead of stopping mid-step, which held emoji8's held-out accuracy at
84-85% over three seeds, against 78-84% at a constant rate), batch 64, `steps` steps over the training images with
random 2-pixel shifts (so held-out glyph fonts or icon themes are not met
pixel-aligned), label-balanced by nothing but the data. Held-out images are the dataset's val split (DEST/val/) when
it has one, else a seeded slice of HOLDOUT_FRACTION of the training file that the classifier never trains on.

Cache: <cache>/classifiers/<key>.safetensors, <cache> = $GANCTL_CACHE or ~/.cache/ganctl (as ops and weights use),
key = sha256 of dataset.safetensors + the architecture version and training settings. The file holds the weights
and, in its metadata, the held-out accuracy overall and per class, so a cached classifier answers without retraining.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ARCH_VERSION = "1"
INPUT_RES = 32
FEATURE_DIM = 128
WIDTHS = (16, 32, 64)  # small enough to train in well under a CPU-minute at 32x32
HOLDOUT_FRACTION = 0.125
DEFAULT_STEPS = 1000
BATCH, LR, SEED, SHIFT = 64, 1e-3, 0, 2
LR_SCHEDULE = "cosine"  # to 0 over `steps`
TRAIN_THREADS = 1


def cache_root() -> Path:
    base = os.environ.get("GANCTL_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "ganctl") / "classifiers"


class SmallCNN(nn.Module):
    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        layers, c_in = [], channels
        for c_out in WIDTHS:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.trunk = nn.Sequential(*layers)
        self.hidden = nn.Linear(WIDTHS[-1], FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.hidden(self.trunk(x).mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(images_u8) -> torch.Tensor:
    """uint8 (N, C, H, W) numpy or tensor -> float [-1, 1] at INPUT_RES."""
    x = torch.as_tensor(np.asarray(images_u8)).float() / 127.5 - 1
    if x.shape[-1] != INPUT_RES or x.shape[-2] != INPUT_RES:
        x = F.interpolate(x, size=(INPUT_RES, INPUT_RES), mode="bilinear", align_corners=False, antialias=True)
    return x


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each image moved by up to SHIFT pixels in x and y (edge-padded): cheap augmentation against pixel-aligned memorising."""
    n, _, h, w = x.shape
    p = F.pad(x, (SHIFT,) * 4, mode="replicate")
    dy = torch.randint(0, 2 * SHIFT + 1, (n, 1, 1, 1), generator=g)
    dx = torch.randint(0, 2 * SHIFT + 1, (n, 1, 1, 1), generator=g)
    rows = (torch.arange(h).view(1, 1, h, 1) + dy).expand(n, p.shape[1], h, p.shape[3])
    p = p.gather(2, rows)
    cols = (torch.arange(w).view(1, 1, 1, w) + dx).expand(n, p.shape[1], h, w)
    return p.gather(3, cols)


@dataclass
class DatasetClassifier:
    model: SmallCNN
    num_classes: int
    label_names: list[str]
    meta: dict   # dataset_sha256, steps, held_out (source, n, accuracy, per_class), path

    @property
    def real_accuracy(self) -> float:
        return float(self.meta["held_out"]["accuracy"])

    @property
    def real_per_class(self) -> list[float]:
        return list(self.meta["held_out"]["per_class"])

    @property
    def real_balanced_accuracy(self) -> float:
        """Mean per-class held-out accuracy: the real images' number to hold a generator's class accuracy against, since
        a generator is asked for every class equally often (seed % classes) while held-out images come in the dataset's
        own class mix (on an unbalanced set the plain accuracy overweights the easy, common classes)."""
        return balanced_accuracy(self.real_per_class)

    @torch.no_grad()
    def logits(self, images_u8, batch: int = 256) -> torch.Tensor:
        self.model.eval()
        return torch.cat([self.model(to_input(images_u8[i:i + batch])) for i in range(0, len(images_u8), batch)])

    @torch.no_grad()
    def features(self, images_u8, batch: int = 256) -> torch.Tensor:
        """Penultimate-layer features (N, FEATURE_DIM), float64: the space for `frechet_distance`."""
        self.model.eval()
        return torch.cat([self.model.features(to_input(images_u8[i:i + batch])).double() for i in range(0, len(images_u8), batch)])

    def accuracy(self, images_u8, labels) -> tuple[float, list[float], list[int]]:
        """(overall accuracy, per-class accuracy (nan where a class has no image), per-class counts)."""
        return accuracy_per_class(self.logits(images_u8).argmax(1).numpy(), np.asarray(labels), self.num_classes)


def accuracy_per_class(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[float, list[float], list[int]]:
    counts = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels[pred == labels], minlength=num_classes)
    per = [float(h / c) if c else float("nan") for h, c in zip(hits, counts)]
    return float((pred == labels).mean()), per, counts.tolist()


def balanced_accuracy(per_class) -> float:
    """Mean of the per-class accuracies of the classes that have images (nan: a class with none)."""
    vals = [a for a in per_class if not math.isnan(a)]
    return float(sum(vals) / len(vals)) if vals else float("nan")


def held_out_split(ds, path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(train indices, held-out images, held-out labels, what the held-out images are)."""
    from ganctl.data.dataset import open_validation

    labelled = np.flatnonzero(ds.labels >= 0)
    val = open_validation(path)
    if val is not None and (val.labels >= 0).any():
        keep = np.flatnonzero(val.labels >= 0)
        imgs, labs = val.get_batch(keep)
        return labelled, imgs, labs, f"val split ({len(keep)} images)"
    perm = np.random.RandomState(SEED).permutation(labelled)
    n_hold = max(1, int(round(len(perm) * HOLDOUT_FRACTION)))
    hold = np.sort(perm[:n_hold])
    imgs, labs = ds.get_batch(hold)
    return np.sort(perm[n_hold:]), imgs, labs, f"held-out slice of train ({n_hold} images, seed {SEED})"


def train_classifier(ds, train_idx: np.ndarray, steps: int, *, seed: int = SEED, lr_schedule: str = LR_SCHEDULE,
                     threads: int | None = TRAIN_THREADS) -> SmallCNN:
    """Seeded training on the images `train_idx` of a PreparedDataset, on `threads` threads (one: the same network
    whatever the caller's thread count). classifier_for uses the defaults; the other values (another seed, "constant" lr, threads=None: the caller's count)
    are for tests/benchmarks/bench_classifier.py, which measures what they change."""
    from ganctl.device import torch_threads

    with torch_threads(threads):
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        model = SmallCNN(ds.channels, ds.num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if lr_schedule == "cosine" else None
        images, labels = ds.images, ds.labels
        order = np.random.RandomState(seed)
        model.train()
        for _ in range(steps):
            idx = np.sort(order.choice(train_idx, size=min(BATCH, len(train_idx)), replace=False))
            x = _shift(to_input(images[idx]), g)
            loss = F.cross_entropy(model(x), torch.from_numpy(labels[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if decay is not None:
                decay.step()
    return model.eval()


def classifier_for(dataset_path, *, steps: int = DEFAULT_STEPS, cache_dir: str | os.PathLike | None = None,
                   progress=None) -> DatasetClassifier:
    """The classifier of a labelled prepared dataset: from the cache, or trained now (and cached). UsageError when unlabelled."""
    from safetensors.torch import load_file, save_file

    from ganctl.data.dataset import PreparedDataset, resolve_dataset_path
    from ganctl.errors import UsageError

    path = resolve_dataset_path(dataset_path)
    ds = PreparedDataset(path)
    if ds.num_classes < 2 or not (ds.labels >= 0).any():
        raise UsageError(f"{path}: class accuracy needs a labelled dataset with 2+ classes (prepare it with labels, "
                         f"e.g. one folder per class)")
    from ganctl.metrics.weights import sha256_file

    digest = sha256_file(path)
    settings = {"arch": ARCH_VERSION, "steps": int(steps), "batch": BATCH, "lr": LR, "lr_schedule": LR_SCHEDULE,
                "seed": SEED, "shift": SHIFT, "holdout_fraction": HOLDOUT_FRACTION, "input_res": INPUT_RES,
                "threads": TRAIN_THREADS}
    key = hashlib.sha256(json.dumps([digest, settings], sort_keys=True).encode()).hexdigest()[:24]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    file = root / f"{key}.safetensors"
    model = SmallCNN(ds.channels, ds.num_classes)
    if file.is_file():
        from safetensors import safe_open

        with safe_open(str(file), "pt") as f:
            meta = json.loads(f.metadata()["ganctl_classifier"])
        model.load_state_dict(load_file(str(file)))
        return DatasetClassifier(model.eval(), ds.num_classes, ds.label_names, {**meta, "path": str(file), "cached": True})
    if progress:
        progress(f"training the class-accuracy classifier for {path} ({steps} steps; cached in {root})")
    train_idx, h_imgs, h_labs, source = held_out_split(ds, path)
    with torch.random.fork_rng(devices=[]):  # never disturb the caller's RNG streams (a training run's)
        model = train_classifier(ds, train_idx, steps)
    clf = DatasetClassifier(model, ds.num_classes, ds.label_names, {})
    acc, per, counts = clf.accuracy(h_imgs, h_labs)
    meta = {"dataset": str(path), "dataset_sha256": digest, "settings": settings, "num_classes": ds.num_classes,
            "held_out": {"source": source, "n": int(len(h_labs)), "accuracy": acc, "per_class": per, "counts": counts}}
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{key}.{os.getpid()}.tmp"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata={"ganctl_classifier": json.dumps(meta)})
    os.replace(tmp, file)
    clf.meta = {**meta, "path": str(file), "cached": False}
    return clf
