"""The image-to-image tasks of tests/_image_tasks.py, prepared through the real CLI from real Fashion-MNIST images: the
quality benchmark computes its held-out inputs in process (sobel_inputs, gray_inputs), so a prepared training pair must
hold exactly what those make of its target, in order and in the target's channel count (grey and RGB), and a domain
dataset exactly one class per domain."""

from __future__ import annotations

import numpy as np
from PIL import Image

from _image_tasks import gray_inputs, pix2pix_input_for, prepare_domains, prepare_input_pairs, sobel_inputs
from ganctl.data.dataset import PreparedDataset
from ganctl.data.pairs import PairedDataset, UnpairedDataset


def test_pix2pix_pairs_grey_and_rgb_match_the_in_process_inputs(fmnist32, tmp_path):
    imgs = PreparedDataset(fmnist32).get_batch(np.arange(12))[0]
    # an RGB set made of real images: three different garments per colour image, so the channels differ
    rgb = np.concatenate([imgs[0:4], imgs[4:8], imgs[8:12]], axis=1)
    for name, target in (("grey", imgs), ("rgb", rgb)):
        ds = PairedDataset(prepare_input_pairs(target, tmp_path / name, "sobel") / "dataset.safetensors")
        x, y = ds.get_pairs(np.arange(len(ds)))
        assert len(ds) == len(target) and x.shape == y.shape == target.shape
        np.testing.assert_array_equal(y, target)
        np.testing.assert_array_equal(x, sobel_inputs(target))
        assert (x == x[:, :1]).all()  # one luminance edge map, repeated over the colour channels
        assert x.std() > 10  # real edges, not an empty map
    # BW -> colour: the luminance of the RGB target (ITU-R 601, as PIL's convert("L") makes it) is the input
    ds = PairedDataset(prepare_input_pairs(rgb, tmp_path / "gray", "gray") / "dataset.safetensors")
    x, y = ds.get_pairs(np.arange(len(ds)))
    np.testing.assert_array_equal(y, rgb)
    np.testing.assert_array_equal(x, gray_inputs(rgb))
    luma = np.stack([np.asarray(Image.fromarray(im.transpose(1, 2, 0)).convert("L")) for im in rgb])
    assert np.abs(x[:, 0].astype(int) - luma).max() <= 1 and (x == x[:, :1]).all()
    assert (pix2pix_input_for(1), pix2pix_input_for(3)) == ("sobel", "gray")


def test_domains_hold_one_class_each(fmnist32, tmp_path):
    imgs, labels = PreparedDataset(fmnist32).get_batch(np.arange(200))
    ds = UnpairedDataset(prepare_domains(imgs, labels, 7, 9, tmp_path / "s2b") / "dataset.safetensors")
    for dom, cls in (("A", 7), ("B", 9)):
        assert ds.count(dom) == (labels == cls).sum() > 0
        np.testing.assert_array_equal(ds.get(dom, np.arange(ds.count(dom))), imgs[labels == cls])
