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
