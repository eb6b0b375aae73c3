"""Output parity with the pix2pix/CycleGAN reference code's own forward: the `.pth` files in
fixtures/pix2pix_reference/ were saved, and their outputs recorded, by the reference's networks.py
(tests/interop/record_pix2pix_reference.py, run once). Here ganctl reads the same files through its real reader
(ganctl/interop/pix2pix.py: architecture inferred from the keys, no flags) and must give the recorded outputs:
eval mode (running statistics, dropout off: the reference's test.py --eval) and train mode (each image's own batch
statistics, dropout on with the masks of the seeded torch generator: the reference's test.py default and ganctl
translate's), for U-Nets and ResNets with batch or instance norm, with and without dropout, and the PatchGANs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

ROOT = Path(__file__).resolve().parent / "fixtures" / "pix2pix_reference"
ATOL = 1e-5


def _io() -> tuple[dict, dict, int]:
    with safe_open(str(ROOT / "io.safetensors"), "pt") as f:
        meta = f.metadata()
        return {k: f.get_tensor(k) for k in f.keys()}, json.loads(meta["cases"]), int(meta["seed"])


IO, CASES, SEED = _io()


def _x(case: str) -> torch.Tensor:
    # what translate feeds G: plain NCHW strides, as the reference's data loader gives (a channels-last input draws
    # the same random numbers but the convs lay the dropout masks over the elements in another order)
    src = IO[f"{case}/input"].permute(0, 3, 1, 2)
    return torch.empty(src.shape).copy_(src).div_(127.5).sub_(1)


def _generators(case: str) -> dict[str, str]:
    """{output suffix: generator file} of a case: "" -> latest_net_G.pth, "_A"/"_B" -> latest_net_G_A/_B.pth."""
    return {"": "latest_net_G.pth"} if "latest_net_G.pth" in CASES[case]["files"] else \
        {"_A": "latest_net_G_A.pth", "_B": "latest_net_G_B.pth"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_generators_give_the_reference_outputs(case, one_cpu_thread):
    from ganctl.interop.pix2pix import read_generator
    from ganctl.sampling.translate import set_test_modes

    c, x = CASES[case], _x(case)
    for suffix, name in _generators(case).items():
        G, m = read_generator(ROOT / case / name)
        assert (m["generator"], m["ngf"], m["norm"], m["channels"]) == \
            (c["netG"], c["ngf"], c["norm"], {"in": c["input_nc"], "out": c["output_nc"]})
        if c["netG"].startswith("resnet"):  # a U-Net's dropout leaves no trace in the keys (read as the default, on)
            assert m["dropout"] == c["dropout"]
        with torch.no_grad():
            set_test_modes(G, "off", "running")
            err = (G(x) - IO[f"{case}/eval{suffix}"]).abs().max().item()
            assert err < ATOL, f"{case}{suffix} eval: max |ours - reference| = {err:.2e}"
            if f"{case}/train{suffix}" in IO:
                set_test_modes(G, "on", "batch")
                torch.manual_seed(SEED)  # as translate --seed does, once before the first image
                y = torch.cat([G(x[j:j + 1]) for j in range(len(x))])
                err = (y - IO[f"{case}/train{suffix}"]).abs().max().item()
                assert err < ATOL, f"{case}{suffix} train mode: max |ours - reference| = {err:.2e}"
                # the loaded running statistics are untouched by batch-statistics passes (momentum 0)
                set_test_modes(G, "off", "running")
                assert (G(x) - IO[f"{case}/eval{suffix}"]).abs().max().item() < ATOL


@pytest.mark.parametrize("case", [c for c in sorted(CASES) if CASES[c]["D"]])
def test_discriminators_give_the_reference_logits(case, one_cpu_thread):
    from ganctl.interop import read_network
    from ganctl.models import get_family

    c, x = CASES[case], _x(case)
    net = read_network(ROOT / case / _generators(case)[next(iter(_generators(case)))])  # the set comes along
    assert (net.model["ndf"], net.model["n_layers_D"]) == (c["D"]["ndf"], c["D"]["n_layers_D"])
    cfg = {**get_family(net.model["family"]).defaults, **{k: v for k, v in net.model.items() if k not in ("family", "conditional")}}
    _, D = get_family(net.model["family"]).build(cfg, net.resolution, net.channels, 0)
    D.load_state_dict({k[2:]: v for k, v in net.tensors.items() if k.startswith("D/")})
    with torch.no_grad():
        if c["layout"] == "pix2pix":  # D(image, input) = PatchGAN(cat(input, image)), the reference's fake_AB
            D.eval()
            assert (D(IO[f"{case}/eval"], x) - IO[f"{case}/D_eval"]).abs().max().item() < ATOL
            D.train()
            assert (D(IO[f"{case}/eval"], x) - IO[f"{case}/D_train"]).abs().max().item() < ATOL
        else:
            D.eval()
            assert (D.D_A(x) - IO[f"{case}/D_A"]).abs().max().item() < ATOL
            assert (D.D_B(x) - IO[f"{case}/D_B"]).abs().max().item() < ATOL


def _write_inputs(case: str, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for j, arr in enumerate(IO[f"{case}/input"].numpy()):
        paths.append(folder / f"img{j}.png")
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(paths[-1])
    return paths


def _close_to(png: Path, ref: torch.Tensor) -> float:
    """Largest difference in 0-255 levels between a written PNG and the reference's float output."""
    got = np.asarray(Image.open(png), dtype=np.float64)
    want = ((ref.double() + 1) * 127.5).permute(1, 2, 0).numpy()
    return float(np.abs(got.reshape(want.shape) - want).max())


def test_translate_api_on_a_cyclegan_set_both_directions(tmp_path):
    """`translate` on latest_net_G_A.pth: AtoB with G_A, BtoA with the sibling G_B, deterministic mode; on CPU a ResNet
    runs one image per pass even when --batch allows more (faster there, bench_translate.py)."""
    from ganctl import api

    case = "resnet9_instance"
    _write_inputs(case, tmp_path / "in")
    for direction, suffix in (("AtoB", "_A"), ("BtoA", "_B")):
        log = []
        r = api.translate(str(ROOT / case / "latest_net_G_A.pth"), [str(tmp_path / "in")], str(tmp_path / direction),
                          direction=direction, dropout="off", bn="running", batch=2, device="cpu", emit=log.append)
        assert r["count"] == 2 and r["padded"] == 0 and "translated 1/2" in log
        for j in range(2):
            assert _close_to(tmp_path / direction / f"img{j}.png", IO[f"{case}/eval{suffix}"][j]) <= 1.0


def test_cli_translate_default_mode_gives_the_reference_test_py_output(tmp_path, cli):
    """The paper's test-time default (dropout on, each image's batch statistics) through the CLI, seeded: the reference's
    test.py without --eval, with the same dropout masks."""
    case = "resnet6_batch_dropout"
    _write_inputs(case, tmp_path / "in")
    cli("translate", ROOT / case / "latest_net_G.pth", tmp_path / "in", "--out", tmp_path / "out", "--seed", SEED,
        "--device", "cpu", check=0)
    for j in range(2):
        assert _close_to(tmp_path / "out" / f"img{j}.png", IO[f"{case}/train"][j]) <= 1.0


def test_translate_api_default_mode_on_one_channel(tmp_path):
    """One-channel images (whose permuted view is both contiguous and channels-last) get the reference's dropout masks too."""
    from ganctl import api

    case = "unet256_batch"
    _write_inputs(case, tmp_path / "in")
    api.translate(str(ROOT / case / "latest_net_G.pth"), [str(tmp_path / "in")], str(tmp_path / "out"), seed=SEED,
                  device="cpu")
    assert _close_to(tmp_path / "out" / "img0.png", IO[f"{case}/train"][0]) <= 1.0
