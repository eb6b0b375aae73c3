"""`ganctl export --format onnx` and `ganctl sample G.onnx`: onnxruntime gives PyTorch's images for the same seeds
(within 1e-4) for every family's tiny network and for an NVlabs pickle (against NVlabs' own recorded images), the
graphs hold standard operators only and carry the network's sha256, and bad cases are refused in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from ganctl import api  # noqa: E402
from ganctl.sampling.generate import load_generator  # noqa: E402
from ganctl.sampling.onnx_generator import OnnxGenerator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
SEEDS = [0, 7, 123, 4242, 5]
# Standard ONNX operators (domain ai.onnx): no custom domain, no ATen fallback.
STANDARD = {"", "ai.onnx"}


def _torch_images(gen, seeds, psi):
    return gen.images_float(seeds, truncation_psi=psi).numpy()


@pytest.mark.parametrize("name", ["mlp", "cgan", "wgan-gp", "progan", "biggan", "stylegan2", "stylegan3"])
def test_onnxruntime_matches_pytorch(tmp_path, tiny_networks, name, one_cpu_thread):
    ckpt = tiny_networks[name]
    res = api.export(str(ckpt), str(tmp_path / "G.onnx"))
    model = onnx.load(res["out"])
    assert {n.domain for n in model.graph.node} <= STANDARD
    props = {p.key: p.value for p in model.metadata_props}
    import hashlib

    assert props["network_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert props["ganctl_version"] and json.loads(props["ganctl"])["part"] == "full"
    assert [i.name for i in model.graph.input][0] == "z" and model.graph.output[0].name == "image"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # the batch axis is symbolic
    gen, onx = load_generator(ckpt, "cpu"), OnnxGenerator(res["out"])
    for psi in (1.0, 0.6):  # biggan: 0.6 redraws z on the host, the others feed psi to the graph
        want = _torch_images(gen, SEEDS, psi)
        got = onx.run(SEEDS, psi)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4, f"{name} psi={psi}"
    assert np.abs(onx.run(SEEDS[:1], 0.6) - want[:1]).max() <= 1e-4  # batch 1 through the same dynamic graph


def test_sample_cli_onnx_matches_pytorch_pngs(tmp_path, tiny_networks, run_main, one_cpu_thread):
    from PIL import Image

    ckpt = tiny_networks["cgan"]
    rc, out, err = run_main("export", ckpt, "--out", tmp_path / "G.onnx")
    assert rc == 0, err
    assert out.strip() == str(tmp_path / "G.onnx") and "onnxruntime matches PyTorch" in err
    for src, d in ((ckpt, "pt"), (tmp_path / "G.onnx", "ort")):
        rc, _, err = run_main("sample", src, "--seeds", "0-5", "--truncation", "0.7", "--outdir", tmp_path / d,
                              "--device", "cpu")
        assert rc == 0, err
    for s in range(6):
        a = np.asarray(Image.open(tmp_path / "pt" / f"seed{s:04d}.png"), dtype=int)
        b = np.asarray(Image.open(tmp_path / "ort" / f"seed{s:04d}.png"), dtype=int)
        assert np.abs(a - b).max() <= 1  # uint8 rounding of values within 1e-4
    prov = api.provenance([str(tmp_path / "ort" / "seed0003.png")])[0]
    assert prov["ai_generated"] and prov["network"] == "G.onnx" and prov["class_idx"] == "3" and prov["truncation_psi"] == "0.7"


def test_nvlabs_pickle_full_mapping_synthesis(tmp_path, one_cpu_thread):
    from nvlabs_format import case_tensors, load_fixture, write_fixture_pickle

    cases, tensors = load_fixture()
    rec, ref = cases["sg3_cond"], case_tensors(tensors, "sg3_cond")  # conditional StyleGAN2, 16x16, c_dim 3
    pkl = write_fixture_pickle(tmp_path / "net.pkl", "sg3_cond")
    full = OnnxGenerator(api.export(str(pkl), str(tmp_path / "full.onnx"))["out"])
    mapping = api.export(str(pkl), str(tmp_path / "map.onnx"), part="mapping")
    synthesis = api.export(str(pkl), str(tmp_path / "syn.onnx"), part="synthesis")
    assert mapping["inputs"] == ["z", "c", "psi"] and synthesis["inputs"] == ["w"]
    import onnxruntime as ort

    smap = ort.InferenceSession(mapping["out"], providers=["CPUExecutionProvider"])
    ssyn = ort.InferenceSession(synthesis["out"], providers=["CPUExecutionProvider"])
    z = np.stack([np.random.RandomState(s).randn(16) for s in rec["seeds"]]).astype(np.float32)
    c = np.asarray(rec["classes"], dtype=np.int64)
    checked = 0
    for i, (psi, cutoff) in enumerate(rec["truncations"]):
        if cutoff is not None:
            continue
        w = smap.run(None, {"z": z, "c": c, "psi": np.asarray(psi, dtype=np.float32)})[0]
        assert np.abs(w - ref[f"out/w_{i}"].numpy()).max() <= 1e-4
        img = ssyn.run(None, {"w": w})[0]
        assert np.abs(img - ref[f"out/img_{i}"].numpy()).max() <= 1e-4  # NVlabs' own output
        feeds = {"z": z, "c": c, "psi": np.asarray(psi, dtype=np.float32)}
        assert np.abs(full.session.run(None, feeds)[0] - ref[f"out/img_{i}"].numpy()).max() <= 1e-4
        checked += 1
    assert checked


def test_uint8_with_fixed_psi(tmp_path, tiny_networks, one_cpu_thread):
    """--uint8 with a fixed psi: no psi input, uint8 out, to_uint8's numbers (one level where a value sits on a
    rounding edge)."""
    from ganctl.sampling.latents import to_uint8

    ckpt = tiny_networks["wgan-gp"]
    res = api.export(str(ckpt), str(tmp_path / "u8.onnx"), truncation_psi=0.5, uint8=True)
    assert res["inputs"] == ["z"] and res["max_abs_diff"] <= 1
    got = OnnxGenerator(res["out"]).run(SEEDS, 0.5)
    want = to_uint8(load_generator(ckpt, "cpu").images_float(SEEDS, truncation_psi=0.5)).numpy()
    assert got.dtype == np.uint8 and np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert (got == want).mean() > 0.99


@pytest.mark.parametrize("args, says", [
    (["biggan", "--truncation", "0.5"], "redrawing z"),
    (["cgan", "--part", "mapping"], "--part mapping"),
    (["stylegan2", "--opset", "11"], "--opset 11"),
    (["stylegan2", "--noise-mode", "random"], "--noise-mode"),
    (["stylegan2", "--part", "mapping", "--uint8"], "--uint8"),
    (["mlp", "--truncation-cutoff", "2"], "--truncation-cutoff"),
    (["mlp", "--format", "tflite"], "--format"),
    (["mlp", "--out", "G.pb"], "*.onnx"),
])
def test_bad_exports_refused_in_one_line(tmp_path, tiny_networks, run_main, args, says, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main("export", tiny_networks[args[0]], *args[1:])
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("*.onnx*"))  # nothing half-written


def test_bad_onnx_samples_refused_in_one_line(tmp_path, tiny_networks, run_main):
    res = api.export(str(tiny_networks["stylegan2"]), str(tmp_path / "map.onnx"), part="mapping")
    fixed = api.export(str(tiny_networks["mlp"]), str(tmp_path / "fixed.onnx"), truncation_psi=0.5)
    foreign = tmp_path / "other.onnx"
    m = onnx.load(fixed["out"])
    del m.metadata_props[:]
    onnx.save(m, str(foreign))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    for args, says in (([res["out"]], "--part full"), ([fixed["out"], "--truncation", "0.8"], "fixed"),
                       ([str(foreign)], "not written by `ganctl export`"), ([str(tmp_path / "junk.onnx")], "cannot load"),
                       ([fixed["out"], "--class", "1"], "unconditional"), ([fixed["out"], "--noise-mode", "none"], "noise mode")):
        rc, _, err = run_main("sample", *args, "--seeds", "0-1", "--outdir", tmp_path / "o")
        assert rc == 2 and says in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sg3_t", "sg3_r"])
def test_nvlabs_stylegan3_pickle_matches_nvlabs_images(tmp_path, case, one_cpu_thread):
    """An NVlabs StyleGAN3 pickle (T and R) exported to ONNX gives NVlabs' own recorded images and w."""
    from nvlabs_format import case_tensors, load_fixture, write_fixture_pickle

    cases, tensors = load_fixture("nvlabs_sg3_reference")
    rec, ref = cases[case], case_tensors(tensors, case)
    pkl = write_fixture_pickle(tmp_path / "net.pkl", case, fixture="nvlabs_sg3_reference")
    full = OnnxGenerator(api.export(str(pkl), str(tmp_path / "full.onnx"))["out"])
    import onnxruntime as ort

    smap = ort.InferenceSession(api.export(str(pkl), str(tmp_path / "map.onnx"), part="mapping")["out"],
                                providers=["CPUExecutionProvider"])
    z = np.stack([np.random.RandomState(s).randn(full.info["z_dim"]) for s in rec["seeds"]]).astype(np.float32)
    checked = 0
    for i, (psi, cutoff) in enumerate(rec["truncations"]):
        if cutoff is not None:
            continue
        feeds = {"z": z, "psi": np.asarray(psi, dtype=np.float32)}
        if "c" in full.inputs:
            feeds["c"] = np.asarray(rec["classes"], dtype=np.int64)
        assert np.abs(smap.run(None, feeds)[0] - ref[f"out/w_{i}"].numpy()).max() <= 1e-4
        assert np.abs(full.session.run(None, feeds)[0] - ref[f"out/img_{i}"].numpy()).max() <= 1e-4
        checked += 1
    assert checked
