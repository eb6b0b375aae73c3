"""The image-to-image tasks of tests/_image_tasks.py, prepared through the real CLI from real Fashion-MNIST images: the
quality benchmark computes its held-out inputs in process (sobel_inputs, gray_inputs), so a prepared training pair must
hold exactly what those make of its target, in order and in the target's channel count (grey and RGB), and a domain
dataset exactly one class per domain. The colour reference (recolour, colour_errors) keeps luma and measures hue."""

from __future__ import annotations

import numpy as np
from PIL import Image

from _image_tasks import (colour_errors, gray_inputs, luminance, pix2pix_input_for, prepare_domains, prepare_input_pairs,
                          recolour, sobel_inputs)
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


def test_recolour_keeps_luma_and_colour_errors_measure_the_turn(fmnist32):
    imgs = PreparedDataset(fmnist32).get_batch(np.arange(12))[0]
    rgb = np.concatenate([imgs[0:4], imgs[4:8], imgs[8:12]], axis=1)  # real garments, a different one per channel
    assert np.abs(recolour(rgb).astype(int) - rgb).max() <= 1
    assert np.abs(recolour(rgb, hue_deg=360).astype(int) - rgb).max() <= 1
    grey = recolour(rgb, chroma_scale=0)
    assert (np.abs(grey.astype(int) - luminance(rgb)[:, None]) <= 1).all()
    assert colour_errors(rgb, rgb) == (0.0, 1.0)
    # at low saturation nearly every turned pixel stays in gamut: there the luma holds, and the measured hue error is
    # the turn
    pale = recolour(rgb, chroma_scale=0.3)
    for deg in (30, 90, 150):
        turned = recolour(pale, hue_deg=deg)
        inside = ((turned > 0) & (turned < 255)).all(axis=1) | (pale == pale[:, :1]).all(axis=1)
        assert inside.mean() > 0.9
        assert np.abs(luminance(turned).astype(int) - luminance(pale))[inside].max() <= 1
        hue_err, ratio = colour_errors(turned, pale)
        assert abs(hue_err - deg) < 3 and abs(ratio - 1) < 0.05, (deg, hue_err, ratio)
    hue_err, ratio = colour_errors(recolour(pale, chroma_scale=0.5), pale, min_chroma=2)
    assert hue_err < 3 and abs(ratio - 0.5) < 0.05
