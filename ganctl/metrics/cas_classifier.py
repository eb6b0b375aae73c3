"""The fixed small image classifier that `cas` and `audit bias` train on arrays they are given: same architecture,
optimiser, epochs and seed every time, so two numbers from it differ only by the data they were trained on. (The
classifier a dataset gets for `class_acc` and diagnose's conditioning finding, cached per dataset, is
metrics/classifier.py; the two protocols differ in what they train on and how long.)

Architecture (LeNet-like, for 28-64 px images, any channel count): conv 3x3 32 -> ReLU -> maxpool -> conv 3x3 64 ->
ReLU -> maxpool -> adaptive average pool to 4x4 -> linear 128 -> ReLU -> linear K. Adam
lr 1e-3, batch 128, `epochs` passes over a seeded shuffle; inputs are uint8 scaled to [-1, 1]. Training runs on one
intra-op thread by default: small convolutions on a shared CPU are faster that way and the result does not depend on
the machine's core count.

A trained classifier is saved as safetensors (weights + JSON metadata: classes, channels, resolution, label names) and
read back with `load_classifier`; nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError

DEFAULT_EPOCHS = 5
BATCH = 128
LR = 1e-3


def build(channels: int, num_classes: int):
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, num_classes),
    )


def _to_float(images_u8):
    import torch

    return torch.from_numpy(np.ascontiguousarray(images_u8)).float().div_(127.5).sub_(1.0)


class Classifier:
    """A trained classifier: `predict(images_u8)` -> int64 labels; `save(path)`."""

    def __init__(self, net, channels: int, resolution: int, num_classes: int, label_names: list[str] | None = None,
                 meta: dict | None = None):
        self.net, self.channels, self.resolution, self.num_classes = net.eval(), channels, resolution, num_classes
        self.label_names = list(label_names or [])
        self.meta = dict(meta or {})

    def check_images(self, images: np.ndarray, what: str) -> None:
        if images.shape[1] != self.channels or images.shape[2] != self.resolution:
            raise UsageError(f"{what}: images are {images.shape[1]}x{images.shape[2]}x{images.shape[3]} (channels x "
                             f"height x width) but the classifier takes {self.channels}x{self.resolution}x"
                             f"{self.resolution}; prepare the data at that size (prepare-data --resolution)")

    def predict(self, images: np.ndarray, batch: int = 512) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(images), batch):
                out.append(self.net(_to_float(images[i:i + batch])).argmax(1).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        return float((self.predict(images) == labels).mean())

    def save(self, path: str | Path) -> Path:
        import os

        from safetensors.torch import save_file

        path = Path(path)
        meta = {"ganctl_classifier": "1", "channels": self.channels, "resolution": self.resolution,
                "num_classes": self.num_classes, "label_names": self.label_names, **self.meta}
        tmp = path.with_name(path.name + ".tmp")
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(tmp),
                  metadata={"ganctl_classifier": json.dumps(meta)})
        os.replace(tmp, path)
        return path


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, seed: int = 0,
                     epochs: int = DEFAULT_EPOCHS, label_names: list[str] | None = None, threads: int | None = 1) -> Classifier:
    """Train the fixed classifier on uint8 (N, C, H, W) images and int64 labels; a pure function of (data, seed)."""
    import torch
    import torch.nn.functional as F

    if len(images) == 0:
        raise UsageError("no images to train the classifier on")
    if labels.min() < 0:
        raise UsageError("the classifier's training images must all be labelled (prepare the data from class "
                         "subfolders or labelled sources)")
    from ganctl.device import torch_threads

    with torch_threads(threads):
        g = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build(images.shape[1], num_classes)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        y_all = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=g).numpy()
            for i in range(0, len(order), BATCH):
                idx = np.sort(order[i:i + BATCH])
                x, y = _to_float(images[idx]), y_all[idx]
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return Classifier(net, images.shape[1], images.shape[2], num_classes, label_names,
                      {"seed": seed, "epochs": epochs, "train_count": int(len(images))})


def load_classifier(path: str | Path) -> Classifier:
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--classifier {path}: no such file; train one with `ganctl audit bias RUN --data DATA "
                         f"--save-classifier FILE` or omit --classifier")
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})["ganctl_classifier"])
        state = load_file(str(path))
    except Exception as e:  # not a safetensors file, or not one of ours
        raise UsageError(f"--classifier {path}: not a ganctl classifier file ({type(e).__name__}); train one with "
                         f"`ganctl audit bias RUN --data DATA --save-classifier FILE`") from None
    net = build(meta["channels"], meta["num_classes"])
    net.load_state_dict(state)
    return Classifier(net, meta["channels"], meta["resolution"], meta["num_classes"], meta.get("label_names"),
                      {k: v for k, v in meta.items() if k in ("seed", "epochs", "train_count")})
