"""ganctl diagnose: a generator that ignores z (a truly collapsed one) is told apart from one that uses it; a degrading metric history is
severe and names the best checkpoint; stats spikes/non-finite values are found; --strict/--json through the CLI.

Features are pixels here (Inception on 2 CPU cores is ~0.4 s/image); the finding says so. The conditioning check runs on
these conditional runs too, with a 50-step classifier to keep it cheap (tests/diagnose/test_conditioning.py tests it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ganctl.diagnose.diversity import collapse_findings
from ganctl.diagnose.history import metric_findings, stats_findings
from ganctl.engine import checkpoint as ckpt


def _collapsed_copy(run: Path, dest: Path) -> Path:
    """The run with G_ema's (and G's) first layer blind to z: every sample of a class is the same image."""
    shutil.copytree(run, dest, symlinks=True)
    path = ckpt.latest_checkpoint(dest / "checkpoints")
    tensors, meta = ckpt.load_checkpoint(path)
    z_dim = meta["config"]["model"]["z_dim"]
    for prefix in ("G", "G_ema"):
        w = tensors[f"{prefix}/net.0.weight"]  # ConvTranspose2d(in = z_dim + embed_dim, ...): rows [:z_dim] read z
        w[:z_dim] = 0
    ckpt.save_checkpoint(path, tensors, meta)
    return dest


def _mode(res: dict) -> dict:
    return next(f for f in res["findings"] if f["check"] == "mode-collapse")


def test_collapsed_generator_is_told_apart(tmp_path, tiny_cgan_run, cli):
    collapsed = _collapsed_copy(tiny_cgan_run, tmp_path / "collapsed")
    healthy = json.loads(cli("diagnose", tiny_cgan_run, "--json", "--num", "60", "--features", "pixel", "--device", "cpu", "--classifier-steps", "50", check=0).stdout)
    bad = cli("diagnose", collapsed, "--json", "--num", "60", "--features", "pixel", "--device", "cpu", "--classifier-steps", "50", "--strict")
    assert bad.returncode == 1, bad.stderr  # --strict: a severe finding fails CI
    bad = json.loads(bad.stdout)
    h, b = _mode(healthy), _mode(bad)
    assert b["severity"] == "severe" and b["summary"].startswith("mode collapse")
    # Conditional: judged per class. Ignoring z makes every class's samples identical images.
    assert b["evidence"]["ratio"] < 1e-3 and b["evidence"]["duplicate_share_generated"] == 1.0
    assert len(b["evidence"]["classes_collapsed"]) == 10
    assert h["evidence"]["ratio"] > 100 * max(b["evidence"]["ratio"], 1e-6)
    # The "healthy" run has seen 64 images, so its samples are similar noise (the check rightly calls them low in
    # diversity too); what separates it from the collapsed copy is that its samples still move with z.
    assert h["evidence"]["diversity_generated"] > 100 * max(b["evidence"]["diversity_generated"], 1e-6)
    assert "pixels" in h["evidence"]["features"]
    assert any(f["check"] == "d-overfitting" for f in healthy["findings"])


def test_unconditional_features_and_birthday_share():
    rng = np.random.RandomState(0)
    real = rng.randn(80, 16)
    ok = collapse_findings(rng.randn(80, 16), real)[0]
    assert ok.severity == "info" and 0.9 < ok.evidence["ratio"] < 1.1
    few_modes = np.repeat(rng.randn(4, 16), 20, axis=0) + 1e-3 * rng.randn(80, 16)  # 4 modes, 20 samples each
    bad = collapse_findings(few_modes, real)[0]
    # 4 equal modes: ~1/4 of the pairs fall inside a mode (birthday-paradox reading), ~25x the real 1%.
    assert bad.severity == "warning" and 0.2 < bad.evidence["duplicate_share_generated"] < 0.3


def test_degrading_metric_history_is_severe_and_names_best(tmp_path, tiny_cgan_run, cli):
    run = tmp_path / "run"
    shutil.copytree(tiny_cgan_run, run, symlinks=True)
    target = ckpt.latest_checkpoint(run / "checkpoints")
    kimg_best = int(target.name.split("-")[1].split(".")[0]) / 1000
    ckpt.point_best(run / "checkpoints", target)
    hist = [(kimg_best - 0.032, 80.0), (kimg_best, 41.0), (kimg_best + 0.5, 52.0), (kimg_best + 1.0, 63.0)]
    (run / "metrics.jsonl").write_text("".join(json.dumps({"kimg": k, "metric": "fid", "value": v, "num": 5000}) + "\n"
                                               for k, v in hist))
    res = json.loads(cli("diagnose", run, "--json", "--num", "20", "--features", "pixel", "--device", "cpu", "--classifier-steps", "50", check=0).stdout)
    reg = next(f for f in res["findings"] if f["check"] == "metric-regression")
    assert reg["severity"] == "severe"
    assert reg["evidence"]["best"] == 41.0 and reg["evidence"]["latest"] == 63.0
    assert target.name in reg["evidence"]["best_checkpoint"] and "checkpoints/best" in reg["evidence"]["best_checkpoint"]
    assert "--checkpoint best" in " ".join(reg["advice"])
    # Within the margin: not severe. IS improves upwards.
    assert metric_findings([{"kimg": 1, "metric": "fid", "value": 40.0}, {"kimg": 2, "metric": "fid", "value": 42.0}])[0].severity == "info"
    assert metric_findings([{"kimg": 1, "metric": "is", "value": 9.0}, {"kimg": 2, "metric": "is", "value": 6.0}])[0].severity == "severe"


def test_stats_spikes_nonfinite_and_penalty_blowup():
    stats = [{"Progress/kimg": i, "Loss/D/loss": 0.7 + 0.01 * np.sin(i), "Loss/G/loss": 1.0 + 0.01 * np.cos(i),
              "Loss/D/r1": 0.05 + 0.001 * i} for i in range(30)]
    assert not [f for f in stats_findings(stats) if f.severity in ("warning", "severe")]
    stats[20]["Loss/G/loss"] = 9.0
    for r in stats[24:]:
        r["Loss/D/r1"] = 5.0
    stats[29]["Loss/D/loss"] = float("nan")
    got = {f.check: f for f in stats_findings(stats)}
    assert {"key": "Loss/G/loss", "kimg": 20.0} in [{k: s[k] for k in ("key", "kimg")} for s in got["instability"].evidence["spikes"]]
    assert got["non-finite"].severity == "severe" and got["non-finite"].evidence["first"]["kimg"] == 29
    assert got["gp-blowup"].severity == "severe"


def test_val_split_and_wasserstein_note(tmp_path, cli):
    from ganctl.data.dataset import PreparedDataset, open_validation
    from ganctl.diagnose.overfit import overfit_findings
    import torch

    out = tmp_path / "fm"
    cli("prepare-data", "/usr/share/datasets/fashion-mnist", out, "--max-images", "200", "--val-fraction", "0.1", check=0)
    train, val = PreparedDataset(out), open_validation(out)
    assert (len(train), len(val)) == (180, 20)
    # Disjoint: no held-out image is in the training file.
    t = {bytes(x) for x in train.images.reshape(180, -1)}
    assert not any(bytes(x) in t for x in val.images.reshape(20, -1))
    assert open_validation(tmp_path) is None
    assert cli("prepare-data", "/usr/share/datasets/fashion-mnist", tmp_path / "x", "--max-images", "10",
               "--val-fraction", "1.5").returncode == 2
    w = overfit_findings("wasserstein", torch.randn(10), torch.randn(10))[0]
    assert w.severity == "info" and "not meaningful" in w.summary
    gap = overfit_findings("hinge", torch.ones(50), -torch.ones(50))[0]
    assert gap.severity == "severe" and gap.evidence["accuracy_gap"] == 1.0
    # r = 1 alone is a hint; with a held-out split scored the same, D is not memorising.
    assert overfit_findings("nonsaturating", torch.ones(50), None)[0].severity == "warning"
    same = overfit_findings("nonsaturating", torch.ones(50), torch.ones(50))[0]
    assert same.severity == "info" and same.evidence["sign_train"] == 1.0 and same.evidence["accuracy_gap"] == 0.0


@pytest.mark.slow
def test_collapse_with_detector_features(tmp_path, tiny_cgan_run, cli):
    """Seeded random Inception weights: not the real detector, but features still separate distinct images."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
    from random_inception import WEIGHTS_NAME, write_random_inception

    w = write_random_inception(tmp_path / WEIGHTS_NAME)
    collapsed = _collapsed_copy(tiny_cgan_run, tmp_path / "collapsed")
    args = ["--json", "--num", "40", "--weights", w, "--device", "cpu", "--classifier-steps", "50"]
    h = _mode(json.loads(cli("diagnose", tiny_cgan_run, *args, check=0).stdout))
    b = _mode(json.loads(cli("diagnose", collapsed, *args, check=0).stdout))
    assert h["evidence"]["features"] == b["evidence"]["features"] == "Inception pool3"
    assert b["severity"] == "severe" and b["evidence"]["ratio"] < 1e-3
    assert h["evidence"]["diversity_generated"] > 100 * max(b["evidence"]["diversity_generated"], 1e-9)
