"""BasicSR's learning-rate schedules on the SR family (models/sr/schedule.py), in images: the rates equal BasicSR's
own schedulers' step for step (recorded once with its code by tests/models/record_basicsr_lr.py), the presets carry
BasicSR's milestones converted to images, the engine trains at them (logged per tick), and resume lands on the same
rate (G, D and both optimizers bit-identical)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from _procs import checkpoint_state

# BasicSR 8d56e3a, base rate 2e-4: MultiStepLR milestones [3, 7] gamma 0.5; CosineAnnealingRestartLR periods [10, 10, 6],
# restart_weights [1, 0.5, 0.25], eta_min 1e-7. Entry k: the rate of iteration k + 1 (after k scheduler steps).
BASICSR = {
    "multistep": [2e-4, 2e-4, 2e-4, 1e-4, 1e-4, 1e-4, 1e-4, 5e-5, 5e-5, 5e-5, 5e-5, 5e-5],
    "cosine_restart": [
        0.0002, 0.00019510809880370062, 0.000180911248587776, 0.0001587991359666327, 0.000130936248587776, 0.00010005,
        6.916375141222402e-05, 4.130086403336732e-05, 1.9188751412224014e-05, 4.991901196299404e-06, 1e-07,
        9.760404940185031e-05, 9.0505624293888e-05, 7.944956798331635e-05, 6.5518124293888e-05, 5.0075000000000004e-05,
        3.463187570611201e-05, 2.070043201668366e-05, 9.644375706112008e-06, 2.545950598149702e-06, 1e-07,
        4.672730977706367e-05, 3.758125e-05, 2.50875e-05, 1.2593750000000006e-05, 3.4476902229363377e-06, 1e-07],
}
BATCH = 16


def _schedule(*overrides):
    from ganctl.config import resolve_config
    from ganctl.engine.schedule import make_schedule

    return make_schedule(resolve_config("sr-tiny", None, ["optim.g.lr=2e-4", "optim.d.lr=1e-4", f"train.batch={BATCH}",
                                                          *overrides]), 32)


@pytest.mark.parametrize("scheme,ov", [
    ("multistep", ["model.lr_milestones_kimg=[0.048,0.112]"]),  # BasicSR's [3, 7] iterations x 16 images
    ("cosine_restart", ["model.lr_periods_kimg=[0.16,0.16,0.096]", "model.lr_restart_weights=[1,0.5,0.25]",
                        "model.lr_eta_min=1e-7"]),
])
def test_rates_equal_basicsr_step_for_step(scheme, ov):
    s = _schedule(f"model.lr_scheme={scheme}", *ov)
    assert s.lr_varies
    for k, want in enumerate(BASICSR[scheme]):
        st = s.at(k * BATCH)
        assert st.lr_g == pytest.approx(want, rel=1e-12, abs=1e-18), k
        assert st.lr_d == pytest.approx(want / 2, rel=1e-6, abs=1e-7), k  # D's base 1e-4 (BasicSR schedules both)


def test_presets_carry_basicsr_schedules_in_images():
    from ganctl.config import resolve_config
    from ganctl.engine.schedule import make_schedule

    s = make_schedule(resolve_config("esrgan-x4"), 128)  # [50k, 100k, 200k, 300k] iterations x batch 16, gamma 0.5
    assert (s.scheme, s.milestones, s.gamma) == ("multistep", [800_000, 1_600_000, 3_200_000, 4_800_000], 0.5)
    assert s.at(800_000 - 16).lr_g == 1e-4 and s.at(800_000).lr_g == 5e-5 and s.at(6_399_984).lr_d == 6.25e-6
    assert make_schedule(resolve_config("srgan-x4"), 128).milestones == s.milestones
    p = make_schedule(resolve_config("esrgan-psnr-x4"), 128)  # 4 x 250k iterations of 16, eta_min 1e-7
    assert (p.scheme, p.periods, p.weights, p.eta_min) == ("cosine_restart", [4_000_000] * 4, [1.0] * 4, 1e-7)
    assert p.at(0).lr_g == 2e-4 and p.at(4_000_000).lr_g == pytest.approx(1e-7) and p.at(4_000_016).lr_g > 1.99e-4
    for name, end in (("realesrgan-x4plus", 19_200_000), ("realesrnet-x4plus", 48_000_000)):
        r = make_schedule(resolve_config(name), 256)  # Real-ESRGAN: one milestone at its last iteration (x batch 48)
        assert (r.scheme, r.milestones) == ("multistep", [end]), name
    assert not make_schedule(resolve_config("sr-tiny"), 32).lr_varies


def test_bad_schedule_settings_are_refused(tmp_path, fmnist32):
    from ganctl import api
    from ganctl.errors import UsageError

    for ov, needle in ((["model.lr_scheme=step"], "model.lr_scheme: 'step' is not one of"),
                       (["model.lr_scheme=cosine_restart"], "model.lr_periods_kimg"),
                       (["model.lr_scheme=cosine_restart", "model.lr_periods_kimg=[1,1]", "model.lr_restart_weights=[1]"],
                        "one weight per period"),
                       (["model.lr_scheme=multistep", "model.lr_milestones_kimg=[-1]"], "lr_milestones_kimg: must be >= 0")):
        with pytest.raises(UsageError, match=needle):
            _schedule(*ov)
    with pytest.raises(UsageError, match="one weight per period"):  # before the run directory exists
        api.train("sr-tiny", str(fmnist32), outdir=str(tmp_path / "runs"),
                  overrides=["model.lr_scheme=cosine_restart", "model.lr_periods_kimg=[1,1]"])
    assert not (tmp_path / "runs").exists()


def test_training_follows_the_schedule_and_resumes_on_it(tmp_path, fmnist32, one_cpu_thread):
    """4 steps of 8 with a milestone after step 2: the ticks log 2e-4 then 1e-4, and 2 steps + resume to 4 equal 4."""
    import json

    from ganctl import api

    ov = ["model.num_feat=8", "model.num_conv=2", "train.batch=8", "train.tick_kimg=0.008", "train.grid_size=2",
          "train.threads=1", "train.workers=0", "optim.g.lr=2e-4", "loss.gan_weight=0.1", "model.discriminator=unet",
          "model.d_num_feat=8", "model.lr_scheme=multistep", "model.lr_milestones_kimg=[0.016]"]
    straight = Path(api.train("sr-tiny", str(fmnist32), outdir=str(tmp_path / "a"), kimg=0.032, seed=4, overrides=ov)["run_dir"])
    half = Path(api.train("sr-tiny", str(fmnist32), outdir=str(tmp_path / "b"), kimg=0.016, seed=4, overrides=ov)["run_dir"])
    api.resume(str(half), kimg=0.032)
    lrs = [json.loads(x)["Schedule/lr_g"] for x in (straight / "stats.jsonl").read_text().splitlines()]
    assert lrs == [2e-4, 2e-4, 1e-4, 1e-4]  # the rate of the tick's (last) step
    a, b = checkpoint_state(straight), checkpoint_state(half)
    assert a.keys() == b.keys() and any(k.startswith("opt_D/state/") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs after resume across the milestone"
