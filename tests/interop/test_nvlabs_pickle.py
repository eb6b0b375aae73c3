"""NVlabs pickles: same images and w as NVlabs' own code (recorded fixture), safe loading, one-line refusals."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from nvlabs_format import (PLACEHOLDER_SRC, case_tensors, load_fixture, trees_from_ganctl, write_fixture_pickle,
                           write_pickle)

CASES = ("ada_uncond", "sg3_cond")


@pytest.fixture(scope="module")
def fixture():
    return load_fixture()


@pytest.mark.parametrize("case", CASES)
def test_images_and_w_equal_nvlabs(tmp_path, fixture, case, one_cpu_thread):
    from ganctl.engine import checkpoint as ckpt
    from ganctl.interop import read_network
    from ganctl.models import build_networks
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.latents import images_for_seeds

    cases, tensors = fixture
    rec, ref = cases[case], case_tensors(tensors, case)
    pkl = write_fixture_pickle(tmp_path / "net.pkl", case)
    gen = load_generator(pkl, "cpu")  # the path every sampling command takes
    G = gen.G
    classes = torch.tensor(rec["classes"]) if rec["c_dim"] else None
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in rec["seeds"]])).float()
    with torch.no_grad():
        for i, (psi, cutoff) in enumerate(rec["truncations"]):
            w = G.mapping(z, classes, truncation_psi=psi, truncation_cutoff=cutoff)
            assert (w - ref[f"out/w_{i}"]).abs().max() <= 1e-4, f"w differs at psi={psi} cutoff={cutoff}"
            img = images_for_seeds(G, rec["seeds"], gen.num_classes, "cpu", None, psi, cutoff, "const")
            assert img.shape == ref[f"out/img_{i}"].shape
            assert (img - ref[f"out/img_{i}"]).abs().max() <= 1e-4, f"image differs at psi={psi} cutoff={cutoff}"
    # G (not only G_ema) and D are mapped too.
    net = read_network(pkl)
    cfg = net.config()
    G2, D = build_networks(cfg, net.resolution, net.channels, net.num_classes)
    G2.load_state_dict(ckpt.module_state("G", net.tensors))
    D.load_state_dict(ckpt.module_state("D", net.tensors))
    with torch.no_grad():
        assert (G2.eval()(z, classes, noise_mode="const") - ref["out/G_img"]).abs().max() <= 1e-4
        assert (D.eval()(ref["out/img_0"], classes) - ref["out/D_logits"]).abs().max() <= 1e-4


@pytest.mark.parametrize("case", CASES)
def test_parameter_counts_equal_nvlabs(tmp_path, fixture, case, run_main):
    from ganctl import api

    cases, tensors = fixture
    ref = case_tensors(tensors, case)

    def count(tree, prefix):
        n = sum(ref[prefix + p].numel() for p in tree["parameters"])
        return n + sum(count(sub, f"{prefix}{name}.") for name, sub in tree["modules"].items() if sub)

    pkl = write_fixture_pickle(tmp_path / "net.pkl", case)
    info = api.info(str(pkl))
    trees = cases[case]["trees"]
    n_g, n_d = count(trees["G"], "G/"), count(trees["D"], "D/")
    assert info["params"] == {"G": n_g, "D": n_d}
    assert info["classes"] == cases[case]["c_dim"] and info["format"] == "nvlabs-pickle"
    code, out, _ = run_main("info", pkl)  # the human form
    assert code == 0 and f"G {n_g:,}  D {n_d:,}" in out and info["sha256"] in out


def test_embedded_source_is_never_executed(tmp_path, fixture, cli, run_main):
    marker = tmp_path / "pwned"
    src = f"open({str(marker)!r}, 'w').write('the pickle ran its code')\n" + PLACEHOLDER_SRC
    # The payload is live: executing the embedded source (what NVlabs' loader does) creates the file.
    probe = tmp_path / "probe"
    exec(compile(src.replace(str(marker), str(probe)), "module_src", "exec"), {})
    assert probe.exists()
    pkl = write_fixture_pickle(tmp_path / "evil.pkl", "ada_uncond", module_src=src)
    assert src.encode() in pkl.read_bytes()
    cli("convert", pkl, tmp_path / "out.safetensors", check=0)
    assert not marker.exists()
    assert run_main("info", pkl, "--json")[0] == 0
    assert run_main("sample", pkl, "--seeds", "0-1", "--outdir", tmp_path / "s")[0] == 0
    assert (tmp_path / "out.safetensors").is_file() and not marker.exists()


def _tf_era_pickle() -> bytes:
    # What TF-era StyleGAN pickles start with: an instance of dnnlib.tflib.network.Network (PROTO 3, GLOBAL, NEWOBJ).
    return b"\x80\x03cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01}q\x02b."


def _stylegan3_pickle(path: Path) -> Path:
    # Like networks_stylegan3.SynthesisLayer: small numpy arrays among the attributes.
    layer = {"class_name": "SynthesisLayer", "attrs": {"is_torgb": False, "in_size": np.array([36, 36]),
                                                       "in_sampling_rate": np.float64(16.0)},
             "parameters": [], "buffers": [], "modules": {}}
    syn = {"class_name": "SynthesisNetwork", "attrs": {}, "parameters": [], "buffers": [],
           "modules": {"input": {"class_name": "SynthesisInput", "attrs": {}, "parameters": [], "buffers": [],
                                 "modules": {}}, "L0_36_512": layer}}
    g = {"class_name": "Generator", "attrs": {"img_resolution": 256}, "parameters": [], "buffers": [],
         "modules": {"synthesis": syn}}
    return write_pickle(path, {"G_ema": g}, {})


class _CallsSystem:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("kind", ["truncated", "tf", "stylegan3", "other_global", "object_array", "plain_pickle",
                                  "random"])
def test_bad_files_refused_with_one_line(tmp_path, kind, cli, run_main):
    marker = tmp_path / "ran"
    path = tmp_path / f"{kind}.pkl"
    if kind == "truncated":
        full = write_fixture_pickle(tmp_path / "full.pkl", "ada_uncond").read_bytes()
        path.write_bytes(full[: len(full) // 2])
        expect = "truncated pickle"
    elif kind == "tf":
        path.write_bytes(_tf_era_pickle())
        expect = "TensorFlow-era StyleGAN"
    elif kind == "stylegan3":  # StyleGAN3 files are read (test_nvlabs_sg3_pickle.py); a broken one is refused
        _stylegan3_pickle(path)
        expect = "incomplete StyleGAN3 Generator"
    elif kind == "other_global":
        path.write_bytes(pickle.dumps({"G_ema": _CallsSystem(marker)}, protocol=3))
        expect = "system, which ganctl never imports or calls"
    elif kind == "object_array":  # numpy arrays are admitted as numeric data only
        path.write_bytes(pickle.dumps({"G_ema": np.array([_CallsSystem(marker)], dtype=object)}, protocol=3))
        expect = "not a plain numeric type"
    elif kind == "plain_pickle":
        path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
        expect = "not an NVlabs network pickle"
    else:
        data = bytearray(np.random.RandomState(0).bytes(4096))
        data[0] = 0x17
        path.write_bytes(bytes(data))
        expect = "not a pickle"
    out = tmp_path / "out.safetensors"
    for args in (("convert", path, out), ("info", path), ("sample", path, "--outdir", tmp_path / "s")):
        if kind == "other_global" and args[0] == "convert":  # once through a real subprocess
            p = cli(*args, check=2)
            code, err = p.returncode, p.stderr.strip()
        else:
            code, _, err = run_main(*args)
            err = err.strip()
        assert code == 2, err
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert str(path) in err and expect in err, err
    assert not out.exists() and not (tmp_path / "s").exists() and not marker.exists()


def test_other_shapes_round_trip(tmp_path, one_cpu_thread):
    """Any resolution / channel count / class count: RGBA 64x64 conditional, written in NVlabs' format, reads back."""
    from ganctl.interop import read_network
    from ganctl.models.stylegan2 import build

    torch.manual_seed(0)
    model = dict(z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8, num_fp16_res=1, conv_clamp=None,
                 mbstd_group=2, mbstd_channels=2, d_cmap_layers=1, w_avg_beta=0.99)
    G, D = build(model, 64, 4, 5)
    G_ema, _ = build(model, 64, 4, 5)
    trees, tensors = trees_from_ganctl(G, D, G_ema, 64, 8)
    net = read_network(write_pickle(tmp_path / "rgba.pkl", trees, tensors, protocol=4))
    assert (net.resolution, net.channels, net.num_classes) == (64, 4, 5)
    for k in ("w_avg_beta", "mbstd_group", "mbstd_channels", "d_cmap_layers", "num_fp16_res", "conv_clamp"):
        assert net.model[k] == model[k], k
    for prefix, m in (("G", G), ("D", D), ("G_ema", G_ema)):
        for k, v in m.state_dict().items():
            assert torch.equal(net.tensors[f"{prefix}/{k}"], v), f"{prefix}/{k}"


def test_convert_then_sample_is_pickle_free_and_identical(tmp_path, run_main):
    from ganctl.engine.checkpoint import load_checkpoint
    from ganctl.metrics.sources import resolve_source

    pkl = write_fixture_pickle(tmp_path / "network-snapshot-000120.pkl", "sg3_cond")
    out = tmp_path / "net.safetensors"
    code, stdout, _ = run_main("convert", pkl, out)
    assert code == 0 and stdout.strip() == str(out)
    tensors, meta = load_checkpoint(out)
    assert {k.split("/")[0] for k in tensors} == {"G", "D", "G_ema"} and "G_ema/mapping.w_avg" in tensors
    assert meta["source"]["format"] == "nvlabs-pickle" and meta["source"]["kimg"] == 120
    g_args = meta["source"]["arguments"]["G"]["kwargs"]  # the network's recorded constructor arguments
    assert g_args["c_dim"] == 3 and g_args["channel_base"] == 128 and g_args["mapping_kwargs"] == {"num_layers": 2}
    import hashlib

    assert meta["source"]["sha256"] == hashlib.sha256(pkl.read_bytes()).hexdigest()
    assert meta["dataset"] == {"name": "tiny", "resolution": 16, "channels": 1, "label_names": ["0", "1", "2"],
                               "count": 512}
    assert meta["config"]["model"]["family"] == "stylegan2" and meta["config"]["model"]["conditional"] is True
    code, stdout, _ = run_main("info", out, "--json")
    info = json.loads(stdout)
    assert code == 0 and info["kimg"] == 120 and info["source"]["sha256"] == meta["source"]["sha256"]
    for src, d in ((pkl, "a"), (out, "b")):
        args = ("sample", src, "--seeds", "0-5", "--class", "2", "--truncation", "0.7", "--no-provenance",  # names the file
                "--outdir", tmp_path / d)
        assert run_main(*args)[0] == 0
    for s in range(6):
        assert (tmp_path / "a" / f"seed{s:04d}.png").read_bytes() == (tmp_path / "b" / f"seed{s:04d}.png").read_bytes()
    assert resolve_source(str(pkl), allow_stats=False, num=8).kind == "generator"
