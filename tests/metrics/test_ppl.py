"""`ganctl ppl`: LPIPS against a plain-PyTorch formula (and the `lpips` package where installed), the path sampler
against a plain reference of NVlabs' formula on a real (tiny) StyleGAN2 and a z-input generator, the percentile
reduction, and the CLI. Seeded random VGG16 trunk and LPIPS linear weights: nothing is downloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from metrics_testdata import run_cli
from ganctl.metrics.lpips import LPIPS, build_lpips
from ganctl.metrics.ppl import filtered_mean, path_distances, sample_distances
from ganctl.sampling.generate import load_generator

CH = (64, 128, 256, 512, 512)


@pytest.fixture(scope="module")
def lin_file(tmp_path_factory):
    g = torch.Generator().manual_seed(3)
    sd = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) * 0.1 for i, c in enumerate(CH)}
    path = tmp_path_factory.mktemp("lpips") / "vgg.pth"
    torch.save(sd, path)
    return path


@pytest.fixture(scope="module")
def lp(vgg_weights, lin_file) -> LPIPS:
    return build_lpips(vgg_weights, lin_file)


def reference_lpips(vgg_sd: dict, lin: dict, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """LPIPS v0.1 as Zhang et al. define it, on images in [0, 255], with torchvision's VGG16 split at relu1_2..relu5_3."""
    import torchvision

    vgg = torchvision.models.vgg16()
    vgg.load_state_dict(vgg_sd)
    feats = vgg.features.eval()
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    total = torch.zeros(x0.shape[0])
    h0, h1 = (x0 / 127.5 - 1 - shift) / scale, (x1 / 127.5 - 1 - shift) / scale
    for i, (a, b) in enumerate(((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))):
        for layer in list(feats)[a:b]:
            h0, h1 = layer(h0.clone()), layer(h1.clone())
        n0 = h0 / (torch.sqrt(torch.sum(h0 ** 2, dim=1, keepdim=True)) + 1e-10)
        n1 = h1 / (torch.sqrt(torch.sum(h1 ** 2, dim=1, keepdim=True)) + 1e-10)
        conv = torch.nn.functional.conv2d((n0 - n1) ** 2, lin[f"lin{i}.model.1.weight"])
        total += conv.mean(dim=(2, 3)).flatten()
    return total


def test_lpips_equals_the_formula(lp, vgg_weights, lin_file):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 3, 40, 40, generator=g) * 255
    x1 = (x0 + torch.randn(3, 3, 40, 40, generator=g) * 20).clamp(0, 255)
    vgg_sd = torch.load(vgg_weights, weights_only=True)
    lin = torch.load(lin_file, weights_only=True)
    with torch.no_grad():
        ours = lp(x0, x1)
        ref = reference_lpips(vgg_sd, lin, x0, x1)
        same = lp(x0, x0)
    assert (ours > 0).all() and torch.allclose(ours, ref, rtol=1e-5, atol=0) and (same == 0).all()


@pytest.mark.slow  # builds two more full VGG16s (the lpips package's and ours): ~30 s on 2 shared cores
def test_lpips_equals_the_lpips_package(lp, vgg_weights, lin_file):
    lpips_pkg = pytest.importorskip("lpips")
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 3, 40, 40, generator=g) * 255
    x1 = (x0 + torch.randn(3, 3, 40, 40, generator=g) * 20).clamp(0, 255)
    vgg_sd = torch.load(vgg_weights, weights_only=True)
    with torch.no_grad():
        ours = lp(x0, x1)
    ref_pkg = lpips_pkg.LPIPS(net="vgg", pretrained=True, pnet_rand=True, model_path=str(lin_file), verbose=False)
    trunk = {k[len("features."):]: v for k, v in vgg_sd.items() if k.startswith("features.")}
    for i, (a, b) in enumerate(((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))):
        sl = getattr(ref_pkg.net, f"slice{i + 1}")
        sl.load_state_dict({f"{int(k.split('.')[0])}.{k.split('.')[1]}": v for k, v in trunk.items()
                            if a <= int(k.split(".")[0]) < b})
    with torch.no_grad():
        pkg = ref_pkg(x0 / 127.5 - 1, x1 / 127.5 - 1).flatten()
    assert torch.allclose(ours, pkg, rtol=1e-5, atol=0)


def nvlabs_reference(G, lp, z0, z1, t, eps, space, crop):
    """NVlabs' PPLSampler.forward, written out plainly (slerp from its metrics code, lerp in W, crop, [0, 255])."""
    def slerp(a, b, tt):
        a = a / a.norm(dim=-1, keepdim=True)
        b = b / b.norm(dim=-1, keepdim=True)
        d = (a * b).sum(dim=-1, keepdim=True)
        p = tt * torch.acos(d)
        c = b - d * a
        c = c / c.norm(dim=-1, keepdim=True)
        d = a * torch.cos(p) + c * torch.sin(p)
        return d / d.norm(dim=-1, keepdim=True)

    t = t.unsqueeze(1)
    if space == "w":
        w0, w1 = G.mapping(torch.cat([z0, z1]), None).chunk(2)
        # torch.lerp as NVlabs calls it: at eps 1e-4 the float32 rounding of another lerp form moves PPL by ~1e-3.
        wt0 = torch.lerp(w0, w1, t.unsqueeze(2))
        wt1 = torch.lerp(w0, w1, t.unsqueeze(2) + eps)
    else:
        wt0, wt1 = G.mapping(torch.cat([slerp(z0, z1, t), slerp(z0, z1, t + eps)]), None).chunk(2)
    img = G.synthesis(torch.cat([wt0, wt1]), noise_mode="const", force_fp32=True)
    if crop:
        c = img.shape[2] // 8
        img = img[:, :, c * 3:c * 7, c * 2:c * 6]
    img = (img + 1) * (255 / 2)
    img = img.repeat(1, 3, 1, 1) if img.shape[1] == 1 else img
    a, b = img.chunk(2)
    return lp(a, b) / eps ** 2


@pytest.mark.parametrize("space,crop", [("w", False), ("z", True)])
def test_path_distances_equal_nvlabs_formula_on_a_stylegan2(tiny_style_run, lp, space, crop):
    gen = load_generator(tiny_style_run, "cpu")
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(2, gen.G.z_dim, generator=g), torch.randn(2, gen.G.z_dim, generator=g)
    t = torch.rand(2, generator=g)
    with torch.no_grad():
        ours = path_distances(gen.G, lp, z0, z1, t, None, epsilon=1e-4, space=space, crop=crop)
        ref = nvlabs_reference(gen.G, lp, z0, z1, t, 1e-4, space, crop)
    assert torch.isfinite(ours).all() and (ours > 0).all()
    assert torch.allclose(ours, ref, rtol=1e-6, atol=0)


def test_sampler_reproducible_and_z_space_for_other_families(tiny_style_run, tiny_cgan_run, lp):
    style = load_generator(tiny_style_run, "cpu")
    a = sample_distances(style.G, lp, 5, sampling="full", batch_size=2, seed=7)
    b = sample_distances(style.G, lp, 5, sampling="full", batch_size=2, seed=7)
    c = sample_distances(style.G, lp, 5, sampling="full", batch_size=2, seed=8)
    assert a.shape == (5,) and np.isfinite(a).all() and (a > 0).all()
    assert np.array_equal(a, b) and not np.allclose(a, c)  # every draw (z, t, noise) comes from the seed
    cgan = load_generator(tiny_cgan_run, "cpu")
    d = sample_distances(cgan.G, lp, 3, space="z", sampling="full", num_classes=cgan.num_classes, seed=0)
    assert d.shape == (3,) and np.isfinite(d).all()
    from ganctl.errors import UsageError

    with pytest.raises(UsageError, match="no W space"):
        sample_distances(cgan.G, lp, 3, space="w")


def test_filtered_mean_drops_the_tails():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.random(991), 1 + rng.random(9) * 1e6])  # 0.9% huge outliers
    rng.shuffle(x)
    s = np.sort(x)
    # 1000 values: the 1st percentile ('lower') is s[floor(9.99)] = s[9], the 99th ('higher') s[ceil(989.01)] = s[990].
    assert filtered_mean(x) == pytest.approx(s[9:991].mean(), rel=1e-12)
    assert filtered_mean(x) < 10 < x.mean()


@pytest.mark.slow  # ~30 s of VGG16 on a CPU; the library path is tested above in the default run
def test_cli_json_and_errors(tiny_style_run, tiny_cgan_run, vgg_weights, lin_file):
    common = ["--weights", vgg_weights, "--lpips-weights", lin_file, "--device", "cpu"]
    res = json.loads(run_cli("ppl", tiny_style_run, "--num", "4", "--batch-size", "2", "--json", *common).stdout)
    assert res["ppl"] > 0 and res["space"] == "w" and res["epsilon"] == 1e-4 and res["network"]["family"] == "stylegan2"
    r = run_cli("ppl", tiny_cgan_run, "--num", "2", *common, check=False)  # default --space w on a z-only family
    assert r.returncode == 2 and "--space z" in r.stderr and "Traceback" not in r.stderr
