"""Differentially private training (ganctl/engine/privacy.py): the DP-SGD step against a per-sample loop, the budget
stopping the run, the epsilon in stats/checkpoint/info, exact resume, refusals, and 2 gloo processes matching one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

pytest.importorskip("opacus")

from ganctl.config.load import resolve_config  # noqa: E402
from ganctl.engine import privacy  # noqa: E402
from ganctl.engine.checkpoint import latest_checkpoint  # noqa: E402
from ganctl.errors import UsageError  # noqa: E402
from ganctl.models import build_networks  # noqa: E402

TINY = ["model.g_channels=8", "model.d_channels=8", "train.batch=16", "train.tick_kimg=0.032", "train.grid_size=4",
        "train.snapshot_ticks=1", "train.threads=1"]


def _cfg(*overrides):
    return resolve_config("dp-cgan-fashion-mnist", overrides=[*TINY, *overrides])


def _d_step(D, real, fake, c):
    """D's loss as the engine computes it for one process (nonsaturating, mean over the batch, gain 1)."""
    return (F.softplus(D(fake, c)) + F.softplus(-D(real, c))).mean()


def test_privatize_is_per_sample_clipping_plus_noise(one_cpu_thread):
    torch.manual_seed(0)
    B, C = 16, 0.05
    real, fake, c = torch.rand(B, 1, 32, 32) * 2 - 1, torch.rand(B, 1, 32, 32) * 2 - 1, torch.randint(0, 10, (B,))

    def dp_grads(sigma, clip):
        cfg = _cfg(f"privacy.noise_multiplier={sigma}", f"privacy.max_grad_norm={clip}")
        torch.manual_seed(1)
        _, D = build_networks(cfg, 32, 1, 10)
        pd = privacy.PrivateDiscriminator(cfg, D, 512, 1, 0)
        _d_step(D, real, fake, c).backward()
        plain = [p.grad.clone() for p in D.parameters()]
        pd.privatize(D, noise_seed=123)
        assert pd.dp_steps == 1
        return D, plain, [p.grad.clone() for p in D.parameters()]

    # A clipping norm nothing reaches and no noise: exactly the ordinary mean gradient.
    _, plain, g = dp_grads(0.0, 1e9)
    for a, b in zip(plain, g):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4 * a.abs().max().item())

    # Small clipping norm: the mean of per-sample gradients (real + fake term of sample i together), each clipped to C.
    D, _, g = dp_grads(0.0, C)
    per = []
    for i in range(B):
        D.zero_grad()
        _d_step(D, real[i:i + 1], fake[i:i + 1], c[i:i + 1]).backward()
        per.append(torch.cat([p.grad.flatten() for p in D.parameters()]))
    per = torch.stack(per)
    norms = per.norm(dim=1)
    assert (norms > C).all(), "the test needs samples that are clipped"
    want = (per * (C / norms)[:, None].clamp(max=1)).mean(0)
    assert torch.allclose(torch.cat([x.flatten() for x in g]), want, rtol=1e-3, atol=1e-8)

    # Noise: std sigma * C on the sum, i.e. sigma * C / B on the mean gradient.
    _, _, noisy = dp_grads(2.0, C)
    diff = (torch.cat([x.flatten() for x in noisy]) - want) * B
    assert abs(diff.std().item() / (2.0 * C) - 1) < 0.05
    assert abs(diff.mean().item()) < 0.05 * 2.0 * C


def test_epsilon_grows_with_steps_and_budget_inverts_it():
    eps = [privacy.epsilon_after(n, 0.8, 16 / 512, 1e-5, "rdp") for n in (1, 10, 100)]
    assert eps[0] < eps[1] < eps[2]
    n = privacy.steps_within(eps[1], 0.8, 16 / 512, 1e-5, "rdp")
    assert n == 10


@pytest.mark.parametrize("override, fix", [
    ("model.d_norm=batch", "model.d_norm=layer"),
    ("model.mbstd_group=4", "model.mbstd_group=0"),
    ("loss.r1_gamma=1.0", "loss.r1_gamma=0"),
    ("augment.kind=ada", "augment.kind=diffaugment"),
    ("privacy.delta=2", "privacy.delta=1e-5"),
])
def test_refused_at_config_time(fmnist32, override, fix):
    from ganctl.data.dataset import PreparedDataset
    from ganctl.engine.training import check_buildable

    with pytest.raises(UsageError, match=fix.replace(".", r"\.")):
        check_buildable(_cfg(override), PreparedDataset(fmnist32))


def test_dp_vanilla_preset_trains_a_private_mlp(fmnist28, tmp_path):
    """The second family: MLP G and D (dropout is per-sample, so opacus handles it)."""
    import json as _json

    from ganctl import api

    run = Path(api.train("dp-vanilla-mnist", str(fmnist28), str(tmp_path), 0.064, overrides=[
        "model.hidden=[32]", "model.d_hidden=[32]", "train.batch=16", "train.tick_kimg=0.032", "train.grid_size=4",
        "train.threads=1"])["run_dir"])
    last = _json.loads((run / "stats.jsonl").read_text().splitlines()[-1])
    assert last["Privacy/dp_steps"] == 4 and 0 < last["Privacy/epsilon"] <= 10


def _stats(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]


def _state(run: Path) -> dict:
    return load_file(str(latest_checkpoint(run / "checkpoints")))


def test_dp_run_resume_exact_budget_and_info(tmp_path, fmnist32, cli):
    from ganctl import api

    over = ["--seed", "2", *TINY, "privacy.epsilon=null", "privacy.noise_multiplier=0.8"]
    straight = Path(api.train("dp-cgan-fashion-mnist", str(fmnist32), str(tmp_path / "a"), 0.128, seed=2,
                              overrides=over[2:])["run_dir"])
    half = Path(cli("train", "--preset", "dp-cgan-fashion-mnist", "--data", fmnist32, *over, "--kimg", "0.064",
                    "--outdir", tmp_path / "b", check=0).stdout.strip())
    cli("resume", half, "--kimg", "0.128", check=0)
    a, b = _state(straight), _state(half)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs after resume"
    sa, sb = _stats(straight), _stats(half)
    assert [r["Privacy/epsilon"] for r in sa] == [r["Privacy/epsilon"] for r in sb]
    assert [r["Privacy/dp_steps"] for r in sa] == [2, 4, 6, 8]
    assert all(-1 <= r["Scores/real_sign"] <= 1 for r in sa)  # E[sign(D(real))] per tick, logged for every run
    assert sa[-1]["Privacy/epsilon"] == pytest.approx(privacy.epsilon_after(8, 0.8, 16 / 512, 1e-5, "rdp"))

    # The budget stops the run after exactly the steps it allows (here 5 of the 16 asked for).
    budget = privacy.epsilon_after(5, 0.8, 16 / 512, 1e-5, "rdp") * 1.0001
    events = []
    stopped = Path(api.train("dp-cgan-fashion-mnist", str(fmnist32), str(tmp_path / "c"), 0.256, emit=events.append,
                             overrides=[*TINY, "privacy.noise_multiplier=0.8", f"privacy.epsilon={budget}"])["run_dir"])
    assert any("privacy budget" in e.get("text", "") for e in events)
    last = _stats(stopped)[-1]
    assert last["Progress/kimg"] == pytest.approx(0.080) and last["Privacy/dp_steps"] == 5
    assert last["Privacy/epsilon"] <= budget
    info = api.info(str(stopped))
    assert info["privacy"]["epsilon"] == pytest.approx(last["Privacy/epsilon"])
    assert info["privacy"]["epsilon_budget"] == pytest.approx(budget)


@pytest.mark.slow
def test_two_processes_account_like_one(tmp_path, fmnist32, cli):
    """Under torchrun each rank clips its share, rank 0 adds the noise, the sums are all-reduced: the same DP step."""
    args = ["--preset", "dp-cgan-fashion-mnist", "--data", fmnist32, "--kimg", "0.064", *TINY, "privacy.epsilon=null",
            "privacy.noise_multiplier=0.8"]
    one = Path(cli("train", *args, "--outdir", tmp_path / "one", check=0).stdout.strip())
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "ganctl", "train", "--gpus", "2", *map(str, args), "--outdir",
                        str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    two = Path(p.stdout.strip().splitlines()[-1])
    a, b = _state(one), _state(two)
    for k in a:
        if k.startswith("D/"):
            assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5), k
    assert [r["Privacy/epsilon"] for r in _stats(one)] == [r["Privacy/epsilon"] for r in _stats(two)]
