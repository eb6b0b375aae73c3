"""checkpoints/best: atomic pointer, never pruned by keep_checkpoints, and `--checkpoint best|latest|NAME` everywhere."""

from __future__ import annotations

import json
import shutil

from ganctl.engine import checkpoint as ckpt


def test_point_best_survives_pruning(tmp_path, tiny_cgan_run):
    d = tmp_path / "checkpoints"
    d.mkdir()
    src = ckpt.latest_checkpoint(tiny_cgan_run / "checkpoints")
    made = [shutil.copy(src, d / ckpt.checkpoint_name(k)) for k in (100, 200, 300, 400, 500)]
    ckpt.point_best(d, d / ckpt.checkpoint_name(200))
    ckpt.point_latest(d, d / ckpt.checkpoint_name(500))
    gone = ckpt.prune_checkpoints(d, keep=2)
    assert sorted(p.name for p in gone) == [ckpt.checkpoint_name(100), ckpt.checkpoint_name(300)]
    assert ckpt.best_checkpoint(d).name == ckpt.checkpoint_name(200)
    assert sorted(p.name for p in ckpt.list_checkpoints(d)) == sorted(ckpt.checkpoint_name(k) for k in (200, 400, 500))
    assert not (d / "best.tmp").exists() and len(made) == 5


def test_checkpoint_option_on_commands(tmp_path, tiny_cgan_run, cli):
    import pytest

    from ganctl import api
    from ganctl.errors import UsageError

    run = tmp_path / "run"
    shutil.copytree(tiny_cgan_run, run, symlinks=True)
    d = run / "checkpoints"
    names = [p.name for p in ckpt.list_checkpoints(d)]
    with pytest.raises(UsageError, match="no best checkpoint.*train.metrics"):
        api.select_checkpoint(str(run), "best")
    ckpt.point_best(d, d / names[0])
    assert api.select_checkpoint(str(run), "best") == str(d / names[0])
    assert api.select_checkpoint(str(run), "latest") == str(d / names[-1])
    assert api.select_checkpoint(str(run), names[-1].removesuffix(".safetensors")) == str(d / names[-1])
    with pytest.raises(UsageError, match="--checkpoint nope"):
        api.select_checkpoint(str(run), "nope")
    with pytest.raises(UsageError, match="none of the inputs is a run directory"):
        api.select_checkpoints([str(tmp_path), str(tmp_path)], "best")
    assert api.select_checkpoints([str(tmp_path), str(run)], "best") == [str(tmp_path), str(d / names[0])]
    # Through the CLI: a generating command and resume.
    p = cli("sample", run, "--checkpoint", "best", "--seeds", "0-1", "--outdir", tmp_path / "s", "--json", check=0)
    assert json.loads(p.stdout)["checkpoint"] == str(d / names[0])
    p = cli("resume", run, "--checkpoint", "nope")
    assert p.returncode == 2 and "--checkpoint nope" in p.stderr and "Traceback" not in p.stderr
