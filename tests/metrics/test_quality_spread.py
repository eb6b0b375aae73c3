"""The quality table's spread column (tests/benchmarks/bench_quality.py): diagnose's mode-collapse measure per class in
the classifier's feature space, its table cell, and the checkpoint --rescore samples a row's generator from."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bq():
    sys.path.insert(0, str(ROOT / "tests"))  # bench_quality imports tests/_image_tasks.py
    spec = importlib.util.spec_from_file_location("bench_quality_spread", ROOT / "tests" / "benchmarks" / "bench_quality.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _real(rng, classes=4, per=60, dim=16):
    """Features of real images: one Gaussian cloud per class."""
    centres = rng.normal(0, 6, (classes, dim))
    labels = np.repeat(np.arange(classes), per)
    return torch.from_numpy(centres[labels] + rng.normal(0, 1, (len(labels), dim))).float(), labels, centres


def test_spread_calls_one_image_per_class_severe_and_names_the_class(bq):
    rng = np.random.default_rng(0)
    real, real_labels, centres = _real(rng)
    labels = np.arange(200) % 4
    varied = torch.from_numpy(centres[labels] + rng.normal(0, 1, (200, 16))).float()
    # Class 2 drawn as (nearly) one image; the other classes as varied as the data.
    noise = np.where((labels == 2)[:, None], 0.05, 1.0) * rng.normal(0, 1, (200, 16))
    collapsed = torch.from_numpy(centres[labels] + noise).float()
    names = ["a", "b", "c", "d"]
    ok = bq.spread(varied, labels, real, real_labels, names)
    bad = bq.spread(collapsed, labels, real, real_labels, names)
    assert ok["collapse"] == "ok" and 0.8 < ok["spread"] < 1.2
    assert bad["collapse"] == "severe" and bad["spread"] < 0.1 and bad["spread_group"] == "class 2 (c)"
    assert bq.spread_cell(bad) == f"{bad['spread']:.2f} severe, class 2 (c)"
    assert bq.spread_cell(ok) == f"{ok['spread']:.2f}"
    assert bq.spread_cell({}) == "-"


def test_spread_of_an_unconditional_generator_is_over_all_samples(bq):
    rng = np.random.default_rng(1)
    real, real_labels, _ = _real(rng)
    one_mode = real[:1].repeat(120, 1) + 0.5 * torch.randn(120, 16, generator=torch.Generator().manual_seed(0))
    got = bq.spread(one_mode, None, real, real_labels)
    assert got["spread_group"] == "all samples" and got["collapse"] == "severe"
    assert bq.spread_cell(got) == f"{got['spread']:.2f} severe"  # no class to name


def test_checkpoint_at_is_the_first_written_at_or_past_the_rows_kimg(bq, tmp_path):
    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    for nimg in (15008, 30016, 60000):
        (ck / f"state-{nimg:012d}.safetensors").write_bytes(b"")
    (ck / "state-000000045000.safetensors.tmp").write_bytes(b"")  # an unfinished write is never a checkpoint
    assert bq.checkpoint_at(tmp_path / "run", 30).name == "state-000000030016.safetensors"
    assert bq.checkpoint_at(tmp_path / "run", 40).name == "state-000000060000.safetensors"
    assert bq.checkpoint_at(tmp_path / "run", 61) is None
    assert bq.checkpoint_at(tmp_path / "gone", 30) is None


def test_reclassify_scores_a_rows_own_run_again_with_the_current_classifier(bq, tiny_cgan_run, fmnist32, tmp_path,
                                                                           monkeypatch):
    """A row scored by another classifier (its key "old") gets a twin row scored by the current one from the row's own
    checkpoint, with the row's training fields; a row whose run is gone is skipped; a second pass adds nothing."""
    import json

    from ganctl.metrics.classifier import classifier_for

    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    trained = {"dataset": "fm", "preset": "cgan-fashion-mnist", "set": ["model.g_channels=8", "model.d_channels=8"],
               "kimg": 0.064, "cpu_min": 0.25, "wall_s": 20.0, "fd": 1.0, "class_acc": 0.5, "num": 64, "classifier": "old",
               "date": "2026-12-01 00:00"}
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([{**trained, "run": str(tiny_cgan_run)},
                                {**trained, "kimg": 0.128, "run": str(tmp_path / "gone")}]))
    argv = ["--reclassify", "--all-rows", "--data", f"fm={fmnist32}", "--json", str(rows), "--num", "64",
            "--classifier-steps", "20", "--outdir", str(tmp_path / "work")]
    assert bq.main(argv) == 0
    tag = Path(classifier_for(fmnist32, steps=20).meta["path"]).stem
    got = json.loads(rows.read_text())
    twins = [r for r in got if r.get("rescored_from") == "old"]
    assert len(twins) == 1 and len(got) == 4  # the two rows, the twin, the current classifier's floor row
    t = twins[0]
    assert t["classifier"] == tag and t["run"] == str(tiny_cgan_run) and t["trained_date"] == "2026-12-01 00:00"
    assert {k: t[k] for k in ("set", "kimg", "cpu_min", "wall_s")} == {k: trained[k] for k in ("set", "kimg", "cpu_min", "wall_s")}
    assert np.isfinite(t["fd"]) and t["fd"] != 1.0 and 0 <= t["class_acc"] <= 1 and t["fd_untrained"] > 0
    assert any(r["preset"] == "real (floor)" and r["classifier"] == tag for r in got)
    assert bq.main(argv) == 0
    assert len(json.loads(rows.read_text())) == 4


def test_merge_rows_replaces_in_place_and_appends_one_row_per_new_key(bq):
    row = lambda fd, kimg=10.0, c="k": {"dataset": "d", "preset": "p", "kimg": kimg, "num": 64, "classifier": c, "fd": fd}  # noqa: E731
    merged = bq.merge_rows([row(1.0), row(2.0, 20.0)], [row(3.0), row(4.0, 30.0), row(5.0, 30.0)])
    assert [(r["kimg"], r["fd"]) for r in merged] == [(10.0, 3.0), (20.0, 2.0), (30.0, 5.0)]
    assert len(bq.merge_rows([row(1.0)], [row(1.5, c="other")])) == 2  # another classifier's row is another row
