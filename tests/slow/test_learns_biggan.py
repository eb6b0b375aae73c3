"""BigGAN really learns classes: biggan-tiny trained for CPU minutes on Fashion-MNIST makes images that an independent
classifier, trained only on real images, labels as the requested class far above chance (10%).

Run: python -m pytest -m slow tests/slow/test_learns_biggan.py -s   (prints accuracy and minutes for the README)
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from _testdata import load_fmnist, make_dataset
from test_learns import _classifier, _to_input

pytestmark = pytest.mark.slow

KIMG = float(os.environ.get("GANCTL_BIGGAN_TINY_KIMG", "30"))  # the preset's length


def test_biggan_tiny_learns_classes(tmp_path):
    from ganctl import api
    from ganctl.sampling.generate import load_generator

    ds = make_dataset(tmp_path / "fm32", 60000, 32, "fmnist32")
    t0 = time.time()
    res = api.train(preset="biggan-tiny", data=str(ds), kimg=KIMG, outdir=str(tmp_path / "runs"), device="cpu",
                    overrides=["train.threads=1"])
    minutes = (time.time() - t0) / 60

    imgs, labels = load_fmnist("train")
    clf = _classifier(_to_input(np.pad(imgs, ((0, 0), (2, 2), (2, 2)))), torch.from_numpy(labels))
    test_imgs, test_labels = load_fmnist("test")
    with torch.no_grad():
        real_acc = (clf(_to_input(np.pad(test_imgs, ((0, 0), (2, 2), (2, 2))))).argmax(1).numpy() == test_labels).mean()

    gen = load_generator(res["run_dir"], "cpu")
    seeds = list(range(1000))  # class = seed % 10
    want = np.array(seeds) % 10
    accs = {}
    for psi in (1.0, 0.5):  # untruncated and BigGAN's resampling truncation
        fake = torch.cat(list(gen.iter_images(seeds, truncation_psi=psi, batch_size=100)))
        with torch.no_grad():
            pred = clf(fake.float().div(127.5).sub(1)).argmax(1).numpy()
        accs[psi] = float((pred == want).mean())
    print(f"\nbiggan-tiny: {KIMG:g} kimg in {minutes:.1f} min on CPU (1 thread); classifier accuracy on real test images "
          f"{real_acc:.3f}; on generated images of the requested class {accs[1.0]:.3f} (truncation 0.5: {accs[0.5]:.3f}; "
          f"chance 0.100)")
    assert real_acc > 0.85
    assert accs[1.0] > 0.5
