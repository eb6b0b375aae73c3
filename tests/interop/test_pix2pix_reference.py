"""Generators saved by the pix2pix/CycleGAN reference code (plain state dicts with its key names, which ganctl's
networks share): the architecture inferred from keys and shapes (dropout shifting the ResNet indices, batch vs
instance norm, U-Net depth), old instance-norm statistics dropped, and `translate` on the file itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganctl.errors import UsageError
from ganctl.interop.pix2pix import read_generator
from ganctl.models.translation.networks import build_generator, init_weights


@pytest.mark.parametrize("net,norm,dropout", [("unet_256", "batch", True), ("unet_128", "batch", True),
                                              ("resnet_9blocks", "instance", False), ("resnet_6blocks", "instance", True),
                                              ("resnet_6blocks", "batch", True)])
def test_architecture_inferred_from_keys(tmp_path, net, norm, dropout):
    torch.manual_seed(1)
    G = init_weights(build_generator(net, 3, 1, 4, norm, dropout))
    sd = G.state_dict()
    if norm == "instance":  # what PyTorch < 0.4 saved for InstanceNorm2d; the reference deletes these on load
        sd["model.2.running_mean"] = torch.zeros(4)
    torch.save(sd, tmp_path / "latest_net_G.pth")
    H, m = read_generator(tmp_path / "latest_net_G.pth")
    assert (m["generator"], m["norm"], m["channels"]) == (net, norm, {"in": 3, "out": 1})
    if net.startswith("resnet"):
        assert m["dropout"] == dropout
    x = torch.randn(1, 3, 256 if net == "unet_256" else 128, 256 if net == "unet_256" else 128)
    G.eval(), H.eval()
    with torch.no_grad():
        assert torch.equal(G(x), H(x))


def test_translate_reads_reference_files_and_refuses_others(tmp_path):
    from ganctl import api

    torch.manual_seed(2)
    for side in ("A", "B"):
        torch.save(init_weights(build_generator("resnet_6blocks", 3, 3, 4, "instance", False)).state_dict(),
                   tmp_path / f"latest_net_G_{side}.pth")
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (21, 30, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    r = api.translate(str(tmp_path / "latest_net_G_A.pth"), [str(tmp_path / "x.png")], str(tmp_path / "out"),
                      direction="BtoA", dropout="off", bn="running")
    assert r["network"].endswith("latest_net_G_B.pth") and r["padded"] == 1
    assert Image.open(r["written"][0]).size == (30, 21)
    torch.save({"net": "not a state dict"}, tmp_path / "bad.pth")
    with pytest.raises(UsageError, match="bad.pth: not"):
        api.translate(str(tmp_path / "bad.pth"), [str(tmp_path / "x.png")], str(tmp_path / "out2"))
    assert not (tmp_path / "out2").exists()
