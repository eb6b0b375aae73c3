"""Speed options of the engine (ganctl/engine/acceleration.py): train.compile routes only first-order passes through
compiled graphs, train.channels_last trains the same model as the default layout, and both are resume-safe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from ganctl.config.load import resolve_config
from ganctl.engine.checkpoint import latest_checkpoint

TINY = ["train.batch=8", "train.tick_kimg=0.016", "train.grid_size=4", "train.threads=1", "optim.g_reg_interval=2",
        "optim.d_reg_interval=2"]


class Counting(torch.nn.Module):
    """A real wrapper module (what torch.compile returns is one too) that counts the calls routed through it."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


def _tiny_stylegan():
    from ganctl.losses.stylegan2 import StyleGAN2Loss
    from ganctl.models.stylegan2 import build

    cfg = resolve_config("stylegan-tiny", overrides=[])
    torch.manual_seed(0)
    G, D = build(cfg["model"], 32, 1, 0)
    G.requires_grad_(False)
    D.requires_grad_(False)
    return G, D, StyleGAN2Loss(G, D, cfg["loss"], "cpu")


def test_compiled_wrappers_get_only_first_order_passes():
    G, D, loss = _tiny_stylegan()
    wrappers = {}

    def wrap(m):
        wrappers[m] = Counting(m)
        return wrappers[m]

    loss.use_compiled(wrap)
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    z = torch.randn(4, G.z_dim)
    calls = lambda: {name: wrappers[m].calls for name, m in (("map", G.mapping), ("syn", G.synthesis), ("D", D))}  # noqa: E731

    for phase in ("Greg", "Dreg"):  # double backward: must stay on the eager modules
        (G if phase[0] == "G" else D).requires_grad_(True)
        loss.accumulate_gradients(phase, real, None, z, None, 1.0)
        (G if phase[0] == "G" else D).requires_grad_(False)
    assert calls() == {"map": 0, "syn": 0, "D": 0}

    G.requires_grad_(True)
    loss.accumulate_gradients("Gmain", real, None, z, None, 1.0)
    G.requires_grad_(False)
    after_g = calls()
    assert after_g["syn"] == 1 and after_g["D"] == 1 and after_g["map"] >= 1  # 2 with style mixing
    D.requires_grad_(True)
    loss.accumulate_gradients("Dmain", real, None, z, None, 1.0)
    assert calls()["D"] == 3 and calls()["syn"] == 2  # D on fakes and on reals; G once, under no_grad
    # Dboth needs R1 on the reals: that D pass is eager, the fake pass is compiled.
    loss.accumulate_gradients("Dboth", real, None, z, None, 1.0)
    assert calls()["D"] == 4
    assert all(p.grad is not None for p in D.parameters() if p.requires_grad)


def _stats(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def test_channels_last_trains_the_same_model(tmp_path, fmnist32, cli):
    args = ["train", "--preset", "stylegan-tiny", "--data", fmnist32, "--kimg", "0.032", *TINY]
    a = Path(cli(*args, "--outdir", tmp_path / "a", check=0).stdout.strip())
    b = Path(cli(*args, "--outdir", tmp_path / "b", "train.channels_last=true", check=0).stdout.strip())
    sa, sb = _stats(a), _stats(b)
    # The first tick's losses come from the same initial weights and the same data: equal up to float rounding of
    # the different conv algorithms (NHWC vs NCHW).
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real"):
        assert sb[0][key] == pytest.approx(sa[0][key], rel=1e-3, abs=1e-4), key
    wa = load_file(str(latest_checkpoint(a / "checkpoints")))
    wb = load_file(str(latest_checkpoint(b / "checkpoints")))
    lr = max(resolve_config("stylegan-tiny", overrides=[])["optim"][k]["lr"] for k in ("g", "d"))
    for k in wa:
        if k.startswith("G_ema/") and wa[k].is_floating_point():
            # Four Adam steps of size <= ~lr each: any layout bug (a transposed weight, a wrong stride) moves far more.
            assert (wa[k] - wb[k]).abs().max() <= 4 * lr * 1.5, k
    assert yaml.safe_load((b / "config.yaml").read_text())["train"]["channels_last"] is True


def test_bad_compile_mode_is_refused(tmp_path, fmnist32, cli):
    p = cli("train", "--preset", "stylegan-tiny", "--data", fmnist32, "--kimg", "0.016", "--outdir", tmp_path,
            "train.compile=fastest", check=2)
    assert "train.compile" in p.stderr and "reduce-overhead" in p.stderr
    assert not any(tmp_path.iterdir())  # nothing written for a refused config


@pytest.mark.slow
def test_compile_trains_like_eager(tmp_path, fmnist32, cli):
    """torch.compile (inductor, CPU here) of the StyleGAN2 main passes: same first-tick losses as eager, and resume."""
    args = ["train", "--preset", "stylegan-tiny", "--data", fmnist32, *TINY]
    a = Path(cli(*args, "--kimg", "0.032", "--outdir", tmp_path / "a", check=0).stdout.strip())
    b = Path(cli(*args, "--kimg", "0.016", "--outdir", tmp_path / "b", "train.compile=default", check=0).stdout.strip())
    cli("resume", b, "--kimg", "0.032", check=0)
    sa, sb = _stats(a), _stats(b)
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real"):
        # The synthesis noise is drawn by inductor's RNG inside the compiled graph, not eager's: close, not equal.
        assert sb[0][key] == pytest.approx(sa[0][key], rel=0.05, abs=0.02), key
    assert len(sb) == 2 and all(torch.isfinite(torch.tensor(s["Loss/G/loss"])) for s in sb)
