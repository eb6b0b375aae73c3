"""StyleGAN3 really learns on a CPU: stylegan3-tiny trained for a few kimg on Fashion-MNIST brings its images clearly
closer to real ones in the feature space of a classifier trained on real images alone (as test_learns.py does for
StyleGAN2).

Run: python -m pytest -m slow tests/slow/test_learns_stylegan3.py -s   (prints distances and minutes for the README)
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from _testdata import load_fmnist, make_dataset
from test_learns import _classifier, _features, _frechet, _to_input

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("preset,kimg", [("stylegan3-tiny", 6)])
def test_stylegan3_tiny_makes_measurable_progress(tmp_path, preset, kimg):
    from ganctl import api
    from ganctl.sampling.generate import load_generator

    ds = make_dataset(tmp_path / "fm32", 60000, 32, "fmnist32")
    imgs, labels = load_fmnist("train")
    x = _to_input(np.pad(imgs, ((0, 0), (2, 2), (2, 2))))
    clf = _classifier(x, torch.from_numpy(labels), epochs=1)
    real_f = _features(clf, x[:5000])

    def fd_of(run_dir):
        gen = load_generator(run_dir, "cpu")
        fake = torch.cat(list(gen.iter_images(range(5000), batch_size=250)))
        return _frechet(real_f, _features(clf, fake.float().div(127.5).sub(1)))

    t0, c0 = time.time(), time.process_time()
    start = api.train(preset=preset, data=str(ds), kimg=0.008, outdir=str(tmp_path / "r0"), device="cpu",
                      overrides=["train.threads=2"])
    res = api.train(preset=preset, data=str(ds), kimg=kimg, outdir=str(tmp_path / "r1"), device="cpu",
                    overrides=["train.threads=2"])
    minutes, cpu_minutes = (time.time() - t0) / 60, (time.process_time() - c0) / 60
    fd0, fd1 = fd_of(start["run_dir"]), fd_of(res["run_dir"])
    print(f"\n{preset}: {kimg} kimg in {minutes:.1f} min wall ({cpu_minutes:.1f} CPU min) on CPU; classifier-feature "
          f"Frechet distance to real images {fd0:.2f} (untrained) -> {fd1:.2f} (trained), ratio {fd1 / fd0:.3f}")
    assert fd1 < 0.8 * fd0
