"""The image-to-image tasks of tests/_image_tasks.py, prepared through the real CLI from real Fashion-MNIST images: the
quality benchmark computes its held-out inputs in process (sobel_inputs), so a prepared training pair must hold exactly
what sobel_inputs makes of its target, in order and in the target's channel count (grey and RGB), and a domain
dataset exactly one class per domain."""

from __future__ import annotations

import numpy as np

from _image_tasks import prepare_domains, prepare_sobel_pairs, sobel_inputs
from ganctl.data.dataset import PreparedDataset
from ganctl.data.pairs import PairedDataset, UnpairedDataset


def test_sobel_pairs_grey_and_rgb_match_the_in_process_inputs(fmnist32, tmp_path):
    imgs = PreparedDataset(fmnist32).get_batch(np.arange(12))[0]
    # an RGB set made of real images: three different garments per colour image, so the channels differ
    rgb = np.concatenate([imgs[0:4], imgs[4:8], imgs[8:12]], axis=1)
    for name, target in (("grey", imgs), ("rgb", rgb)):
        ds = PairedDataset(prepare_sobel_pairs(target, tmp_path / name) / "dataset.safetensors")
        x, y = ds.get_pairs(np.arange(len(ds)))
        assert len(ds) == len(target) and x.shape == y.shape == target.shape
        np.testing.assert_array_equal(y, target)
        np.testing.assert_array_equal(x, sobel_inputs(target))
        assert (x == x[:, :1]).all()  # one luminance edge map, repeated over the colour channels
        assert x.std() > 10  # real edges, not an empty map


def test_domains_hold_one_class_each(fmnist32, tmp_path):
    imgs, labels = PreparedDataset(fmnist32).get_batch(np.arange(200))
    ds = UnpairedDataset(prepare_domains(imgs, labels, 7, 9, tmp_path / "s2b") / "dataset.safetensors")
    for dom, cls in (("A", 7), ("B", 9)):
        assert ds.count(dom) == (labels == cls).sum() > 0
        np.testing.assert_array_equal(ds.get(dom, np.arange(ds.count(dom))), imgs[labels == cls])
