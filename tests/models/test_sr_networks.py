"""Super-resolution networks: exact parameter counts of BasicSR's/Real-ESRGAN's architectures (FACTS.md) through
`ganctl presets show NAME --summary --json`, shapes, and the VGG19 perceptual loss with a seeded random VGG19 file."""

from __future__ import annotations

import json

import pytest
import torch

from ganctl import api

COUNTS = {  # preset: (G params, D params)
    "esrgan-x4": (16_697_987, 14_499_401),          # RRDBNet x4, VGG-style D (128)
    "srgan-x4": (1_517_571, 14_499_401),            # MSRResNet x4
    "realesrgan-x4plus": (16_697_987, 4_376_897),   # U-Net D with spectral norm
    "realesrgan-x2plus": (16_703_171, 4_376_897),   # RRDBNet x2 (pixel-unshuffle)
    "realesrgan-x4plus-anime-6b": (4_467_779, 4_376_897),
    "realesr-general-x4v3": (1_213_296, 4_376_897),  # SRVGGNetCompact, 32 convs
    "realesr-animevideov3": (621_424, 4_376_897),    # 16 convs
}


def test_parameter_counts_through_the_cli(cli):
    out = json.loads(cli("presets", "show", "esrgan-x4", "--summary", "--json", check=0).stdout)
    assert (out["G_params"], out["D_params"]) == COUNTS["esrgan-x4"]
    assert out["image"] == [3, 128, 128]


@pytest.mark.parametrize("preset", [p for p in COUNTS if p != "esrgan-x4"])
def test_parameter_counts(preset):
    s = api.presets_summary(preset)
    assert (s["G_params"], s["D_params"]) == COUNTS[preset]


def test_generators_upscale_and_discriminators_shape():
    from ganctl.models.sr.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
    from ganctl.models.sr.generators import MSRResNet, RRDBNet, SRVGGNetCompact

    x = torch.rand(2, 3, 6, 5) * 2 - 1
    for G in (RRDBNet(num_feat=8, num_block=1, num_grow_ch=4), MSRResNet(num_feat=8, num_block=1, upscale=3),
              SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4)):
        assert G(x).shape == (2, 3, 6 * G.scale, 5 * G.scale)
    assert RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)(torch.zeros(1, 3, 8, 6)).shape == (1, 3, 16, 12)
    assert UNetDiscriminatorSN(3, 8)(torch.zeros(2, 3, 16, 24)).shape == (2, 1, 16, 24)
    assert VGGStyleDiscriminator(3, 8, 32)(torch.zeros(2, 3, 32, 32)).shape == (2, 1)
    with pytest.raises(ValueError, match="takes 32x32"):
        VGGStyleDiscriminator(3, 8, 32)(torch.zeros(2, 3, 16, 16))


@pytest.fixture(scope="module")
def random_vgg19(tmp_path_factory):
    """A seeded random VGG19 trunk under torchvision's key names (the perceptual loss reads only `features.*`)."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg19") / "vgg19-dcbb9e9d.pth"
    torch.save({f"features.{k}": v for k, v in torchvision.models.vgg19(weights=None).features.state_dict().items()}, path)
    return path


def test_perceptual_loss_is_basicsr_layers_l1_on_imagenet_normalised_input(random_vgg19):
    import torchvision

    from ganctl.losses.perceptual import PerceptualLoss

    loss = PerceptualLoss(["conv1_2", "relu2_2", "conv5_4"], [0.1, 0.5, 1.0], random_vgg19)
    fake, target = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    # Independent computation: torchvision's indices for those layers (conv1_2 = 2, relu2_2 = 8, conv5_4 = 34).
    net = torchvision.models.vgg19(weights=None)
    sd = torch.load(random_vgg19, weights_only=True)
    net.features.load_state_dict({k[len("features."):]: v for k, v in sd.items()})
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def feats(x):
        h, out = ((x + 1) / 2 - mean) / std, {}
        for i, layer in enumerate(net.features[:35]):
            h = layer(h.clone())
            out[i] = h.clone()
        return out

    f, t = feats(fake), feats(target)
    want = sum(w * (f[i] - t[i]).abs().mean() for i, w in ((2, 0.1), (8, 0.5), (34, 1.0)))
    assert torch.allclose(loss(fake, target), want, rtol=1e-5)


def test_missing_vgg19_is_one_line_naming_where_to_put_it(tmp_path, fmnist32, cli, monkeypatch):
    env = {"GANCTL_CACHE": str(tmp_path / "cache"), "GANCTL_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "th")}
    monkeypatch.delenv("GANCTL_VGG19_WEIGHTS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    p = cli("train", "--preset", "sr-tiny", "--data", fmnist32, "--outdir", tmp_path / "runs", "loss.perceptual_weight=1",
            check=2)
    assert "needs VGG19" in p.stderr and "vgg19-dcbb9e9d.pth" in p.stderr and str(tmp_path / "cache") in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
