"""Super-resolution from prepared LR/HR pairs (`prepare-data --pairs LR_DIR HR_DIR --factor 4`): the BatchSource crops
matching positions of both sides, is a pure function of (seed, position), and a dataset of the wrong factor is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganctl import api
from ganctl.data.imresize import imresize_uint8
from ganctl.errors import UsageError


@pytest.fixture(scope="module")
def lr_hr(tmp_path_factory):
    d = tmp_path_factory.mktemp("lrhr")
    (d / "lr").mkdir()
    (d / "hr").mkdir()
    r = np.random.default_rng(0)
    hrs = {}
    for i in range(4):
        hr = r.integers(0, 256, (3, 32, 40), dtype=np.uint8)
        hrs[i] = hr
        Image.fromarray(hr.transpose(1, 2, 0)).save(d / "hr" / f"{i}.png")
        Image.fromarray(imresize_uint8(torch.from_numpy(hr), 0.25).numpy().transpose(1, 2, 0)).save(d / "lr" / f"{i}.png")
    api.prepare_pairs(str(d / "lr"), str(d / "hr"), str(d / "ds"), factor=4, policy="keep-aspect")
    return d / "ds", hrs


def test_lr_hr_pairs_crop_matching_positions(lr_hr):
    from ganctl.config import resolve_config
    from ganctl.data.dataset import open_dataset
    from ganctl.models import get_family

    path, hrs = lr_hr
    ds = open_dataset(path)
    cfg = resolve_config("sr-tiny", overrides=["model.gt_size=16", "model.use_hflip=false", "model.use_rot=false"])
    src = get_family("sr").make_batches(cfg, ds)
    b = src.load(3, 0, 8)
    assert b["input"].shape == (8, 3, 4, 4) and b["target"].shape == (8, 3, 16, 16)
    full_lr, full_hr = ds.get_pairs(np.arange(len(ds)))
    for x, y in zip(b["input"].numpy(), b["target"].numpy()):
        # Find the HR crop in its image; the LR crop is the block of the LR image at a quarter of that position.
        hits = [(i, t, l) for i in range(len(ds)) for t in range(0, 17, 4) for l in range(0, 25, 4)
                if np.array_equal(full_hr[i][:, t:t + 16, l:l + 16], y)]
        assert len(hits) == 1
        i, t, l = hits[0]
        assert np.array_equal(full_lr[i][:, t // 4:t // 4 + 4, l // 4:l // 4 + 4], x)
    halves = [src.load(3, 0, 8, rank=r, world_size=2) for r in (0, 1)]
    assert torch.equal(torch.cat([h["target"] for h in halves]), b["target"])


def test_wrong_factor_is_refused(lr_hr):
    from ganctl.config import resolve_config
    from ganctl.data.dataset import open_dataset
    from ganctl.models import get_family

    cfg = resolve_config("sr-tiny", overrides=["model.scale=2", "model.gt_size=16"])
    with pytest.raises(UsageError, match="--factor 2"):
        get_family("sr").make_batches(cfg, open_dataset(lr_hr[0]))
