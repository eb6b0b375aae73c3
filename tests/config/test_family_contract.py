"""The family contract: every family declares its losses, precision, truncation and schedule in one place, and the
config layer refuses combinations a family cannot train, at config time, in one line."""

from __future__ import annotations

import pytest

from ganctl.models import FAMILY_MODULES, get_family
from ganctl.models.family import PRECISIONS, TRUNCATIONS


def test_every_registered_family_declares_the_contract():
    for name in FAMILY_MODULES:
        fam = get_family(name)
        assert fam.name == name
        assert fam.losses and fam.precision in PRECISIONS and fam.truncation in TRUNCATIONS
        assert callable(fam.build) and isinstance(fam.defaults, dict)


@pytest.mark.parametrize("args,needle", [
    (["--preset", "dcgan-fashion-mnist", "loss.type=stylegan2"], "loss.type: 'stylegan2' does not train model.family=dcgan"),
    # StyleGAN2 with a classic loss (the preset's stylegan2-only loss keys would not even apply): refused up front.
    (["--preset", "stylegan-tiny", "loss.type=hinge"], "loss.type: 'hinge' does not train model.family=stylegan2"),
])
def test_bad_family_loss_combinations_are_refused_at_config_time(cli, tmp_path, args, needle):
    p = cli("train", *args, "--data", tmp_path, "--dry-run", check=2)
    assert needle in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_family_without_loss_gets_its_natural_loss(tmp_path):
    from ganctl.config import resolve_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model: {family: stylegan2}\n")
    assert resolve_config(config_file=cfg_file)["loss"]["type"] == "stylegan2"


def test_unbuildable_networks_are_refused_before_the_run_directory_exists(cli, tmp_path, fmnist32):
    p = cli("train", "--preset", "dcgan-fashion-mnist", "--data", fmnist32, "--outdir", tmp_path / "runs",
            "model.mbdisc_kernels=-3", check=2)
    assert "model.mbdisc_kernels" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "runs").exists()
