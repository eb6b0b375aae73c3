"""pix2pix/CycleGAN reference checkpoint sets (`<epoch>_net_G.pth` + `_net_D.pth`, `_net_G_A/_G_B/_D_A/_D_B.pth`) through
`read_network`: `info`, `convert` (whose checkpoint `translate` uses with the same pixels as the .pth itself) and
`train --init`. The files are ganctl's own networks saved as plain state dicts: they share the reference's key names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganctl.errors import UsageError
from ganctl.models.translation.networks import PatchDiscriminator, build_generator, init_weights


def _save(net, path, legacy=False):
    torch.save(init_weights(net).state_dict(), path, _use_new_zipfile_serialization=not legacy)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """A pix2pix set (unet_32, batch norm, 1 channel, PatchGAN n_layers 2 on 2 channels) and a CycleGAN set (resnet_6blocks,
    instance norm, dropout, 3 channels, n_layers 3; G_B in the legacy pre-1.6 torch.save format)."""
    root = tmp_path_factory.mktemp("p2p")
    torch.manual_seed(5)
    (root / "edges").mkdir()
    _save(build_generator("unet_32", 1, 1, 4, "batch", True), root / "edges" / "latest_net_G.pth")
    _save(PatchDiscriminator(2, 4, 2, "batch"), root / "edges" / "latest_net_D.pth")
    (root / "h2z").mkdir()
    for side in ("A", "B"):
        _save(build_generator("resnet_6blocks", 3, 3, 4, "instance", True), root / "h2z" / f"20_net_G_{side}.pth",
              legacy=side == "B")
        _save(PatchDiscriminator(3, 4, 3, "instance"), root / "h2z" / f"20_net_D_{side}.pth")
    return root


def test_sets_read_with_their_siblings(sets):
    from ganctl import api
    from ganctl.interop import read_network

    info = api.info(str(sets / "edges" / "latest_net_G.pth"))
    assert (info["family"], info["format"], info["channels"], info["resolution"]) == ("pix2pix", "pix2pix-cyclegan-pth", 1, 32)
    m = info["config"]["model"]
    assert (m["generator"], m["ngf"], m["norm"], m["dropout"], m["ndf"], m["n_layers_D"]) == ("unet_32", 4, "batch", True, 4, 2)
    assert info["networks"] == ["G", "D", "G_ema"]
    assert info["params"]["D"] == sum(p.numel() for p in PatchDiscriminator(2, 4, 2, "batch").parameters())
    # Any file of a CycleGAN set reads the whole set (here the discriminator), dropout seen from the block indices.
    net = read_network(sets / "h2z" / "20_net_D_B.pth")
    assert net.model["family"] == "cyclegan" and net.model["dropout"] is True and net.model["n_layers_D"] == 3
    assert {k.split(".")[0] for k in net.tensors} == {"G/G_A", "G/G_B", "G_ema/G_A", "G_ema/G_B", "D/D_A", "D/D_B"}
    want = torch.load(sets / "h2z" / "20_net_G_B.pth", weights_only=True)  # the legacy-format file
    assert all(torch.equal(net.tensors[f"G/G_B.{k}"], v) for k, v in want.items())


def test_convert_then_translate_is_the_same_as_the_pth(sets, tmp_path):
    from ganctl import api

    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 255, (30, 27), dtype=np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(rng.randint(0, 255, (21, 26, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    cases = [(sets / "edges" / "latest_net_G.pth", "g.png", "AtoB", {}),  # the paper's test time: dropout on, batch stats
             (sets / "edges" / "latest_net_G.pth", "g.png", "AtoB", {"dropout": "off", "bn": "running"}),
             (sets / "h2z" / "20_net_G_A.pth", "c.png", "BtoA", {})]
    for i, (pth, img, direction, kw) in enumerate(cases):
        ck = tmp_path / f"c{i}.safetensors"
        r = api.convert(str(pth), str(ck))
        assert r["networks"] == ["G", "D", "G_ema"]
        a = api.translate(str(pth), [str(tmp_path / img)], str(tmp_path / f"a{i}"), direction=direction, seed=3, **kw)
        b = api.translate(str(ck), [str(tmp_path / img)], str(tmp_path / f"b{i}"), direction=direction, seed=3, **kw)
        x, y = (np.asarray(Image.open(r["written"][0])) for r in (a, b))
        assert x.shape[:2] == np.asarray(Image.open(tmp_path / img)).shape[:2] and x.std() > 0
        assert np.array_equal(x, y), (pth.name, direction, kw)


def test_refusals(sets, tmp_path, run_main):
    from ganctl.interop import read_network

    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "20_net_G_A.pth").write_bytes((sets / "h2z" / "20_net_G_A.pth").read_bytes())
    with pytest.raises(UsageError, match="20_net_G_B.pth is not beside it"):
        read_network(tmp_path / "lone" / "20_net_G_A.pth")
    torch.save(init_weights(PatchDiscriminator(2, 4, 3, "batch")).state_dict(), tmp_path / "disc.pth")
    with pytest.raises(UsageError, match="discriminator alone"):
        read_network(tmp_path / "disc.pth")
    # A G whose D was trained on other channels, a G mapping 3 to 1 channels: refused before anything is written.
    (tmp_path / "mix").mkdir()
    (tmp_path / "mix" / "latest_net_G.pth").write_bytes((sets / "edges" / "latest_net_G.pth").read_bytes())
    torch.save(init_weights(PatchDiscriminator(6, 4, 2, "batch")).state_dict(), tmp_path / "mix" / "latest_net_D.pth")
    torch.save(init_weights(build_generator("unet_32", 3, 1, 4, "batch", True)).state_dict(), tmp_path / "rgb2gray.pth")
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    sd = torch.load(sets / "edges" / "latest_net_G.pth", weights_only=True)
    sd["model.model.1.model.1.weight"] = sd["model.model.1.model.1.weight"][:, :2]
    torch.save(sd, tmp_path / "latest_net_G.pth")  # a U-Net whose second conv has another shape
    for name, msg in (("mix/latest_net_G.pth", "does not go with"), ("rgb2gray.pth", "maps 3 to 1 channels"),
                      ("other.pth", "none of the networks ganctl reads"), ("latest_net_G.pth", "does not fit")):
        code, out, err = run_main("convert", tmp_path / name, tmp_path / "o.safetensors")
        assert code == 2 and msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "o.safetensors").exists()


def test_train_init_from_reference_files(sets, tmp_path):
    from ganctl import api
    from ganctl.data.dataset import write_tensors
    from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint

    from _testdata import load_fmnist

    imgs, _ = load_fmnist("train", 8)
    pad = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))[:, None]
    write_tensors(tmp_path / "pairs", {"input": 255 - pad, "target": pad}, np.full(8, -1),
                  {"kind": "paired", "name": "inv2fm", "label_names": [], "factor": 1})
    pth = sets / "edges" / "latest_net_G.pth"
    r = api.train("pix2pix-tiny", str(tmp_path / "pairs"), outdir=str(tmp_path / "runs"), kimg=0.002, seed=1, init=str(pth),
                  overrides=["train.batch=2", "train.tick_kimg=0.002", "train.grid_size=2", "train.threads=1"])
    tensors, meta = load_checkpoint(latest_checkpoint(Path(r["run_dir"]) / "checkpoints"))
    m = meta["config"]["model"]
    assert (m["generator"], m["ngf"], m["ndf"], m["n_layers_D"]) == ("unet_32", 4, 4, 2)  # the file's architecture
    assert m["lr_decay_kimg"] == 12  # the preset's schedule (no file records it)
    start = torch.load(pth, weights_only=True)
    moved = [k for k, v in start.items() if v.is_floating_point() and not torch.equal(tensors[f"G/{k}"], v)]
    assert moved and all(tensors[f"G/{k}"].shape == v.shape for k, v in start.items())


def test_train_init_from_a_cyclegan_set(tmp_path):
    from ganctl import api
    from ganctl.data.dataset import write_tensors
    from ganctl.engine.checkpoint import latest_checkpoint, load_checkpoint

    from _testdata import load_fmnist

    imgs, _ = load_fmnist("train", 12)
    pad = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))[:, None]
    write_tensors(tmp_path / "unpaired", {"A": pad[:6], "B": pad[6:]}, np.zeros(0),
                  {"kind": "unpaired", "name": "ab", "label_names": []})
    torch.manual_seed(6)
    for side in ("A", "B"):
        _save(build_generator("resnet_6blocks", 1, 1, 4, "instance", False), tmp_path / f"latest_net_G_{side}.pth")
        _save(PatchDiscriminator(1, 4, 2, "instance"), tmp_path / f"latest_net_D_{side}.pth")
    r = api.train("cyclegan-tiny", str(tmp_path / "unpaired"), outdir=str(tmp_path / "runs"), kimg=0.002, seed=1,
                  init=str(tmp_path / "latest_net_G_A.pth"),
                  overrides=["train.batch=2", "train.tick_kimg=0.002", "train.grid_size=2", "train.threads=1"])
    tensors, meta = load_checkpoint(latest_checkpoint(Path(r["run_dir"]) / "checkpoints"))
    m = meta["config"]["model"]
    assert (m["family"], m["generator"], m["ngf"], m["ndf"], m["n_layers_D"]) == ("cyclegan", "resnet_6blocks", 4, 4, 2)
    start = torch.load(tmp_path / "latest_net_D_B.pth", weights_only=True)
    assert all(tensors[f"D/D_B.{k}"].shape == v.shape for k, v in start.items())
    assert any(not torch.equal(tensors[f"D/D_B.{k}"], v) for k, v in start.items())  # trained from the file's weights
