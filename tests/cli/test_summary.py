"""`ganctl presets show NAME --summary`: per-block tables and G_params / D_params for every family, through the real
CLI; the totals are the published counts (StyleGAN2 config F, ProGAN) or the built networks' own counts."""

from __future__ import annotations

from _testdata import count_params as count

import json

import pytest

from ganctl import api
from ganctl.config import resolve_config
from ganctl.errors import UsageError
from ganctl.models import build_networks


def summary(cli, *args):
    return json.loads(cli("presets", "show", *args, "--summary", "--json", check=0).stdout)


def test_stylegan_ffhq_at_1024_is_config_f(cli):
    s = summary(cli, "stylegan-ffhq")
    assert (s["G_params"], s["D_params"]) == (30_370_060, 29_012_513)
    assert s["resolution"] == 1024 and s["image"] == [3, 1024, 1024]
    rows = {b["block"]: b for b in s["G"]}
    # The dominant synthesis network is opened block by block; each block returns features and an image.
    assert rows["synthesis.b1024"]["output"] == [[32, 1024, 1024], [3, 1024, 1024]]
    for net in ("G", "D"):
        assert sum(b["params"] for b in s[net]) == s[net + "_params"]


def test_progan_celebahq_has_the_official_counts(cli):
    s = summary(cli, "progan-celebahq")
    assert (s["G_params"], s["D_params"]) == (23_079_115, 23_087_249)
    rows = {b["block"]: b for b in s["G"]}
    assert rows["torgb1024"]["output"] == [[3, 1024, 1024]] and rows["torgb512"]["output"] is None  # not run at alpha 1
    s = api.presets_summary("progan-celebahq", resolution=256)
    assert (s["G_params"], s["D_params"]) == (23_044_309, 23_052_353)


def test_biggan_presets_have_biggan_pytorchs_counts(cli):
    s = summary(cli, "biggan-imagenet128", "--classes", "1000")  # ImageNet: 1000 classes
    assert (s["G_params"], s["D_params"]) == (70_433_988, 87_982_370)
    s = api.presets_summary("biggan-cifar")
    assert (s["G_params"], s["D_params"]) == (4_304_387, 4_207_361)


def test_classic_families_totals_equal_the_built_networks(cli):
    s = summary(cli, "cgan-fashion-mnist")
    assert (s["family"], s["resolution"], s["channels"], s["classes"]) == ("dcgan", 32, 1, 10)
    G, D = build_networks(resolve_config("cgan-fashion-mnist"), 32, 1, 10)
    assert (s["G_params"], s["D_params"]) == (count(G), count(D))
    s = api.presets_summary("vanilla-mnist")
    assert (s["family"], s["resolution"], s["channels"], s["classes"]) == ("mlp", 28, 1, 0)
    G, D = build_networks(resolve_config("vanilla-mnist"), 28, 1, 0)
    assert (s["G_params"], s["D_params"]) == (count(G), count(D))
    assert s["image"] == [1, 28, 28] and all(isinstance(b["params"], int) for b in s["G"] + s["D"])


def test_text_table_and_overrides(cli):
    out = cli("presets", "show", "dcgan-64", "--summary", "--resolution", "32", "--channels", "2", "--classes", "3",
              check=0).stdout
    assert "dcgan at 32x32, 2 channel(s), 3 classes" in out
    G, D = build_networks(resolve_config("dcgan-64"), 32, 2, 3)
    totals = [line.split()[-1] for line in out.splitlines() if line.startswith("total")]
    assert totals == [f"{count(G):,}", f"{count(D):,}"]
    assert "2x32x32" in out  # G's last layer's output


def test_a_preset_that_states_no_resolution_asks_for_one(cli, tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("description: my own GAN\nmodel: {family: progan, fmap_base: 64, fmap_max: 16, z_dim: 16}\n")
    r = cli("presets", "show", str(p), "--summary", check=2)
    assert "--resolution" in r.stderr and "Traceback" not in r.stderr
    s = api.presets_summary(str(p), resolution=16, channels=2)
    assert s["image"] == [2, 16, 16] and s["G_params"] > 0
    with pytest.raises(UsageError, match="--classes"):
        api.presets_summary(str(p), resolution=16, classes=-1)
