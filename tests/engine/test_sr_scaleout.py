"""Super-resolution under scale-out and faults, as for every family: 2 gloo processes equal 1 process on the first
step's gradients (with Real-ESRGAN's degradation, so each rank's LR inputs must be the pure (seed, position) ones),
SIGKILL at random moments + `ganctl resume` ends bit-identical to an uninterrupted run (G, G_ema, D and both
optimizers' state), and the engine's non-finite guard stops or skips an SR run like a noise one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from _procs import ONE_THREAD, checkpoint_state, kill_and_resume, torchrun_train

# sr-tiny made tinier, GAN stage on: the U-Net D (spectral norm, per-pixel logits, no batch norm) and Real-ESRGAN's
# second-order degradation, whose random draws are the part a rank could get wrong.
SR_OV = ["model.num_feat=8", "model.num_conv=2", "model.discriminator=unet", "model.d_num_feat=8",
         "model.degradation=realesrgan", "loss.gan_weight=0.1", "loss.gan_type=vanilla", "train.grid_size=2",
         "train.threads=1", "train.workers=0"]
SR = ["--preset", "sr-tiny", *SR_OV, "--seed", "7"]


def test_two_gloo_processes_match_one_on_the_first_step(tmp_path, fmnist32, one_cpu_thread):
    """One step of batch 4: one process (one chunk of 4) vs two gloo processes (2 each). Adam's first moments after one
    step are 0.1 x the all-reduced gradients, so comparing them compares the first step's gradients of G and D."""
    from ganctl import api

    ov = SR_OV + ["train.batch=4", "train.tick_kimg=0.004"]
    one = Path(api.train("sr-tiny", str(fmnist32), outdir=str(tmp_path / "one"), kimg=0.004, seed=7,
                         overrides=ov + ["train.batch_gpu=4"])["run_dir"])  # in this process: one torch start fewer
    p = torchrun_train("--preset", "sr-tiny", *ov, "train.batch_gpu=2", "--seed", "7", "--data", fmnist32, "--kimg",
                       "0.004", "--outdir", tmp_path / "two")
    two = Path(p.stdout.strip().splitlines()[-1])
    a, b = checkpoint_state(one), checkpoint_state(two)
    assert a.keys() == b.keys()
    moments = [k for k in a if k.startswith(("opt_G/state/", "opt_D/state/")) and k.endswith("exp_avg")]
    assert any(k.startswith("opt_G/") for k in moments) and any(k.startswith("opt_D/") for k in moments)
    for k in moments:
        assert a[k].abs().sum() > 0, k  # a real gradient, not an untouched parameter
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-9, msg=k)
    for k in a:
        if k.startswith(("G/", "D/", "G_ema/")):  # weights after the step, and the spectral-norm vectors
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-6, msg=k)


def test_sigkill_at_random_moments_then_resume_is_exact(tmp_path, fmnist32, cli):
    args = [*SR, "--data", fmnist32, "train.batch=8", "train.tick_kimg=0.008", "train.snapshot_ticks=1",
            "train.image_snapshot_ticks=1000"]
    kimg = "0.16"
    ref = Path(cli("train", *args, "--kimg", kimg, "--outdir", tmp_path / "ref", env=ONE_THREAD, check=0).stdout.strip())
    run, kills = kill_and_resume(args, tmp_path / "k", kimg, trials=2)
    assert kills >= 1
    a, b = checkpoint_state(ref), checkpoint_state(run)
    assert a.keys() == b.keys()
    for prefix in ("G/", "G_ema/", "D/", "opt_G/state/", "opt_D/state/"):
        assert any(k.startswith(prefix) for k in a), prefix
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs after kill + resume"


def test_nonfinite_stops_or_skips(tmp_path, fmnist32, one_cpu_thread):
    """The guard is the engine's (family-blind): a diverging SR run stops with the one-line message, nothing torn;
    with train.nonfinite=skip the non-finite steps are skipped and counted."""
    from ganctl import api
    from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint
    from ganctl.errors import GanctlError

    ov = SR_OV + ["train.batch=4", "train.tick_kimg=0.004", "train.snapshot_ticks=1", "optim.g.lr=1e30",
                  "optim.d.lr=1e30"]
    with pytest.raises(GanctlError, match="training diverged: non-finite .*train.nonfinite=skip"):
        api.train("sr-tiny", str(fmnist32), outdir=str(tmp_path / "stop"), kimg=0.04, seed=7, overrides=ov)
    for ck in (tmp_path / "stop").glob("*/*/checkpoints/state-*.safetensors"):
        tensors, _ = load_checkpoint(ck)
        assert all(t.isfinite().all() for t in tensors.values() if t.is_floating_point())
    r = api.train("sr-tiny", str(fmnist32), outdir=str(tmp_path / "skip"), kimg=0.008, seed=7,
                  overrides=ov + ["train.nonfinite=skip"])
    import json

    stats = [json.loads(x) for x in (Path(r["run_dir"]) / "stats.jsonl").read_text().splitlines()]
    assert sum(s.get("Progress/nonfinite_skips", 0) for s in stats) > 0
    load_checkpoint(latest_checkpoint(Path(r["run_dir"]) / "checkpoints"))
