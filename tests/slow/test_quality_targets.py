"""The small presets' quality targets (issue 21) on data no preset was tuned on: within 10 CPU-minutes, generated
images reach a Frechet distance below a quarter of the untrained generator's, in the dataset's own classifier's
feature space, and (conditional presets) a class accuracy of at least 0.8 of the classifier's accuracy on held-out
real images. The same measurement as tests/benchmarks/bench_quality.py (its helpers, one copy), in process.

The datasets are built by examples/make_datasets.py from Debian font packages (.ci/run installs them); without the
fonts the glyphs36 / emoji8 cases skip with the reason. Fashion-MNIST comes from /usr/share/datasets/fashion-mnist.

Run: python -m pytest -m slow tests/slow/test_quality_targets.py -s   (prints the row for the README)
Each case trains one preset on one thread (2.5-8.5 CPU-minutes each on the 2-core CI machine) after building its dataset.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from _testdata import FMNIST

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CPU_MINUTES = 10.0
FD_RATIO = 0.25
ACC_OF_REAL = 0.8


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Builds each dataset on first use: name -> prepared dataset path, or a skip reason."""
    root = tmp_path_factory.mktemp("quality-data")
    made: dict = {}

    def get(name: str) -> Path:
        if name not in made:
            if name == "fmnist32":
                from ganctl import api

                if not FMNIST.is_dir():
                    pytest.skip(f"Fashion-MNIST is not at {FMNIST}")
                api.prepare_data(str(FMNIST), str(root / "fmnist32"), resolution=32, policy="pad", val_fraction=0.05)
                made[name] = root / "fmnist32"
            else:
                mk = _load("make_datasets", ROOT / "examples" / "make_datasets.py")
                if name == "glyphs36" and len(mk.font_faces(40)) < 40:
                    made[name] = "glyphs36: fewer than 40 usable fonts installed (apt-get the fonts-* list in .ci/run)"
                elif name == "emoji8" and not any(Path(d).glob("**/NotoColorEmoji*.ttf") for d in mk.FONT_DIRS):
                    made[name] = "emoji8: Noto Color Emoji is not installed (apt-get install fonts-noto-color-emoji)"
                else:
                    (mk.build_glyphs if name == "glyphs36" else mk.build_emoji)(root / name)
                    made[name] = root / name
        if isinstance(made[name], str):
            pytest.skip(made[name])
        return made[name]

    return get


# (preset, dataset, kimg): None = the preset's own length; a number where a shorter run already meets the targets (the
# README's quality table has each row). Cases measured below a target (biggan-tiny's class accuracy everywhere, the cGAN's
# on emoji8; issue 21, not solved yet) are expected failures that turn into passes when a preset change fixes them.
BIGGAN = pytest.mark.xfail(reason="biggan-tiny at its 60 kimg: class_acc 0.66 of real on emoji8, 0.11 on glyphs36 "
                                     "(target 0.8; FD met); see the README's quality table", strict=False)
CGAN_EMOJI = pytest.mark.xfail(reason="cgan-fashion-mnist on emoji8: class_acc 0.589 at its 200 kimg (target 0.64), FD met; "
                                      "see the README's quality table", strict=False)
CASES = [
    ("cgan-fashion-mnist", "fmnist32", 60),
    ("cgan-fashion-mnist", "glyphs36", 120),
    pytest.param("cgan-fashion-mnist", "emoji8", None, marks=CGAN_EMOJI),
    pytest.param("biggan-tiny", "glyphs36", None, marks=BIGGAN),
    ("biggan-tiny", "fmnist32", None),
    pytest.param("biggan-tiny", "emoji8", None, marks=BIGGAN),
]


@pytest.mark.parametrize("preset,dataset,kimg", CASES)
def test_preset_meets_the_quality_targets(preset, dataset, kimg, datasets, tmp_path, one_cpu_thread):
    from ganctl import api
    from ganctl.data.dataset import PreparedDataset, open_validation
    from ganctl.metrics.classifier import classifier_for
    from ganctl.sampling.generate import load_generator

    bq = _load("bench_quality", ROOT / "tests" / "benchmarks" / "bench_quality.py")
    path = datasets(dataset)
    clf = classifier_for(path)
    ds, val = PreparedDataset(path), open_validation(path)
    num = 1000
    real = bq.stats(clf.features(ds.get_batch(bq.evenly(len(ds), num))[0]))

    t0 = time.process_time()
    res = api.train(preset=preset, data=str(path), kimg=kimg, outdir=str(tmp_path / "runs"), device="cpu",
                    overrides=["train.threads=1"])
    cpu_min = (time.process_time() - t0) / 60
    run = Path(res["run_dir"])
    dev = torch.device("cpu")
    (g, acc), (u, u_acc) = bq.generated(load_generator(str(run), dev), clf, num), bq.generated(bq.untrained(run, dev), clf, num)
    fd, fd_u = bq.fd(g, real), bq.fd(u, real)
    floor = bq.fd(bq.stats(clf.features(val.get_batch(bq.evenly(len(val), num))[0])), real)
    print(f"\n{dataset} {preset} {kimg or 'preset'} kimg: {cpu_min:.2f} CPU-min; FD {fd:.1f} (real {floor:.2f}, untrained {fd_u:.1f}, ratio "
          f"{fd / fd_u:.3f}); class_acc {acc if acc is None else round(acc, 3)} (untrained "
          f"{u_acc if u_acc is None else round(u_acc, 3)}, real {clf.real_accuracy:.3f})")
    assert cpu_min <= CPU_MINUTES
    assert fd < FD_RATIO * fd_u
    if acc is not None:
        assert acc >= ACC_OF_REAL * clf.real_accuracy
