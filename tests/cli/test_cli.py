"""The CLI surface: every command exists, every --help has an example, exit codes, one-line errors."""

from __future__ import annotations

import pytest

COMMANDS = ["prepare-data", "train", "resume", "sample", "interpolate", "style-mix", "fid", "is", "doctor", "convert",
            "info", "report", "diagnose", "pr", "ppl", "nearest", "provenance", "export", "serve", "explore"]


def test_help_lists_all_commands(cli):
    p = cli("--help", check=0)
    for c in COMMANDS + ["presets", "cas", "audit"]:
        assert c in p.stdout


@pytest.mark.parametrize("cmd", COMMANDS + ["presets list", "presets show", "cas", "audit privacy", "audit bias"])
def test_every_help_has_an_example(cli, cmd):
    p = cli(*cmd.split(), "--help", check=0)
    text = " ".join(p.stdout.split())
    assert "Example: ganctl" in text or "Examples: ganctl" in text


def test_presets_and_doctor(cli):
    p = cli("presets", "list", check=0)
    for name in ("vanilla-mnist", "dcgan-fashion-mnist", "dcgan-64", "cgan-fashion-mnist", "wgan-gp-64"):
        assert name in p.stdout
    assert "family: dcgan" in cli("presets", "show", "dcgan-64", check=0).stdout
    import json

    info = json.loads(cli("doctor", "--json", check=0).stdout)
    assert info["torch"] and "cpu" in info["devices"] and "ops" in info
    assert info["torch_compile"].startswith("cpu: yes") or "no C++ compiler" in info["torch_compile"]


def test_train_usage_errors(tmp_path, cli):
    p = cli("train", "--preset", "dcgan-fashion-mnist", check=2)
    assert "--data" in p.stderr and "Traceback" not in p.stderr
    p = cli("train", "--preset", "dcgan-fashion-mnist", "--data", tmp_path / "missing", check=2)
    assert "no prepared dataset" in p.stderr
    p = cli("train", "--data", tmp_path, check=2)
    assert "--preset" in p.stderr
    p = cli("resume", tmp_path, check=2)
    assert "not a ganctl run directory" in p.stderr
    p = cli("train", "--preset", "dcgan-fashion-mnist", "--bogus", check=2)
    assert "No such option" in p.stderr


def test_wrong_resolution_for_family(tmp_path, fmnist28, cli):
    p = cli("train", "--preset", "dcgan-fashion-mnist", "--data", fmnist28, "--outdir", tmp_path, check=2)
    assert "power of two" in p.stderr and "--resolution 32" in p.stderr


def test_conditional_needs_labels(tmp_path, cli):
    import numpy as np

    from ganctl.data.dataset import write_dataset

    write_dataset(tmp_path / "d", np.zeros((8, 1, 32, 32), np.uint8), -np.ones(8, np.int64), {"name": "u"})
    p = cli("train", "--preset", "cgan-fashion-mnist", "--data", tmp_path / "d", "--outdir", tmp_path, check=2)
    assert "no class labels" in p.stderr
