"""pix2pix-tiny and cyclegan-tiny learn (slow): honest proxies built offline from real Fashion-MNIST images.

pix2pix: Sobel gradient magnitude -> image (tests/slow/translation_tasks.py), 4,096 training pairs of the train split,
256 held-out pairs of the test split. `ganctl translate` (its default: dropout on, batch norm by the running
statistics, as the preset trains at batch 8; the paper's per-image statistics printed beside) then `ganctl compare`:
the test-set L1 must be at most half the input-copy baseline's (the edges themselves scored against the images).

CycleGAN: sneaker (7) <-> ankle boot (9), 2,000 train images per domain (`prepare-data --unpaired`), 200 test images
each. An independent classifier (ganctl.metrics.classifier, trained on 20,000 real labelled training images of all 10
classes, never on a generated one) must assign most (> 0.5) translated test images to the target class, in both
directions, while the cycle reconstruction G_B(G_A(a)) (and G_A(G_B(b))) stays close to its input: L1 at most half the
L1 between test images of the two domains (index-aligned pairs), i.e. the cycle keeps the image, not just the class.

Run: OMP_NUM_THREADS=1 python -m pytest -m slow -n 0 -s tests/slow/test_translation_learns.py   (prints the README numbers)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _image_tasks import write_pngs
from _testdata import make_dataset
from translation_tasks import class_images, edge_pairs

pytestmark = pytest.mark.slow


def test_pix2pix_tiny_learns_edges_to_fashion_mnist(tmp_path):
    from ganctl import api

    a, b = edge_pairs(tmp_path / "train", "train", 0, 4096)
    api.prepare_pairs(str(a), str(b), str(tmp_path / "data"), mode="pairs", workers=1)
    test_edges, test_images = edge_pairs(tmp_path / "test", "test", 0, 256)
    t0 = time.process_time()
    run = api.train("pix2pix-tiny", str(tmp_path / "data"), outdir=str(tmp_path / "runs"),
                    overrides=["train.threads=1"])["run_dir"]
    cpu = time.process_time() - t0

    def l1(folder) -> float:
        return api.compare(str(test_images), str(folder), metrics=["l1"])["mean"]["l1"]

    api.translate(run, [str(test_edges)], str(tmp_path / "default"), device="cpu")  # --bn auto: running at batch 8
    api.translate(run, [str(test_edges)], str(tmp_path / "paper"), device="cpu", bn="batch")  # each image's own stats
    api.translate(run, [str(test_edges)], str(tmp_path / "running"), device="cpu", dropout="off", bn="running")
    copy, default = l1(test_edges), l1(tmp_path / "default")
    paper, running = l1(tmp_path / "paper"), l1(tmp_path / "running")
    from ganctl.config.load import resolve_config

    kimg = resolve_config("pix2pix-tiny")["train"]["kimg"]
    print(f"\npix2pix-tiny, {kimg:g} kimg, {cpu:.0f} CPU-s training: test L1 (0-1 scale) copy-input baseline {copy:.4f}; "
          f"translate default (dropout on, --bn auto = running) {default:.4f} (ratio {default / copy:.3f}); "
          f"--bn batch (the paper's mode) {paper:.4f} (ratio {paper / copy:.3f}); "
          f"--dropout off --bn running {running:.4f} (ratio {running / copy:.3f})")
    assert default <= 0.5 * copy


def _gray(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(f).convert("L")) for f in sorted(folder.glob("*.png"))])[:, None]


def test_cyclegan_tiny_learns_sneaker_to_ankle_boot(tmp_path):
    from ganctl import api
    from ganctl.metrics.classifier import classifier_for

    SNEAKER, BOOT = 7, 9
    write_pngs(tmp_path / "trainA", class_images("train", SNEAKER, 2000))
    write_pngs(tmp_path / "trainB", class_images("train", BOOT, 2000))
    test = {"A": write_pngs(tmp_path / "testA", class_images("test", SNEAKER, 200)),
            "B": write_pngs(tmp_path / "testB", class_images("test", BOOT, 200))}
    api.prepare_pairs(str(tmp_path / "trainA"), str(tmp_path / "trainB"), str(tmp_path / "data"), mode="unpaired", workers=1)
    clf = classifier_for(str(make_dataset(tmp_path / "labelled", 20000, 32, "fmnist32")), cache_dir=str(tmp_path / "cache"))
    t0 = time.process_time()
    run = api.train("cyclegan-tiny", str(tmp_path / "data"), outdir=str(tmp_path / "runs"),
                    overrides=["train.threads=1"])["run_dir"]
    cpu = time.process_time() - t0
    domain_l1 = api.compare(str(test["A"]), str(test["B"]), metrics=["l1"])["mean"]["l1"]
    lines = [f"\ncyclegan-tiny, 6 kimg, {cpu:.0f} CPU-s training; classifier accuracy on held-out real images "
             f"{clf.real_accuracy:.3f}; test L1 between the domains {domain_l1:.4f}"]
    for src, direction, back, want, other in (("A", "AtoB", "BtoA", BOOT, SNEAKER), ("B", "BtoA", "AtoB", SNEAKER, BOOT)):
        fake, rec = tmp_path / direction, tmp_path / f"{direction}-cycle"
        api.translate(run, [str(test[src])], str(fake), direction=direction, device="cpu")
        api.translate(run, [str(fake)], str(rec), direction=back, device="cpu")
        before = clf.logits(_gray(test[src])).argmax(1).numpy()
        pred = clf.logits(_gray(fake)).argmax(1).numpy()
        target, kept = float((pred == want).mean()), float((pred == other).mean())
        cycle_l1 = api.compare(str(test[src]), str(rec), metrics=["l1"])["mean"]["l1"]
        lines.append(f"{direction}: inputs called the target class {float((before == want).mean()):.3f}, translations "
                     f"{target:.3f} (source class {kept:.3f}); cycle L1 {cycle_l1:.4f} ({cycle_l1 / domain_l1:.2f} x domains)")
        assert target > 0.5, lines[-1]
        assert cycle_l1 <= 0.5 * domain_l1, lines[-1]
    print("\n".join(lines))
