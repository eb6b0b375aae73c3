"""`fid`/`is`/`kid --standing-stats N`: the generator side is evaluated with BigGAN's standing batch-norm statistics."""

from __future__ import annotations

import pytest
import torch

from ganctl.errors import UsageError
from ganctl.metrics.compute import _standing_stats
from ganctl.metrics.sources import resolve_source


def test_standing_stats_replace_the_generator_sides_batch_norm_statistics(tiny_cgan_run, fmnist32):
    plain = resolve_source(str(tiny_cgan_run), allow_stats=False, num=8)
    standing = resolve_source(str(tiny_cgan_run), allow_stats=False, num=8)
    real = resolve_source(str(fmnist32), allow_stats=False, num=None)
    _standing_stats([plain, real], 0, torch.device("cpu"))
    assert plain.generator is None  # off: the generator is loaded as before, with its running statistics
    _standing_stats([standing, real], 2, torch.device("cpu"))
    from ganctl.sampling.generate import load_generator

    ref = load_generator(str(tiny_cgan_run), "cpu")
    bn = [k for k in ref.G.state_dict() if k.endswith("running_mean")]
    assert bn
    a, b = ref.G.state_dict(), standing.generator.G.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in bn)
    with pytest.raises(UsageError, match="--standing-stats"):
        _standing_stats([real], 2, torch.device("cpu"))
