"""The Progressive GAN presets: they resolve (through the CLI too), carry the paper's settings, and their schedules
reach the full resolution within their training length."""

from __future__ import annotations

import math

import yaml

from ganctl.config import resolve_config


def _kimg_to_full(cfg, final_res):
    p = cfg["progressive"]
    doublings = int(math.log2(final_res // p["start_res"]))
    return p["phase_kimg"] + doublings * (p["fade_kimg"] + p["phase_kimg"])   # the last phase stabilises too


def test_progan_tiny_resolves_through_the_cli(cli):
    cfg = yaml.safe_load(cli("presets", "show", "progan-tiny", check=0).stdout)
    assert cfg["model"]["family"] == "progan" and cfg["loss"]["type"] == "wasserstein"
    assert sorted(cfg["progressive"]["batch"]) == [4, 8, 16, 32]
    assert cfg["train"]["kimg"] >= _kimg_to_full(cfg, 32)


def test_progan_celebahq_has_the_official_settings():
    cfg = resolve_config("progan-celebahq")
    p = cfg["progressive"]
    assert (p["start_res"], p["phase_kimg"], p["fade_kimg"]) == (4, 600.0, 600.0)
    assert p["batch"] == {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4, 1024: 4}
    assert p["lr"] == {1024: 0.0015} and p["reset_optimizers"] is True
    for side in ("g", "d"):
        assert cfg["optim"][side]["lr"] == 0.001 and cfg["optim"][side]["betas"] == [0.0, 0.99]
        assert cfg["optim"][side]["eps"] == 1e-8
    assert (cfg["loss"]["gp_weight"], cfg["loss"]["drift"]) == (10.0, 0.001)
    assert cfg["train"]["ema_beta"] == 0.999 and cfg["train"]["kimg"] == 12000
    assert cfg["train"]["kimg"] > _kimg_to_full(cfg, 1024) - cfg["progressive"]["phase_kimg"]
    assert cfg["model"]["fmap_base"] == 8192 and cfg["model"]["z_dim"] == 512


def test_progan_256_reaches_256_and_stabilises_there():
    cfg = resolve_config("progan-256")
    assert max(cfg["progressive"]["batch"]) == 256
    assert cfg["train"]["kimg"] >= _kimg_to_full(cfg, 256)
