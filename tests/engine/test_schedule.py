"""The schedule is a pure function of cur_nimg: phases, alpha, per-resolution batch/lr, resets, reals blending."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganctl.config import resolve_config
from ganctl.engine.schedule import ConstantSchedule, ProgressiveSchedule, make_schedule
from ganctl.errors import UsageError


def _cfg(**progressive):
    cfg = resolve_config("dcgan-fashion-mnist")
    cfg["progressive"].update(progressive)
    return cfg


def test_constant_schedule_is_the_config():
    cfg = resolve_config("dcgan-fashion-mnist", overrides=["train.batch=32", "optim.g.lr=0.001"])
    s = ConstantSchedule(cfg, 32)
    a, b = s.at(0), s.at(10**9)
    assert a == b and a.batch == 32 and a.lr_g == 0.001 and a.alpha == 1.0 and a.resolution == 32
    assert not a.reset_optimizers and not s.has_stages
    x = torch.randn(2, 1, 32, 32)
    assert s.process_reals(x, a) is x


def test_progressive_phases_alpha_and_lookups():
    cfg = _cfg(start_res=4, phase_kimg=1.0, fade_kimg=2.0, batch={4: 16, 8: 8, 16: 4}, lr={16: 0.002})
    cfg["optim"]["g"]["lr"] = cfg["optim"]["d"]["lr"] = 0.001
    s = ProgressiveSchedule(cfg, 16)
    phases = s.phases()
    assert [(p.kind, p.resolution, p.start_nimg, p.end_nimg) for p in phases] == [
        ("stabilise", 4, 0, 1000), ("fade", 8, 1000, 3000), ("stabilise", 8, 3000, 4000), ("fade", 16, 4000, 6000),
        ("stabilise", 16, 6000, None)]
    assert s.at(999).index == 0 and s.at(999).alpha == 1.0 and s.at(999).batch == 16
    mid = s.at(2000)
    assert (mid.kind, mid.resolution, mid.alpha, mid.batch) == ("fade", 8, 0.5, 8)  # 8's batch applies in its fade-in
    assert s.at(1000).alpha == 0.0 and s.at(1500).alpha == 0.25
    assert s.at(5000).lr_g == 0.002 and s.at(2000).lr_g == 0.001  # lr map with fallback to optim.*.lr
    assert s.at(10**9).index == 4 and s.at(10**9).alpha == 1.0
    assert [p.reset_optimizers for p in phases] == [False, True, True, True, True]
    assert s.at(1234) == s.at(1234)  # pure


def test_progressive_keys_checked_against_dataset_resolution():
    with pytest.raises(UsageError, match=r"progressive.batch: resolution 64 is above the dataset's resolution 32"):
        ProgressiveSchedule(_cfg(batch={64: 4}), 32)
    with pytest.raises(UsageError, match="progressive.start_res"):
        ProgressiveSchedule(_cfg(start_res=6), 32)


def test_reals_are_box_downsampled_and_blended_like_the_official_code():
    cfg = _cfg(start_res=4, phase_kimg=1.0, fade_kimg=1.0)
    s = ProgressiveSchedule(cfg, 16)
    x = torch.randn(3, 1, 16, 16)
    stable8 = s.at(2500)
    assert stable8.resolution == 8 and stable8.alpha == 1.0
    torch.testing.assert_close(s.process_reals(x, stable8), F.avg_pool2d(x, 2))
    fade8 = s.at(1250)  # alpha 0.25 into 8x8
    x8 = F.avg_pool2d(x, 2)
    coarse = F.avg_pool2d(x8, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(s.process_reals(x, fade8), 0.25 * x8 + 0.75 * coarse)
    start = s.at(1000)  # alpha 0: exactly the 4x4 reals, upsampled
    torch.testing.assert_close(s.process_reals(x, start), F.avg_pool2d(x, 4).repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_resolution_map_keys_validated_in_config():
    with pytest.raises(UsageError, match=r"progressive.batch: 12 is not a resolution"):
        resolve_config("dcgan-fashion-mnist", overrides=["progressive.batch={12: 4}"])
    with pytest.raises(UsageError, match="has no growing schedule"):
        resolve_config("dcgan-fashion-mnist", overrides=["progressive.fade_kimg=3"])


def test_constant_schedule_decays_linearly_to_zero_when_asked():
    cfg = resolve_config("sagan-tiny", overrides=["train.lr_constant_kimg=30", "train.lr_decay_kimg=20",
                                                  "optim.g.lr=0.0005", "optim.d.lr=0.002"])
    s = make_schedule(cfg, 32)
    assert isinstance(s, ConstantSchedule) and s.lr_varies and not s.has_stages
    rates = [(s.at(n).lr_g, s.at(n).lr_d) for n in (0, 30_000, 35_000, 50_000, 90_000)]
    expected = [(5e-4, 2e-3), (5e-4, 2e-3), (3.75e-4, 1.5e-3), (0.0, 0.0), (0.0, 0.0)]  # both rates, one line each
    assert [pytest.approx(r) for r in expected] == rates
    assert {s.at(n).index for n in (0, 40_000, 10**9)} == {0}  # one phase: the optimizers are never rebuilt
    assert not make_schedule(resolve_config("sagan-tiny"), 32).lr_varies  # the default: constant, never set per step


def test_decay_keys_are_refused_where_the_family_has_its_own_schedule():
    for preset in ("progan-tiny", "pix2pix-tiny", "sr-tiny"):
        cfg = resolve_config(preset, overrides=["train.lr_decay_kimg=5"])
        with pytest.raises(UsageError, match=r"train.lr_constant_kimg / train.lr_decay_kimg: model.family=\w+ sets its rates"):
            make_schedule(cfg, 32)
    with pytest.raises(UsageError, match="train.lr_decay_kimg: must be >= 0"):
        make_schedule(resolve_config("sagan-tiny", overrides=["train.lr_decay_kimg=-1"]), 32)


def test_a_decaying_run_sets_logs_and_resumes_its_rates(tmp_path, fmnist28, cli):
    """The optimizers follow the line step by step (stats.jsonl logs the rate at each tick) and a run resumed inside the
    decay ends bit-identical to the straight one: the rate is a function of cur_nimg, not state."""
    from safetensors.torch import load_file

    from ganctl.engine.checkpoint import latest_checkpoint
    from ganctl.diagnose.history import read_jsonl
    from ganctl.engine.rundir import STATS

    args = ["--preset", "vanilla-mnist", "--data", fmnist28, "--seed", "2", "model.hidden=[32]", "model.d_hidden=[32]",
            "model.z_dim=8", "train.batch=16", "train.tick_kimg=0.032", "train.grid_size=4", "train.snapshot_ticks=1",
            "train.lr_constant_kimg=0.032", "train.lr_decay_kimg=0.064"]
    straight = Path(cli("train", *args, "--kimg", "0.128", "--outdir", tmp_path / "a", check=0).stdout.strip())
    half = Path(cli("train", *args, "--kimg", "0.064", "--outdir", tmp_path / "b", check=0).stdout.strip())
    cli("resume", half, "--kimg", "0.128", check=0)
    g, d = 2e-4, 4e-4  # vanilla-mnist's rates. A tick's record carries the rate of its last step, which starts 16 images
    # before the tick's end: at 16, 48, 80, 112 images, 32 constant then 64 of decay -> 1, 0.75, 0.25, 0 of the rate.
    logged = [(r["Progress/kimg"], r["Schedule/lr_g"], r["Schedule/lr_d"]) for r in read_jsonl(straight / STATS)]
    assert logged == pytest.approx([(0.032, g, d), (0.064, g * 0.75, d * 0.75), (0.096, g * 0.25, d * 0.25),
                                    (0.128, 0.0, 0.0)], abs=1e-12)
    a = load_file(str(latest_checkpoint(straight / "checkpoints")))
    b = load_file(str(latest_checkpoint(half / "checkpoints")))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
