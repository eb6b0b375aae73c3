"""BasicSR / Real-ESRGAN / ESRGAN super-resolution files (ganctl/interop/basicsr.py): read weights-only, architecture
inferred from the tensors, and the same outputs as BasicSR's own forward on seeded weights (recorded once with its code
by tests/interop/record_basicsr_reference.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from ganctl.errors import UsageError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "basicsr_reference.safetensors"


def _case(name: str):
    with safe_open(str(FIXTURE), "pt") as f:
        keys = list(f.keys())
        sd = {k.split("/params/", 1)[1]: f.get_tensor(k) for k in keys if k.startswith(f"{name}/params/")}
        return sd, f.get_tensor(f"{name}/input"), f.get_tensor(f"{name}/output"), json.loads(f.metadata()["cases"])[name]


@pytest.mark.parametrize("name,wrap", [("rrdbnet_x4", "params_ema"), ("rrdbnet_x2", "params"), ("srvgg_x4", "params_ema"),
                                       ("msrresnet_x4", None)])
def test_same_output_as_basicsr(tmp_path, name, wrap):
    from ganctl.sampling.generate import load_generator

    sd, x, want, case = _case(name)
    path = tmp_path / f"{name}.pth"
    torch.save({wrap: sd, "iter": 5} if wrap else sd, path)
    G = load_generator(path, "cpu", conditioning="image").G
    assert G.scale == case["kwargs"].get("scale", case["kwargs"].get("upscale"))
    with torch.no_grad():
        assert torch.allclose(G.forward01(x), want, atol=2e-6, rtol=0)
        assert torch.allclose(G(x * 2 - 1), want * 2 - 1, atol=1e-5, rtol=0)  # ganctl's [-1, 1] convention


def _esrgan_layouts(sd: dict) -> tuple[dict, dict]:
    """BasicSR names -> the original ESRGAN repository's two layouts (RRDB_trunk..., and the older model.N)."""
    ren = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
    trunk, old = {}, {}
    n = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
    idx = {"conv_first": "0", "conv_up1": "3", "conv_up2": "6", "conv_hr": "8", "conv_last": "10"}
    for k, v in sd.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)$", k):
            trunk[f"RRDB_trunk.{m[1]}.RDB{m[2]}.conv{m[3]}.{m[4]}"] = v
            old[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
        else:
            head, _, tail = k.partition(".")
            trunk[f"{ren.get(head, head)}.{tail}"] = v
            old[f"model.1.sub.{n}.{tail}" if head == "conv_body" else f"model.{idx[head]}.{tail}"] = v
    return trunk, old


def test_original_esrgan_key_layouts(tmp_path):
    from ganctl.sampling.generate import load_generator

    sd, x, want, _ = _case("rrdbnet_x4")
    for i, layout in enumerate(_esrgan_layouts(sd)):
        path = tmp_path / f"RRDB_ESRGAN_x4_{i}.pth"
        torch.save(layout, path)
        with torch.no_grad():
            assert torch.allclose(load_generator(path, "cpu", conditioning="image").G.forward01(x), want, atol=2e-6)


def test_info_and_refusals(tmp_path, cli):
    from ganctl import api
    from ganctl.interop import read_network

    sd, *_ = _case("srvgg_x4")
    path = tmp_path / "realesr-general-x4v3.pth"
    torch.save({"params": sd}, path)
    info = api.info(str(path))
    assert info["family"] == "sr" and info["format"] == "basicsr-pth"
    assert info["config"]["model"]["generator"] == "srvgg" and info["config"]["model"]["num_conv"] == 4
    # Sampling from seeds is not what an SR network does.
    p = cli("sample", path, "--seeds", "0", "--outdir", tmp_path / "s", check=2)
    assert "image-to-image network" in p.stderr and "ganctl upscale" in p.stderr and "Traceback" not in p.stderr
    # A pickled object is never unpickled; a torch file of other tensors is not an SR network.
    torch.save({"params": sd, "opt": torch.optim.SGD}, tmp_path / "obj.pth")
    with pytest.raises(UsageError, match="weights-only"):
        read_network(tmp_path / "obj.pth")
    torch.save({"params": {"foo.weight": torch.zeros(2)}}, tmp_path / "other.pth")
    with pytest.raises(UsageError):
        read_network(tmp_path / "other.pth")


@pytest.fixture(scope="module")
def rgb32(tmp_path_factory):
    """64 real Fashion-MNIST images as 32x32 RGB (each channel a different shift), the channels BasicSR nets expect."""
    import numpy as np

    from _testdata import load_fmnist
    from ganctl.data.dataset import write_dataset

    imgs, labels = load_fmnist("train", 64)
    g = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))
    rgb = np.stack([g, np.roll(g, 3, axis=2), 255 - g], axis=1)
    return write_dataset(tmp_path_factory.mktemp("rgb") / "rgb32", rgb, labels, {"name": "rgb32", "label_names": []})


def test_train_init_from_a_basicsr_pth(tmp_path, rgb32, one_cpu_thread):
    """`train --init RealESRGAN-style.pth`: the run's model section is the file's architecture, G starts at the file's
    params_ema and trains. After one Adam step every weight is within lr of where it started (Adam's first step is
    lr * g / (|g| + eps)), so G == the file's weights at step 0 is checked without a step-0 checkpoint."""
    import yaml

    from ganctl import api
    from ganctl.engine.checkpoint import latest_checkpoint
    from safetensors.torch import load_file

    sd, *_ = _case("srvgg_x4")
    pth = tmp_path / "realesr-general-x4v3.pth"
    torch.save({"params_ema": sd, "iter": 1000}, pth)
    lr = 1e-4
    r = api.train("sr-tiny", str(rgb32), outdir=str(tmp_path / "runs"), kimg=0.004, seed=2, init=str(pth),
                  overrides=["train.batch=4", "train.tick_kimg=0.004", "train.grid_size=2", "train.threads=1",
                             "train.workers=0", f"optim.g.lr={lr}"])
    run = Path(r["run_dir"])
    m = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert (m["generator"], m["num_feat"], m["num_conv"], m["scale"]) == ("srvgg", 16, 4, 4)
    assert json.loads((run / "env.json").read_text())["init"]["format"] == "basicsr-pth"
    state = load_file(str(latest_checkpoint(run / "checkpoints")))
    moved = 0.0
    for k, v in sd.items():
        d = (state[f"G/{k}"] - v).abs().max().item()
        assert d <= lr * 1.001, (k, d)
        moved = max(moved, d)
    assert moved > lr / 2  # it trained


def test_convert_a_basicsr_pth(tmp_path):
    """`ganctl convert RealESRGAN_x4plus.pth CKPT`: the checkpoint upscales exactly like the .pth and inits the same."""
    from ganctl import api
    from ganctl.interop.init import init_from
    from ganctl.sampling.generate import load_generator

    sd, x, want, _ = _case("rrdbnet_x4")
    pth = tmp_path / "RealESRGAN_x4plus.pth"
    torch.save({"params_ema": sd}, pth)
    ckpt = api.convert(str(pth), str(tmp_path / "net.safetensors"))["out"]
    with torch.no_grad():
        assert torch.allclose(load_generator(ckpt, "cpu", conditioning="image").G.forward01(x), want, atol=2e-6)
    cfg = api.resolve_train_config("sr-tiny")
    cfg_a, a, _ = init_from(pth, cfg, 32, 3, 0)
    cfg_b, b, origin = init_from(ckpt, cfg, 32, 3, 0)
    arch = ("generator", "scale", "num_feat", "num_block", "num_grow_ch")  # D / patch keys: the preset's or defaults
    assert [cfg_a["model"][k] for k in arch] == [cfg_b["model"][k] for k in arch] == ["rrdbnet", 4, 16, 2, 8]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert origin["format"] == "ganctl-checkpoint"
