"""style_mix_grid: the classic grid layout, per-seed latents, layer selection and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganctl.errors import UsageError
from ganctl.models.stylegan2 import DEFAULTS, build
from ganctl.sampling.latents import to_uint8, z_for_seeds
from ganctl.sampling.stylemix import style_mix_grid

TINY = {**DEFAULTS, "z_dim": 16, "w_dim": 16, "mapping_layers": 2, "channel_base": 256, "channel_max": 16,
        "d_cmap_layers": 1}


pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(1)
    G, _ = build(TINY, 16, 3, 0)
    return G.eval()


def cell(grid, r, c, h=16, w=16):
    return grid[r * h:(r + 1) * h, c * w:(c + 1) * w]


def test_grid_layout_and_cells(G):
    rows, cols = [11, 12], [21, 22, 23]
    grid, singles = style_mix_grid(G, rows, cols, styles=[0, 1, 2], truncation_psi=1.0, truncation_cutoff=None,
                                   noise_mode="const", class_idx=None, device="cpu")
    assert grid.dtype == np.uint8 and grid.shape == (16 * 3, 16 * 4, 3)
    assert (cell(grid, 0, 0) == 0).all()  # empty corner
    own = to_uint8(G(z_for_seeds(cols + rows, 16), None)).permute(0, 2, 3, 1).numpy()
    for j, s in enumerate(cols):
        assert np.array_equal(cell(grid, 0, j + 1), singles[(s, s)])
        assert np.array_equal(singles[(s, s)], own[j])  # per-seed latent rule: RandomState(seed).randn(z_dim)
    for i, r in enumerate(rows):
        assert np.array_equal(cell(grid, i + 1, 0), singles[(r, r)])
        for j, c in enumerate(cols):
            assert np.array_equal(cell(grid, i + 1, j + 1), singles[(r, c)])
    assert len(singles) == len(rows) + len(cols) + len(rows) * len(cols)
    # A mixed cell differs from both parents.
    assert not np.array_equal(singles[(11, 21)], singles[(11, 11)])
    assert not np.array_equal(singles[(11, 21)], singles[(21, 21)])


def test_mixing_every_layer_gives_the_column_image_and_no_layer_the_row_image(G):
    every = list(range(G.num_ws))
    _, singles = style_mix_grid(G, [1], [2], styles=every, truncation_psi=0.7, truncation_cutoff=None,
                                noise_mode="const", class_idx=None, device="cpu")
    assert np.abs(singles[(1, 2)].astype(int) - singles[(2, 2)].astype(int)).max() <= 1


def test_bad_arguments(G):
    with pytest.raises(UsageError, match="--styles"):
        style_mix_grid(G, [1], [2], styles=[G.num_ws], truncation_psi=1, truncation_cutoff=None, noise_mode="const",
                       class_idx=None, device="cpu")
    with pytest.raises(UsageError, match="--class"):
        style_mix_grid(G, [1], [2], styles=[0], truncation_psi=1, truncation_cutoff=None, noise_mode="const",
                       class_idx=3, device="cpu")


def test_conditional_generator_uses_the_class():
    torch.manual_seed(2)
    G, _ = build(TINY, 16, 1, 4)
    a, _ = style_mix_grid(G.eval(), [1], [2], styles=[0], truncation_psi=1, truncation_cutoff=None,
                          noise_mode="const", class_idx=0, device="cpu")
    b, _ = style_mix_grid(G, [1], [2], styles=[0], truncation_psi=1, truncation_cutoff=None, noise_mode="const",
                          class_idx=3, device="cpu")
    assert a.shape == (32, 32, 1) and not np.array_equal(a, b)
