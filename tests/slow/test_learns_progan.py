"""Progressive GAN learns while it grows: `progan-tiny` trained through every phase (4 -> 8 -> 16 -> 32) on full
Fashion-MNIST makes images whose Frechet distance to real ones, in the feature space of a classifier trained only on
real images, is far below that of the same generator untrained.

Run: python -m pytest -m slow tests/slow/test_learns_progan.py -s   (prints the figure and minutes for the README)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _testdata import load_fmnist, make_dataset
from test_learns import _classifier, _features, _frechet, _to_input

pytestmark = pytest.mark.slow

NUM = 5000  # generated and real images per Frechet distance


def test_progan_tiny_learns_through_all_phases(tmp_path):
    from ganctl import api
    from ganctl.config import resolve_config
    from ganctl.models import build_networks
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.latents import images_for_seeds, to_uint8

    ds = make_dataset(tmp_path / "fm32", 60000, 32, "fmnist32")
    imgs, labels = load_fmnist("train")
    x = _to_input(np.pad(imgs, ((0, 0), (2, 2), (2, 2))))
    clf = _classifier(x, torch.from_numpy(labels), epochs=1)
    real_f = _features(clf, x[:NUM])

    def fd_of(G):
        with torch.no_grad():
            fake = torch.cat([to_uint8(images_for_seeds(G, range(i, min(i + 250, NUM)), 0, "cpu")) for i in range(0, NUM, 250)])
        return _frechet(real_f, _features(clf, fake.float().div(127.5).sub(1)))

    # The untrained generator: the preset's networks as the engine initialises them (seed 0), at the full resolution.
    cfg = resolve_config("progan-tiny")
    torch.manual_seed(cfg["train"]["seed"])
    G0, _ = build_networks(cfg, 32, 1, 0)
    fd0 = fd_of(G0.eval())

    t0, c0 = time.time(), time.process_time()
    res = api.train(preset="progan-tiny", data=str(ds), outdir=str(tmp_path / "runs"), device="cpu")
    minutes, cpu_minutes = (time.time() - t0) / 60, (time.process_time() - c0) / 60

    ticks = [json.loads(line) for line in (Path(res["run_dir"]) / "stats.jsonl").read_text().splitlines()]
    seen = sorted({(t["Schedule/resolution"], t["Schedule/alpha"] < 1) for t in ticks})
    gen = load_generator(res["run_dir"], "cpu")
    assert gen.G.stage() == (32, 1.0)
    fd1 = fd_of(gen.G)
    print(f"\nprogan-tiny: {cfg['train']['kimg']:g} kimg through resolutions {sorted({r for r, _ in seen})} in {minutes:.1f} min "
          f"wall ({cpu_minutes:.1f} CPU min, {torch.get_num_threads()} threads); classifier-feature Frechet distance to "
          f"real images {fd0:.1f} (untrained) -> {fd1:.1f} (trained), ratio {fd1 / fd0:.3f}")
    # Every resolution was trained, and 8, 16, 32 were faded in.
    assert {r for r, _ in seen} == {4, 8, 16, 32} and {r for r, fading in seen if fading} == {8, 16, 32}
    assert fd1 < 0.5 * fd0  # measured 2026-11-30 (1 thread, shared machine): 690 -> 106 (ratio 0.15), 5.4 CPU min
