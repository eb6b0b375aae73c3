"""`ganctl export --format onnx` of the image-to-image families (sr, pix2pix, cyclegan): onnxruntime gives PyTorch's
eval-mode output within 1e-4 for inputs of several batch sizes and image sizes (N, H and W are dynamic), CycleGAN
exports either direction, and what these graphs cannot be is refused in one line. (Its own file so that pytest-xdist's
loadfile puts it on another worker than test_onnx_export.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from ganctl import api  # noqa: E402
from ganctl.sampling.generate import load_generator  # noqa: E402

STANDARD = {"", "ai.onnx"}

# (H, W) sizes other than the export's example (2M x 3M, sr 8 x 12), one of them odd for sr: H and W are dynamic.
IMAGE_SIZES = {"sr": [(7, 5), (16, 12)], "pix2pix": [(32, 32), (96, 64)], "cyclegan": [(12, 20), (32, 32)]}


@pytest.mark.parametrize("name", ["sr", "pix2pix", "cyclegan"])
def test_image_to_image_onnxruntime_matches_pytorch(tmp_path, tiny_networks, name, run_main, one_cpu_thread):
    """`input` (N, C, H, W) in [-1, 1] -> `image`, dynamic N, H and W; PyTorch's eval-mode output (translate --dropout
    off --bn running) within 1e-4; CycleGAN's BtoA export is G_B."""
    import onnxruntime as ort

    from ganctl.sampling.conditioned import apply_generator

    ckpt = tiny_networks[name]
    gen = load_generator(ckpt, "cpu", conditioning="image")
    directions = ["AtoB", "BtoA"] if name == "cyclegan" else ["AtoB"]
    for direction in directions:
        res = api.export(str(ckpt), str(tmp_path / f"{direction}.onnx"), direction=direction)
        if name == "sr":  # `sample` draws latents: an image graph is refused, naming the command that applies it
            rc, _, err = run_main("sample", res["out"], "--seeds", "0", "--outdir", tmp_path / "o")
            assert rc == 2 and "ganctl upscale" in err and len(err.strip().splitlines()) == 1, err
        model = onnx.load(res["out"])
        assert {n.domain for n in model.graph.node} <= STANDARD
        assert res["inputs"] == ["input"] and res["outputs"] == ["image"]
        dims = model.graph.input[0].type.tensor_type.shape.dim
        assert dims[0].dim_param and dims[2].dim_param and dims[3].dim_param  # N, H, W symbolic
        assert json.loads({p.key: p.value for p in model.metadata_props}["ganctl"])["conditioning"] == "image"
        sess = ort.InferenceSession(res["out"], providers=["CPUExecutionProvider"])
        for n, (h, w) in zip((1, 3), IMAGE_SIZES[name]):
            x = torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(h * w)) * 2 - 1
            with torch.no_grad():
                want = apply_generator(gen.G, x, direction).numpy()
            got = sess.run(None, {"input": x.numpy()})[0]
            assert got.shape == want.shape == (n, 3, h * (4 if name == "sr" else 1), w * (4 if name == "sr" else 1))
            assert np.abs(got - want).max() <= 1e-4, f"{name} {direction} {h}x{w}"
            assert want.std() > 0.05  # the tiny network's output varies: parity compares something
    if name == "cyclegan":  # the two directions are two different generators
        a, b = (ort.InferenceSession(str(tmp_path / f"{d}.onnx")).run(None, {"input": x.numpy()})[0] for d in directions)
        assert np.abs(a - b).max() > 1e-2


@pytest.mark.parametrize("args, says", [
    (["pix2pix", "--direction", "BtoA"], "one generator"),
    (["cyclegan", "--direction", "back"], "AtoB or BtoA"),
    (["sr", "--truncation", "0.5"], "no latent"),
    (["sr", "--part", "synthesis"], "--part synthesis"),
])
def test_bad_image_exports_refused_in_one_line(tmp_path, tiny_networks, run_main, args, says, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main("export", tiny_networks[args[0]], *args[1:])
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("*.onnx*"))  # nothing half-written


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rrdbnet_x2", "srvgg_x4", "msrresnet_x4"])
def test_basicsr_files_export_with_basicsr_outputs(tmp_path, name, one_cpu_thread):
    """BasicSR / Real-ESRGAN .pth files (through ganctl's reader) exported to ONNX give BasicSR's own recorded outputs
    (rrdbnet_x2: pixel-unshuffle by 2, so H and W are multiples of 2)."""
    import sys
    from pathlib import Path

    import onnxruntime as ort

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))
    from test_basicsr import _case

    sd, x, want, _ = _case(name)
    torch.save({"params": sd}, tmp_path / f"{name}.pth")
    res = api.export(str(tmp_path / f"{name}.pth"), str(tmp_path / "sr.onnx"))
    got = ort.InferenceSession(res["out"], providers=["CPUExecutionProvider"]).run(None, {"input": (x * 2 - 1).numpy()})[0]
    assert np.abs(got - (want * 2 - 1).numpy()).max() <= 1e-4
