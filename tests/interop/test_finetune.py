"""`ganctl train --init NET.pkl`: starts from the network, records where it came from, refuses misfits, resumes exactly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint
from nvlabs_format import trees_from_ganctl, write_fixture_pickle, write_pickle

MODEL = dict(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16, num_fp16_res=0, conv_clamp=256,
             mbstd_group=4, d_cmap_layers=2, w_avg_beta=0.995)
TRAIN = ["train.batch=8", "train.tick_kimg=0.016", "train.snapshot_ticks=1", "train.image_snapshot_ticks=100",
         "train.grid_size=4", "train.threads=1", "augment.kind=ada", "augment.interval=1", "augment.ada_kimg=1"]


def _network_pickle(path: Path, num_classes: int = 0) -> Path:
    from ganctl.models.stylegan2 import build

    torch.manual_seed(7)
    G, D = build(MODEL, 32, 1, num_classes)
    G_ema, _ = build(MODEL, 32, 1, num_classes)
    with torch.no_grad():  # no zero tensors (biases, noise strengths start at 0): every one must carry over
        for net in (G, D, G_ema):
            for t in list(net.parameters()) + [G_ema.mapping.w_avg]:
                t.add_(torch.randn(t.shape) * 0.3)
    trees, tensors = trees_from_ganctl(G, D, G_ema, MODEL["channel_base"], MODEL["channel_max"])
    return write_pickle(path, trees, tensors)


def _state(run_dir) -> dict:
    return load_file(str(latest_checkpoint(Path(run_dir) / "checkpoints")))


def test_finetune_from_pickle_and_resume_exactly(tmp_path, fmnist32, cli):
    from ganctl import api
    from ganctl.interop import read_network

    pkl = _network_pickle(tmp_path / "net.pkl")
    init = read_network(pkl).tensors
    args = ["--preset", "stylegan-ffhq256", "--init", pkl, "--data", fmnist32, "--seed", "3"]
    straight = Path(cli("train", *args, "--kimg", "0.032", "--outdir", tmp_path / "a", *TRAIN, check=0).stdout.strip())
    half = api.train(preset="stylegan-ffhq256", init=str(pkl), data=str(fmnist32), seed=3, kimg=0.016,
                     outdir=str(tmp_path / "b"), overrides=TRAIN)["run_dir"]
    api.resume(half, kimg=0.032)
    a, b = _state(straight), _state(half)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"resumed fine-tune differs from the uninterrupted one at {k}"
    # It started from the network: G_ema's parameters (EMA half-life 20 kimg) are still within a hair of it, D moved
    # by a few Adam steps; a fresh initialisation would be O(1) away. (G_ema's buffers are copied from G each step.)
    for k, v in init.items():
        if k.startswith("G_ema/") and v.numel() > 1 and not k.endswith(("noise_const", "w_avg", "resample_filter")):
            assert (a[k] - v).abs().max() < 0.02 * v.abs().max() + 1e-3, k
    d_key = "D/b4.fc.weight"
    assert 0 < (a[d_key] - init[d_key]).abs().max() < 0.05 * init[d_key].abs().max()
    # The model section is the network's; the rest is the preset's. The origin is recorded.
    cfg = api.presets_show("stylegan-ffhq256")
    import yaml

    run_cfg = yaml.safe_load((straight / "config.yaml").read_text())
    assert run_cfg["model"]["channel_base"] == 256 and run_cfg["model"]["z_dim"] == 16
    assert run_cfg["loss"] == cfg["loss"] and run_cfg["optim"] == cfg["optim"]
    info = api.info(str(straight))  # `ganctl info RUN_DIR`
    assert (info["family"], info["resolution"], info["channels"], info["classes"], info["kimg"]) == \
        ("stylegan2", 32, 1, 0, 0.032)
    assert info["params"]["G"] == sum(v.numel() for k, v in init.items() if k.startswith("G/")
                                      and not k.endswith(("noise_const", "w_avg", "resample_filter")))
    assert info["sha256"] == hashlib.sha256(latest_checkpoint(straight / "checkpoints").read_bytes()).hexdigest()
    env = json.loads((straight / "env.json").read_text())
    assert env["init"] == {"path": str(pkl), "sha256": hashlib.sha256(pkl.read_bytes()).hexdigest(),
                           "format": "nvlabs-pickle"}


@pytest.mark.parametrize("kind", ["geometry", "classes"])
def test_init_refuses_networks_that_do_not_fit(tmp_path, fmnist32, kind, run_main):
    if kind == "geometry":  # 32x32 RGB network, 32x32 grey data
        pkl, expect = write_fixture_pickle(tmp_path / "rgb.pkl", "ada_uncond"), "32x32 images with 3 channel(s)"
    else:  # 3-class network, 10-class data
        pkl, expect = _network_pickle(tmp_path / "c3.pkl", num_classes=3), "conditional on 3 classes"
    code, _, err = run_main("train", "--preset", "stylegan-ffhq256", "--init", pkl, "--data", fmnist32, "--outdir",
                            tmp_path / "runs", *TRAIN)
    err = err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expect in err and str(pkl) in err, err
    assert not (tmp_path / "runs").exists()


def test_init_from_converted_checkpoint_equals_init_from_pickle(tmp_path):
    from ganctl import api
    from ganctl.interop.init import init_from

    pkl = _network_pickle(tmp_path / "net.pkl")
    ckpt = api.convert(str(pkl), str(tmp_path / "net.safetensors"))["out"]
    cfg = api.resolve_train_config("stylegan-ffhq256")
    cfg_a, a, origin_a = init_from(pkl, cfg, 32, 1, 10)
    cfg_b, b, origin_b = init_from(ckpt, cfg, 32, 1, 10)
    assert cfg_a == cfg_b and cfg_a["model"]["channel_base"] == 256 and cfg_a["loss"] == cfg["loss"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert origin_a["format"] == "nvlabs-pickle" and origin_b["format"] == "ganctl-checkpoint"
    assert origin_b["sha256"] == hashlib.sha256(Path(ckpt).read_bytes()).hexdigest()


def test_dry_run_shows_the_networks_model_section(tmp_path, fmnist32, run_main):
    import yaml

    pkl = _network_pickle(tmp_path / "net.pkl")
    code, out, err = run_main("train", "--preset", "stylegan-ffhq256", "--init", pkl, "--data", fmnist32, "--dry-run")
    cfg = yaml.safe_load(out)
    assert code == 0 and cfg["model"]["channel_base"] == 256 and cfg["model"]["z_dim"] == 16, err
    assert cfg["train"]["batch"] == 64  # the preset's
