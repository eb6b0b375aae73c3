"""Config resolution: merge order, validation with suggestions, presets, and the resolved config saved in the run."""

from __future__ import annotations

import pytest
import yaml

from ganctl.config import list_presets, resolve_config
from ganctl.errors import UsageError

CLASSIC = ["vanilla-mnist", "dcgan-fashion-mnist", "dcgan-64", "cgan-fashion-mnist", "wgan-gp-64", "wgan-gp-tiny"]


def test_classic_presets_resolve():
    names = list_presets()
    for name in CLASSIC:
        assert name in names
        cfg = resolve_config(name)
        assert cfg["preset"] == name and cfg["model"]["family"] in ("mlp", "dcgan")
    for wgan in ("wgan-gp-64", "wgan-gp-tiny"):  # the critic: Wasserstein loss, gradient penalty, no batch norm
        cfg = resolve_config(wgan)
        assert cfg["loss"]["type"] == "wasserstein" and cfg["loss"]["gp_weight"] == 10.0 and cfg["model"]["d_norm"] != "batch"
    assert resolve_config("cgan-fashion-mnist")["model"]["conditional"] is True


@pytest.mark.parametrize("preset", ["sagan-cifar", "sagan-tiny"])
def test_sagan_presets_keep_the_papers_design(preset):
    """SAGAN (Zhang et al. 2019): self-attention, spectral norm and per-class BN tables (no shared embedding, no
    hierarchical z) in the biggan family, hinge loss, Adam with beta1 0 and one D step per G step. sagan-cifar keeps
    BigGAN-PyTorch's SAGAN optimiser (Adam (0, 0.999)); sagan-tiny the paper's betas (0, 0.9). Both keep D's lr at 4x
    G's (the two time-scale update rule), sagan-tiny at rates its description must explain."""
    import torch

    from ganctl.models.biggan import build

    cfg = resolve_config(preset)
    m, o = cfg["model"], cfg["optim"]
    assert m["family"] == "biggan" and m["conditional"] and m["attn_res"] == [16]
    assert m["shared_dim"] == 0 and m["hier"] is False and cfg["loss"]["type"] == "hinge"
    assert o["g"]["betas"][0] == o["d"]["betas"][0] == 0.0 and o["d_steps"] == 1
    assert o["d"]["lr"] == pytest.approx(4 * o["g"]["lr"])
    if preset == "sagan-cifar":
        assert o["g"]["betas"] == o["d"]["betas"] == [0.0, 0.999]
    else:
        assert o["g"]["betas"] == o["d"]["betas"] == [0.0, 0.9]
        assert "lr G 5e-4 / D 2e-3 (paper 1e-4 / 4e-4" in cfg["description"]
    with torch.device("meta"):  # 36 classes at 32 px, as glyphs36: shapes only
        G, D = build(m, 32, 1, 36)
    assert list(G.attn) and list(D.attn) and G.blocks[0].bn1.gain.num_embeddings == 36


def test_merge_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train: {batch: 8, kimg: 5}\noptim: {g: {lr: 0.01}}\n")
    cfg = resolve_config("dcgan-fashion-mnist", f, ["train.batch=4"])
    assert cfg["train"]["batch"] == 4  # override beats --config
    assert cfg["train"]["kimg"] == 5.0  # --config beats preset
    assert cfg["optim"]["g"]["lr"] == 0.01 and cfg["optim"]["g"]["betas"] == [0.5, 0.999]  # deep merge keeps siblings
    assert resolve_config("cgan-fashion-mnist")["model"]["g_channels"] == 32  # base: chain, child wins
    assert resolve_config("cgan-fashion-mnist")["loss"]["type"] == "nonsaturating"  # inherited from base


@pytest.mark.parametrize("override,needle", [
    (["train.bach=3"], "did you mean 'batch'"),
    (["trian.batch=3"], "did you mean 'train'"),
    (["train.batch=three"], "train.batch: expected int"),
    (["train.device=tpu"], "train.device: 'tpu' is not one of auto, cpu, cuda"),
    (["optim.g.betas=[0.5]"], "optim.g.betas: expected a list of 2"),
    (["model.family=bigger"], "model.family"),
    (["loss.gp_weight=10"], "loss.gp_weight: unknown key"),  # only wasserstein has it
    (["train.batch"], "expected KEY=VALUE"),
])
def test_bad_values_are_refused(override, needle):
    with pytest.raises(UsageError) as e:
        resolve_config("dcgan-fashion-mnist", None, override)
    assert needle in e.value.message


def test_unknown_preset_suggests():
    with pytest.raises(UsageError) as e:
        resolve_config("dcgan-fashon-mnist")
    assert "did you mean 'dcgan-fashion-mnist'" in e.value.message


def test_dry_run_and_resolved_config_in_run(tmp_path, fmnist28, cli):
    p = cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--dry-run", "train.batch=8", "--kimg", "3", check=0)
    cfg = yaml.safe_load(p.stdout)
    assert cfg["train"]["batch"] == 8 and cfg["train"]["kimg"] == 3.0 and cfg["data"]["path"] == str(fmnist28)
    run = cli("train", "--preset", "vanilla-mnist", "--data", fmnist28, "--kimg", "0.016", "--outdir", tmp_path,
              "train.batch=16", "model.hidden=[16]", "model.d_hidden=[16]", check=0).stdout.strip()
    saved = yaml.safe_load((tmp_path / run / "config.yaml").read_text())
    assert saved["train"]["batch"] == 16 and saved["model"]["hidden"] == [16]
    for f in ("env.json", "argv.txt", "stats.jsonl", "log.txt", "reals.png", "checkpoints/latest"):
        assert (tmp_path / run / f).exists(), f
