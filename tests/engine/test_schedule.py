"""The schedule is a pure function of cur_nimg: phases, alpha, per-resolution batch/lr, resets, reals blending."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganctl.config import resolve_config
from ganctl.engine.schedule import ConstantSchedule, ProgressiveSchedule
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
