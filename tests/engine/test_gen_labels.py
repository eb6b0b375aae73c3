"""train.gen_labels: which labels a conditional generator is trained on. `dataset` draws them as the training set's
labels fall (StyleGAN2-ADA), `uniform` every class equally often (BigGAN-PyTorch), which is what a class-balanced
measure asks of the rare classes of an imbalanced set. train.real_labels: the same choice for the real images D sees
(the data feed's class-balanced stream)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _testdata import load_fmnist


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    """400 Fashion-MNIST images: 310 of class 0 (77.5%) and 10 of each other class, a set with a rare-class tail."""
    from ganctl.data.dataset import PreparedDataset, write_dataset

    imgs, labels = load_fmnist("train", 4000)
    keep = np.concatenate([np.where(labels == 0)[0][:310]] + [np.where(labels == c)[0][:10] for c in range(1, 10)])
    x = np.pad(imgs[keep], ((0, 0), (2, 2), (2, 2)))[:, None]
    dest = tmp_path_factory.mktemp("imb") / "d"
    write_dataset(dest, x, labels[keep], {"name": "imb", "label_names": [str(i) for i in range(10)]})
    return PreparedDataset(dest)


def _label_counts(ds, how: str, steps: int = 40) -> np.ndarray:
    from ganctl.config.load import resolve_config
    from ganctl.engine.training import Trainer

    cfg = resolve_config("cgan-fashion-mnist", None, [f"train.gen_labels={how}", "train.batch=64", "train.grid_size=4"])
    tr = Trainer(cfg, ds, None, torch.device("cpu"))
    labels = torch.cat([tr._gen_labels(step, 0) for step in range(steps)])
    assert labels.shape == (64 * steps,) and labels.dtype == torch.int64
    again = torch.cat([tr._gen_labels(step, 0) for step in range(steps)])
    assert torch.equal(labels, again)  # a function of (seed, step, phase): resume draws the same labels
    return np.bincount(labels.numpy(), minlength=10) / len(labels)


def test_dataset_labels_follow_the_data_and_uniform_labels_cover_every_class(imbalanced, one_cpu_thread):
    data = _label_counts(imbalanced, "dataset")
    uni = _label_counts(imbalanced, "uniform")
    assert data[0] > 0.7 and data[1:].max() < 0.06       # 77.5% of the set is class 0
    assert np.abs(uni - 0.1).max() < 0.025                # 2,560 draws over 10 classes
    assert uni[1:].min() > 3 * data[1:].max()


def test_unknown_gen_labels_value_names_the_key():
    from ganctl.config.load import resolve_config
    from ganctl.errors import UsageError

    with pytest.raises(UsageError, match="train.gen_labels"):
        resolve_config("cgan-fashion-mnist", None, ["train.gen_labels=balanced"])


def test_class_balanced_real_stream_covers_rare_classes_and_stays_a_pure_function(imbalanced):
    from ganctl.engine.feed import DataFeed, _perm, batch_indices

    feed = DataFeed(imbalanced, 64, seed=5, balanced=True, workers=1)
    try:
        idx = np.concatenate([feed.load(pos)[1].numpy() for pos in range(0, 64 * 40, 64)])
    finally:
        feed.close()
    share = np.bincount(idx, minlength=10) / len(idx)  # labels of 2,560 real images
    assert np.abs(share - 0.1).max() < 0.01               # each class a tenth (exact per epoch of 320 positions)
    labels = imbalanced.labels
    ids = batch_indices(5, len(imbalanced), 0, 3200, feed.by_class)
    assert all(set(ids[labels[ids] == c]) == set(np.flatnonzero(labels == c)) for c in range(10))  # every image seen
    # a pure function of (seed, position): batches of another size read the same stream, as resume relies on
    again = np.concatenate([batch_indices(5, len(imbalanced), p, 48, feed.by_class) for p in range(0, 3200, 48)])[:3200]
    assert np.array_equal(ids, again)
    # the default stream is the plain shuffle, unchanged
    assert np.array_equal(batch_indices(5, 400, 0, 400), _perm(5, 0, 400))


def test_class_balanced_real_stream_needs_labels_and_no_privacy(imbalanced, tmp_path):
    from ganctl import api
    from ganctl.data.dataset import write_dataset
    from ganctl.errors import UsageError

    imgs = imbalanced.get_batch(np.arange(40))[0]
    write_dataset(tmp_path / "nolabels", imgs, np.full(40, -1), {"name": "u"})
    with pytest.raises(UsageError, match="train.real_labels: uniform draws real images class by class"):
        api.train("dcgan-fashion-mnist", str(tmp_path / "nolabels"), outdir=str(tmp_path / "runs"), kimg=0.01,
                  overrides=["train.real_labels=uniform"])
    with pytest.raises(UsageError, match="train.real_labels: a class-balanced feed"):
        api.train("dp-cgan-fashion-mnist", str(imbalanced.path.parent),
                  outdir=str(tmp_path / "runs"), kimg=0.01, overrides=["train.real_labels=uniform"])
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.safetensors"))
