"""The small presets' quality targets (issue 21) on data no preset was tuned on: within 10 CPU-minutes, generated
images reach a Frechet distance below a quarter of the untrained generator's, in the dataset's own classifier's
feature space, and (conditional presets) a class accuracy of at least 0.8 of the classifier's class-balanced accuracy
on held-out real images (image-to-image presets: of its accuracy on the very real images their inputs come from).
The same measurement as tests/benchmarks/bench_quality.py (its helpers, one copy), in process.

The datasets are built by examples/make_datasets.py from Debian font packages (.ci/run installs them); without the
fonts the glyphs36 / emoji8 cases skip with the reason. Fashion-MNIST comes from /usr/share/datasets/fashion-mnist.

Run: python -m pytest -m slow tests/slow/test_quality_targets.py -s   (prints the row for the README)
Each case trains one preset on one thread (1-9 CPU-minutes each on the 2-core CI machine) after building its dataset.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

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


# (preset, dataset, kimg): None = the preset's own length; a number where a shorter (or, within the 10 CPU-minutes,
# longer) run meets the targets (the README's quality table has each row, scored by the thread-pinned classifiers of
# 2026-12-08). Every case met its targets when measured; the ones with little margin say so.
CASES = [
    ("cgan-fashion-mnist", "fmnist32", 60),
    ("cgan-fashion-mnist", "glyphs36", 120),
    ("cgan-fashion-mnist", "emoji8", None),
    ("dcgan-fashion-mnist", "fmnist32", 60),
    ("dcgan-fashion-mnist", "glyphs36", 60),
    ("dcgan-fashion-mnist", "emoji8", 60),
    ("biggan-tiny", "fmnist32", None),
    ("biggan-tiny", "glyphs36", None),
    ("biggan-tiny", "emoji8", None),
    ("sagan-tiny", "fmnist32", None),
    ("sagan-tiny", "glyphs36", None),
    ("sagan-tiny", "emoji8", None),
    ("progan-tiny", "fmnist32", None),
    ("progan-tiny", "glyphs36", None),
    ("progan-tiny", "emoji8", None),
    # 40 kimg since the classifiers of 2026-12-08 (at 20: 0.13 / 0.30 / 0.28 on fmnist32 / glyphs36 / emoji8).
    ("stylegan-tiny", "fmnist32", 40),
    ("stylegan-tiny", "glyphs36", 40),
    ("stylegan-tiny", "emoji8", 40),
    ("stylegan3-tiny", "fmnist32", 20),
    ("stylegan3-tiny", "glyphs36", 22),  # classifiers of 2026-12-08: 0.34 / 0.27 / 0.22 at 14 / 20 / 22 kimg (9.3 CPU-min)
    # emoji8 needs 24 kimg (9.5 CPU-min; 0.35 / 0.26 / 0.22 at 14 / 20 / 24). Seed 2 is far off (see README).
    ("stylegan3-tiny", "emoji8", 24),
    ("wgan-gp-tiny", "fmnist32", 40),
    ("wgan-gp-tiny", "glyphs36", 40),
    ("wgan-gp-tiny", "emoji8", None),
    # vanilla-mnist's wider D, D lr 4e-4 and R1 10 since 2026-12-08 (emoji8 had been 0.31 at 240 kimg): 180 kimg is
    # 3.9 CPU-min on the grey sets and 8.6 on emoji8 (0.24: met, with little margin).
    ("vanilla-mnist", "fmnist32", 180),
    ("vanilla-mnist", "glyphs36", 180),
    ("vanilla-mnist", "emoji8", 180),
    # Image-to-image presets: outputs on held-out inputs (bench_quality.tasks_for), one check per CycleGAN direction.
    ("sr-tiny", "glyphs36", None),
    ("sr-tiny", "fmnist32", None),
    ("sr-tiny", "emoji8", None),
    ("pix2pix-tiny", "glyphs36", None),
    ("pix2pix-tiny", "fmnist32", None),
    # emoji8 (BW -> colour) is met at the default seeds with no margin: 0.81 of real; training seed 2 0.79; the same
    # outputs under classifier seeds 1 / 2: 0.76 / 0.84 (tests/benchmarks/bench_classifier.py).
    ("pix2pix-tiny", "emoji8", None),
    ("cyclegan-tiny", "glyphs36", None),
    ("cyclegan-tiny", "fmnist32", None),
    ("cyclegan-tiny", "emoji8", None),
]


@pytest.mark.parametrize("preset,dataset,kimg", CASES)
def test_preset_meets_the_quality_targets(preset, dataset, kimg, datasets, tmp_path, one_cpu_thread):
    from ganctl import api
    from ganctl.config.load import resolve_config
    from ganctl.data.dataset import PreparedDataset, open_validation
    from ganctl.metrics.classifier import classifier_for
    from ganctl.models import get_family
    from ganctl.sampling.generate import load_generator

    bq = _load("bench_quality", ROOT / "tests" / "benchmarks" / "bench_quality.py")
    path = datasets(dataset)
    clf = classifier_for(path)
    ds, val = PreparedDataset(path), open_validation(path)
    num = 1000
    real_feats, real_labels, real = bq.training_reference(ds, clf, num)
    floor = bq.fd(bq.stats(clf.features(val.get_batch(bq.evenly(len(val), num))[0])), real)
    cfg = resolve_config(preset)
    # What to train on and what each row measures: the dataset and seeds (noise-to-image), or task pairs prepared from
    # it and the outputs on held-out inputs (super-resolution, pix2pix, one row per CycleGAN direction).
    data, tasks = bq.tasks_for(get_family(cfg["model"]["family"]), cfg, dataset, str(path), ds, val, clf, num, tmp_path)

    t0 = time.process_time()
    res = api.train(preset=preset, data=data, kimg=kimg, outdir=str(tmp_path / "runs"), device="cpu",
                    overrides=["train.threads=1"])
    cpu_min = (time.process_time() - t0) / 60
    run = Path(res["run_dir"])
    dev = torch.device("cpu")
    gen, blank = load_generator(str(run), dev, conditioning=None), bq.untrained(run, dev)
    assert cpu_min <= CPU_MINUTES
    for task in tasks:
        ref = task.real or real
        g, acc, spread = bq.generated(gen, clf, num, task, (real_feats, real_labels, ds.label_names))
        u, u_acc, _ = bq.generated(blank, clf, num, task)
        fd, fd_u = bq.fd(g, ref), bq.fd(u, ref)
        acc_real = task.acc_real or clf.real_balanced_accuracy
        print(f"\n{dataset} {preset} {task.name or ''} {kimg or 'preset'} kimg: {cpu_min:.2f} CPU-min; FD {fd:.1f} "
              f"(real {task.fd_real or floor:.2f}, untrained {fd_u:.1f}, ratio {fd / fd_u:.3f}); class_acc "
              f"{acc if acc is None else round(acc, 3)} (untrained {u_acc if u_acc is None else round(u_acc, 3)}, "
              f"real {acc_real:.3f}); spread {bq.spread_cell(spread)} (not a target)")
        assert fd < FD_RATIO * fd_u, task.name
        if acc is not None:
            assert acc >= ACC_OF_REAL * acc_real, task.name


def test_conditioning_finding_tells_the_issues_biggan_run_from_a_healthy_cgan_run(datasets, tmp_path, one_cpu_thread):
    """Issue 21's report: biggan-tiny as the issue found it (biggan_tiny_issue21.yaml, 30 kimg) on glyphs36 learned the
    look but ignored the requested class, and `ganctl diagnose` said only "no collapse". The conditioning finding calls
    that run severe and names its worst classes; a cgan-fashion-mnist run on the same data (60 kimg: 0.72 of real in the
    earlier build's quality table) is not severe and scores several times its ratio."""
    from ganctl import api

    path = str(datasets("glyphs36"))
    found = {}
    for name, how in (("biggan", {"config_file": str(Path(__file__).with_name("biggan_tiny_issue21.yaml"))}),
                      ("cgan", {"preset": "cgan-fashion-mnist", "kimg": 60})):
        res = api.train(data=path, outdir=str(tmp_path / name), device="cpu", overrides=["train.threads=1"], **how)
        result = api.diagnose(res["run_dir"], num=720, features="pixel", device="cpu")  # 20 images per class
        found[name] = next(f for f in result["findings"] if f["check"] == "conditioning")
        print(f"\n{name}: {found[name]['severity']}: {found[name]['summary']}")
    bad, good = found["biggan"], found["cgan"]
    assert bad["severity"] == "severe" and bad["summary"].startswith("generator ignores the requested class")
    assert bad["evidence"]["ratio"] < 0.3 and len(bad["evidence"]["worst_classes"]) == 3
    assert good["severity"] != "severe" and good["evidence"]["ratio"] > 0.6
    assert good["evidence"]["ratio"] > 3 * bad["evidence"]["ratio"]
