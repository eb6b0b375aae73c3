"""`ganctl upscale` (sampling/upscale.py): any mode and size, folders with relative paths, --outscale, tiles equal to
the whole-image pass when the pad covers the receptive field, batching, provenance, and bad input refused in one line
with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganctl import api
from ganctl.errors import UsageError

# sr-tiny made tinier; one training step is enough (the weights only need to be a fixed, non-trivial network).
TINY = ["model.generator=rrdbnet", "model.num_feat=8", "model.num_block=1", "model.num_grow_ch=8", "model.d_num_feat=8", "train.batch=8",
        "train.tick_kimg=0.008", "train.grid_size=0", "train.threads=1"]


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory, fmnist32):
    out = tmp_path_factory.mktemp("sr_runs")
    return api.train("sr-tiny", data=str(fmnist32), outdir=str(out), kimg=0.008, overrides=TINY)["run_dir"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sr_inputs")
    r = np.random.default_rng(0)
    (d / "sub").mkdir()
    Image.fromarray(r.integers(0, 256, (13, 17, 3), dtype=np.uint8)).save(d / "rgb.png")
    rgba = r.integers(0, 256, (13, 17, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(d / "sub" / "rgba.png")
    Image.fromarray(r.integers(0, 65536, (9, 11), dtype=np.uint16)).save(d / "gray16.png")
    Image.fromarray(r.integers(0, 256, (9, 11), dtype=np.uint8)).save(d / "gray.jpg")
    return d


def test_upscale_folder_any_mode_through_the_cli(sr_run, inputs, tmp_path, cli):
    from ganctl.sampling.provenance import read

    res = json.loads(cli("upscale", sr_run, inputs, "--out", tmp_path / "up", "--json", check=0).stdout)
    assert res["count"] == 4 and res["scale"] == 4
    want = {"rgb.png": ("RGB", (68, 52)), "sub/rgba.png": ("RGBA", (68, 52)), "gray16.png": ("I;16", (44, 36)),
            "gray.png": ("L", (44, 36))}
    for rel, (mode, size) in want.items():
        with Image.open(tmp_path / "up" / rel) as im:
            assert (im.mode, im.size) == (mode, size), rel
            if mode == "RGBA":  # alpha goes through the network on its own, as a grayscale image would
                Image.open(inputs / "sub" / "rgba.png").getchannel("A").save(tmp_path / "alpha.png")
                api.upscale(sr_run, [str(tmp_path / "alpha.png")], str(tmp_path / "alpha_up"), device="cpu")
                want_alpha = np.asarray(Image.open(tmp_path / "alpha_up" / "alpha.png"))
                assert np.abs(np.asarray(im)[..., 3].astype(int) - want_alpha).max() <= 1
            if mode == "I;16":
                assert np.asarray(im).max() > 255  # written at 16 bits
        assert read(tmp_path / "up" / rel).get("kind") == "upscale"


def test_outscale_and_batching_do_not_change_pixels(sr_run, inputs, tmp_path):
    a = api.upscale(sr_run, [str(inputs / "rgb.png")], str(tmp_path / "a"), outscale=3.5, device="cpu")
    assert a["files"][0]["size"] == [int(17 * 3.5), int(13 * 3.5)]
    # Two same-size images in one batch give what each gives alone.
    (tmp_path / "two").mkdir()
    img = Image.open(inputs / "rgb.png")
    img.save(tmp_path / "two" / "x.png")
    img.transpose(Image.FLIP_LEFT_RIGHT).save(tmp_path / "two" / "y.png")
    api.upscale(sr_run, [str(tmp_path / "two")], str(tmp_path / "b2"), batch_size=2, device="cpu")
    api.upscale(sr_run, [str(tmp_path / "two" / "x.png")], str(tmp_path / "b1"), batch_size=1, device="cpu")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b2" / "x.png")), np.asarray(Image.open(tmp_path / "b1" / "x.png")))


def test_tiles_equal_the_whole_image_when_the_pad_covers_the_receptive_field(sr_run):
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.upscale import run_network

    G = load_generator(sr_run, "cpu", conditioning="image").G
    x = torch.rand(1, 1, 40, 36, generator=torch.Generator().manual_seed(1))
    whole = run_network(G, x)
    # Receptive field at LR of this RRDBNet (1 block): conv_first + 15 dense-block convs + conv_body = 17 px radius,
    # plus less than 1 px from the HR convs; pad 18 makes every tile see all the context it uses.
    diff = {pad: (run_network(G, x, tile=16, tile_pad=pad) - whole).abs().max().item() for pad in (0, 4, 18)}
    assert diff[18] < 1e-5            # equal up to float summation order
    assert diff[0] > diff[18]         # without context the seams differ
    assert diff[4] <= diff[0]


def test_bad_input_is_one_line_and_nothing_is_written(sr_run, inputs, tmp_path, cli):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.png").write_text("not an image")
    Image.open(inputs / "rgb.png").save(bad / "ok.png")
    p = cli("upscale", sr_run, bad, "--out", tmp_path / "out", check=2)
    assert "notes.png: not a readable image" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    for kwargs, needle in (({"outscale": 0.01}, "smaller than 1 pixel"), ({"outscale": -2.0}, "--outscale"),
                           ({"tile": -1}, "--tile")):
        with pytest.raises(UsageError, match=needle):
            api.upscale(sr_run, [str(inputs / "rgb.png")], str(tmp_path / "out"), device="cpu", **kwargs)
    with pytest.raises(UsageError, match="no such"):
        api.upscale(str(tmp_path / "missing.pth"), [str(inputs)], str(tmp_path / "out"))
    with pytest.raises(UsageError, match="no such file or folder"):
        api.upscale(sr_run, [str(tmp_path / "nope.png")], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_upscale_outputs_carry_signed_credentials(sr_run, inputs, tmp_path, cli):
    """`--sign/--key` (the signing hook every generating command shares, sampling/output.py) on upscale's outputs:
    each PNG verifies as valid against the test root, the 16-bit grayscale one included."""
    pytest.importorskip("c2pa", reason="content credentials need the c2pa extra: pip install 'ganctl[c2pa]'")
    from ganctl.sampling.credentials import make_test_chain

    chain = make_test_chain(tmp_path / "pki")
    cli("upscale", sr_run, inputs / "rgb.png", inputs / "gray16.png", "--out", tmp_path / "up", "--sign", chain["cert"],
        "--key", chain["key"], check=0)
    states = {r["file"].rsplit("/", 1)[-1]: r["c2pa"]
              for r in api.provenance_verify([tmp_path / "up" / "rgb.png", tmp_path / "up" / "gray16.png"], chain["ca"])}
    assert states == {"rgb.png": "valid", "gray16.png": "valid"}
