"""Classification accuracy score (Ravuri & Vinyals 2019): what a classifier learns from generated data.

The fixed classifier of metrics/cas_classifier.py is trained on N generated labelled images (seeds 0..N-1 of a conditional
generator, labels seed % classes, or an exported synthetic dataset) and tested on real held-out images; next to it the
same classifier, same seed and epochs, trained on N real images (a seeded draw from the run's training data or
--real-train). CAS / real accuracy says how much of what the real data teaches survives in the generator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganctl.errors import UsageError
from ganctl.metrics.cas_classifier import DEFAULT_EPOCHS, train_classifier


def _is_dataset(path: str | Path) -> bool:
    from ganctl.data.dataset import DATA_FILE

    p = Path(path)
    return p.is_dir() and (p / DATA_FILE).is_file() or (p.is_file() and p.name == DATA_FILE)


def _labelled(path: str | Path, what: str):
    from ganctl.data.dataset import PreparedDataset

    ds = PreparedDataset(path)
    if not ds.num_classes or (ds.labels < 0).any():
        raise UsageError(f"{what} {path}: the dataset has no class labels; CAS needs labelled images (prepare it from "
                         f"class subfolders or an MNIST/CIFAR source)")
    return ds


def _draw(ds, num: int, seed: int):
    """`num` images of `ds` in a seeded random order (all of them when it holds fewer)."""
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:num])
    return ds.get_batch(idx)


def synthetic_images(source: str, num: int, truncation_psi: float = 1.0, device: str = "auto"):
    """(images, labels, num_classes, label_names, description) of N generated images from a run/checkpoint, or of a
    prepared (e.g. exported) dataset."""
    if _is_dataset(source):
        ds = _labelled(source, "RUN")
        imgs, labels = _draw(ds, num, 0) if num < len(ds) else ds.get_batch(np.arange(len(ds)))
        return imgs, labels, ds.num_classes, ds.label_names, f"dataset {source}"
    from ganctl.sampling.generate import load_generator

    gen = load_generator(source, device)
    if not gen.num_classes:
        raise UsageError(f"{source}: CAS needs a class-conditional generator (model.conditional=true) or a labelled "
                         f"dataset; this one is unconditional")
    seeds = list(range(num))
    imgs = np.concatenate([b.numpy() for b in gen.iter_images(seeds, truncation_psi, None, 256)])
    labels = np.array([s % gen.num_classes for s in seeds], np.int64)
    return imgs, labels, gen.num_classes, gen.label_names, f"{gen.path}"


def classification_accuracy_score(source: str, real_test: str, num: int = 10000, real_train: str | None = None,
                                  epochs: int = DEFAULT_EPOCHS, seed: int = 0, truncation_psi: float = 1.0,
                                  device: str = "auto", emit=lambda e: None) -> dict:
    if num < 10:
        raise UsageError("--num: train the classifier on at least 10 images")
    if epochs < 1:
        raise UsageError("--epochs: at least 1")
    test = _labelled(real_test, "--real-test")
    fake_x, fake_y, k, names, described = synthetic_images(source, num, truncation_psi, device)
    if k != test.num_classes:
        raise UsageError(f"--real-test {real_test}: {test.num_classes} classes, the generated data has {k}; use the "
                         f"held-out split of the data the model was trained on")
    if fake_x.shape[1:] != (test.channels, test.resolution, test.resolution):
        raise UsageError(f"--real-test {real_test}: images are {test.channels}x{test.resolution}x{test.resolution}, "
                         f"generated ones {'x'.join(map(str, fake_x.shape[1:]))}; prepare it like the training data")
    train_path = real_train or _training_data(source)
    test_x, test_y = test.get_batch(np.arange(len(test)))
    emit({"type": "message", "text": f"training the classifier on {len(fake_x)} generated images"})
    cas = train_classifier(fake_x, fake_y, k, seed, epochs).accuracy(test_x, test_y)
    out = {"cas": cas, "num": int(len(fake_x)), "classes": k, "epochs": epochs, "seed": seed,
           "real_test": str(real_test), "test_count": int(len(test)), "generated_from": described,
           "truncation_psi": truncation_psi}
    if train_path is not None:
        real = _labelled(train_path, "--real-train")
        real_x, real_y = _draw(real, len(fake_x), seed)
        emit({"type": "message", "text": f"training the classifier on {len(real_x)} real images from {train_path}"})
        out["real_accuracy"] = train_classifier(real_x, real_y, k, seed, epochs).accuracy(test_x, test_y)
        out["real_train"] = str(train_path)
        out["real_count"] = int(len(real_x))
        out["ratio"] = cas / out["real_accuracy"] if out["real_accuracy"] else None
    return out


def _training_data(source: str) -> str | None:
    """The run's own training data (config data.path) when it still exists there."""
    if _is_dataset(source):
        return None
    from ganctl.engine import checkpoint as ckpt
    from ganctl.sampling.generate import resolve_checkpoint

    path = (ckpt.read_meta(resolve_checkpoint(source))["config"].get("data") or {}).get("path")
    return path if path and Path(path).exists() else None
