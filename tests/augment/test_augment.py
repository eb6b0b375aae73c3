"""ADA and DiffAugment: identity at p=0, real changes at p=1, differentiable to second order, p control and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganctl.augment.ada import AdaptiveAugment
from ganctl.augment.diffaugment import DiffAugment
from ganctl.errors import UsageError


def _imgs(c=3, n=8, res=16):
    torch.manual_seed(0)
    return torch.rand(n, c, res, res) * 2 - 1


def test_ada_identity_at_p0_and_changes_at_p1():
    x = _imgs()
    pipe = AdaptiveAugment(3, p=0.0)
    assert torch.equal(pipe(x), x)
    pipe.p.fill_(1.0)
    torch.manual_seed(1)
    y = pipe(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y - x).abs().mean() > 0.05


def test_ada_integer_ops_are_exact_permutations():
    """With only flips / 90-degree turns / integer shifts, pixels move but are not resampled."""
    x = _imgs(n=64)
    pipe = AdaptiveAugment(3, p=1.0)
    pipe.scale_std = pipe.rotate_max = pipe.aniso_std = pipe.xfrac_std = 0.0
    torch.manual_seed(2)
    y = pipe._geometric(x)
    # Every output pixel value is one of the input image's pixel values (reflection padding keeps them in-image).
    for i in range(4):
        dist = (y[i, 0].flatten()[:, None] - x[i, 0].flatten()[None, :]).abs().min(dim=1).values
        assert dist.max() < 1e-4


def test_ada_double_backward_for_r1():
    x = _imgs().requires_grad_(True)
    pipe = AdaptiveAugment(3, p=1.0)
    w = torch.randn(3, 3, 3, 3, requires_grad=True)
    out = torch.nn.functional.conv2d(pipe(x), w).square().sum()
    (g,) = torch.autograd.grad(out, x, create_graph=True)
    g.square().sum().backward()  # R1-style penalty through the augmentation
    assert w.grad is not None and torch.isfinite(w.grad).all()


def test_ada_grayscale_and_p_control():
    pipe = AdaptiveAugment(1, p=0.5, target=0.6, ada_kimg=1, interval=4)
    assert pipe(_imgs(c=1)).shape == (8, 1, 16, 16)
    pipe.accumulate(sign_sum=10.0, count=10)  # D is sure of every real: overfitting -> p goes up
    assert pipe.update(batch=64) == 1.0
    assert abs(float(pipe.p) - (0.5 + 64 * 4 / 1000)) < 1e-6
    for _ in range(10):
        pipe.accumulate(10.0, 10)
        pipe.update(64)
    assert float(pipe.p) == 1.0  # clamped (NVlabs lets p pass 1)
    for _ in range(20):
        pipe.accumulate(-10.0, 10)
        pipe.update(64)
    assert float(pipe.p) == 0.0
    assert pipe.update(64) is None  # nothing seen since the last update: p stays


def test_diffaugment_policies():
    x = _imgs().requires_grad_(True)
    torch.manual_seed(0)
    y = DiffAugment("color,translation,cutout")(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    y.sum().backward()
    assert x.grad is not None
    with pytest.raises(UsageError):
        DiffAugment("color,zoom")
    # Translation by integer pixels with zero fill: the sum of |x| can only shrink.
    t = DiffAugment._translation(x.detach().abs())
    assert (t.sum(dim=[1, 2, 3]) <= x.detach().abs().sum(dim=[1, 2, 3]) + 1e-4).all()


def test_ada_training_adapts_p_and_resumes_exactly(tmp_path, fmnist32, cli):
    from safetensors.torch import load_file

    from ganctl.engine.checkpoint import latest_checkpoint

    args = ["--preset", "cgan-fashion-mnist", "--data", fmnist32, "model.g_channels=8", "model.d_channels=8", "train.batch=16",
            "train.tick_kimg=0.032", "train.grid_size=4", "augment.kind=ada", "augment.ada_kimg=0.5", "augment.interval=1",
            "loss.r1_gamma=0.1"]
    straight = Path(cli("train", *args, "--kimg", "0.096", "--outdir", tmp_path / "a", check=0).stdout.strip())
    half = Path(cli("train", *args, "--kimg", "0.048", "--outdir", tmp_path / "b", check=0).stdout.strip())
    cli("resume", half, "--kimg", "0.096", check=0)
    a = load_file(str(latest_checkpoint(straight / "checkpoints")))
    b = load_file(str(latest_checkpoint(half / "checkpoints")))
    assert float(a["augment/p"]) > 0  # D is confident on reals early on, so p rose from 0
    for k in a:
        assert torch.equal(a[k], b[k]), k
    import json

    ticks = [json.loads(line) for line in (straight / "stats.jsonl").read_text().splitlines()]
    assert "Augment/p" in ticks[-1]
