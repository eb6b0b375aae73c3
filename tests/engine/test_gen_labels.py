"""train.gen_labels: which labels a conditional generator is trained on. `dataset` draws them as the training set's
labels fall (StyleGAN2-ADA), `uniform` every class equally often (BigGAN-PyTorch), which is what a class-balanced
measure asks of the rare classes of an imbalanced set."""

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
