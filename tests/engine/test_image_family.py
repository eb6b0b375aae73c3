"""The image-conditioned family contract through the real engine (models/family.py, engine/conditioning.py), with the
super-resolution family as the image family: it trains, its grids show [input | output | target], it resumes bit for
bit on CPU, its BatchSource is a pure function of (seed, position), and datasets/keys it cannot use are refused before
the run directory exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint

# A GAN-stage sr-tiny, made tinier: D phases, batch norm, batch_gpu chunks and the G->D fake hand-over all run.
TINY_SR = ["--preset", "sr-tiny", "model.num_feat=8", "model.num_block=1", "model.num_grow_ch=8", "model.d_num_feat=8",
           "loss.gan_weight=0.1", "loss.gan_type=ragan", "train.batch=8", "train.batch_gpu=4", "train.tick_kimg=0.016",
           "train.grid_size=4", "train.threads=1", "--seed", "5"]


def _state(run: Path) -> dict:
    return load_file(str(latest_checkpoint(run / "checkpoints")))


def test_image_family_trains_and_resumes_bit_identically(tmp_path, fmnist32, cli):
    straight = Path(cli("train", *TINY_SR, "--data", fmnist32, "--kimg", "0.048", "--outdir", tmp_path / "a",
                        check=0).stdout.strip())
    half = Path(cli("train", *TINY_SR, "--data", fmnist32, "--kimg", "0.024", "--outdir", tmp_path / "b",
                    check=0).stdout.strip())
    cli("resume", half, "--kimg", "0.048", check=0)
    a, b = _state(straight), _state(half)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"tensor {k} differs after resume"
    # Adam keeps state only for parameters it stepped: both phases ran (the GAN stage).
    for prefix in ("G/", "D/", "G_ema/", "opt_G/state/", "opt_D/state/"):
        assert any(k.startswith(prefix) for k in a), prefix
    assert any(k.startswith("D/") and "running_mean" in k for k in a)  # the VGG-style D's batch norm
    # The grid: 4 rows of [input resized | G_ema(input) | target] at the 32 px target size.
    grid = np.asarray(Image.open(sorted(straight.glob("fakes-*.png"))[-1]))
    assert grid.shape[:2] == (4 * 32, 3 * 32)
    assert not (straight / "reals.png").exists()
    # Sampling from seeds refuses an image-to-image network in one line, naming the command that applies it.
    import pytest

    from ganctl.errors import UsageError
    from ganctl.sampling.generate import load_generator

    with pytest.raises(UsageError, match="image-to-image network .*ganctl upscale"):
        load_generator(straight, "cpu")
    assert load_generator(straight, "cpu", conditioning="image").G.scale == 4


def test_batch_source_is_a_pure_function_of_seed_and_position(fmnist32):
    from ganctl.config import resolve_config
    from ganctl.data.dataset import PreparedDataset
    from ganctl.models import get_family

    cfg = resolve_config("sr-tiny")
    ds = PreparedDataset(fmnist32)
    src = get_family("sr").make_batches(cfg, ds)
    whole = src.load(7, 40, 8)
    assert whole["input"].dtype == torch.uint8 and whole["input"].shape == (8, 1, 8, 8)
    assert whole["target"].shape == (8, 1, 32, 32)
    # Two ranks read the two halves of what one process reads; a different batch split reads the same images.
    halves = [src.load(7, 40, 8, rank=r, world_size=2) for r in (0, 1)]
    split = [src.load(7, 40, 4), src.load(7, 44, 4)]
    for parts in (halves, split):
        for k in whole:
            assert torch.equal(torch.cat([p[k] for p in parts]), whole[k])
    assert not torch.equal(src.load(8, 40, 8)["target"], whole["target"])  # the seed matters


def test_image_family_refusals_happen_before_the_run_directory(tmp_path, fmnist32, cli):
    import pytest

    from ganctl import api
    from ganctl.errors import UsageError

    out = tmp_path / "runs"
    p = cli("train", "--preset", "sr-tiny", "--data", fmnist32, "--outdir", out, "model.gt_size=64", check=2)
    assert "model.gt_size: 64 is larger than the dataset's 32px" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    for override, needle in (("model.conditional=true", "model.conditional"),
                             ("model.generator=edsr", "model.generator: 'edsr' is not one of"),
                             ("augment.kind=ada", "augment.kind"), ("train.metrics=[fid]", "train.metrics")):
        with pytest.raises(UsageError, match=needle):
            api.train("sr-tiny", data=str(fmnist32), outdir=str(out), overrides=[override])
    assert not out.exists()
