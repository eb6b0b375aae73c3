"""`ganctl nearest`: the memorisation check. The search is checked against brute force, the near-copy rule on real
training images planted among the "generated" ones, and the CLI end to end (pixel space on the tiny run; feature space
with the seeded random Inception)."""

from __future__ import annotations

import json

import pytest
import torch

from metrics_testdata import run_cli, write_fmnist
from ganctl.metrics.nearest import find_nearest, knn, near_copies, to_record
from ganctl.metrics.sources import resolve_source


def test_blocked_knn_equals_brute_force_and_excludes_self():
    g = torch.Generator().manual_seed(0)
    q, refs = torch.randn(23, 5, generator=g), torch.randn(41, 5, generator=g)
    blocks = [(s, refs[s:s + 6]) for s in range(0, 41, 6)]
    d, i = knn(q, blocks, 3, query_block=7)
    full = torch.cdist(q, refs)
    want_d, want_i = full.topk(3, dim=1, largest=False)
    assert torch.equal(i, want_i) and torch.allclose(d, want_d)
    d, i = knn(refs[:10], blocks, 1, exclude=torch.arange(10))
    full = torch.cdist(refs[:10], refs)
    full[torch.arange(10), torch.arange(10)] = float("inf")
    assert torch.equal(i[:, 0], full.argmin(1)) and (i[:, 0] != torch.arange(10)).all()


def test_planted_training_images_are_flagged_and_novel_ones_are_not(fmnist32):
    from ganctl.data.dataset import PreparedDataset

    train = resolve_source(str(fmnist32), allow_stats=False, num=None)
    imgs, _ = PreparedDataset(fmnist32).get_batch([5, 77, 300])
    copies = torch.from_numpy(imgs)  # exact copies of training images 5, 77, 300
    g = torch.Generator().manual_seed(0)
    noisy = (copies[:1].float() + torch.randint(-4, 5, copies[:1].shape, generator=g)).clamp(0, 255).to(torch.uint8)
    blend = ((copies[1:2].float() + copies[2:3].float()) / 2).to(torch.uint8)  # between two training images: novel
    fakes = torch.cat([copies, noisy, blend])
    res = find_nearest(fakes, train, k=3, spaces=("pixel",), block=100, train_queries=64)
    pix = res["spaces"]["pixel"]
    assert pix["index"][:3, 0].tolist() == [5, 77, 300] and (pix["dist"][:3, 0] < 1e-6).all()
    assert pix["index"][3, 0] == 5 and 0 < pix["ratio"][3] < 1 / 3
    assert near_copies(res).tolist() == [True, True, True, True, False]
    rec = to_record(res, [10, 11, 12, 13, 14])
    assert rec["near_copies"] == [10, 11, 12, 13] and rec["spaces"]["pixel"]["flagged"] == 4
    assert rec["spaces"]["pixel"]["fraction_closer_than_train_p05"] == pytest.approx(0.8)
    assert 0 < rec["spaces"]["pixel"]["train_to_train"]["median"] < 1 and rec["train_queries"] == 64


def test_cli_pixel_space_on_a_run_writes_picture_and_json(tmp_path, tiny_cgan_run, fmnist32):
    r = run_cli("nearest", tiny_cgan_run, "--data", fmnist32, "--num", "6", "--space", "pixel", "--out",
                tmp_path / "nn.png", "--json", "--device", "cpu", "--rows", "4")
    res = json.loads(r.stdout)
    assert res["n_generated"] == 6 and res["n_train"] == 512 and len(res["images"]) == 6
    assert len(res["images"][0]["pixel"]["nearest"]) == 3 and res["images"][0]["pixel"]["ratio"] > 0
    from PIL import Image

    with Image.open(tmp_path / "nn.png") as im:
        assert im.size == (4 * 32, 4 * 32)  # 4 rows of (generated + 3 neighbours) at 32x32
        assert b"compositeWithTrainedAlgorithmicMedia" in im.info["xmp"]
    bad = run_cli("nearest", tiny_cgan_run, "--data", tmp_path / "missing", check=False)
    assert bad.returncode == 2 and "missing" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # Inception at 299 on the CPU for 9 images plus a CLI start: ~30-60 s on 2 shared cores
def test_cli_feature_space_with_inception(tmp_path, tiny_cgan_run, weights):
    write_fmnist(tmp_path / "train", 0, 6)
    res = json.loads(run_cli("nearest", tiny_cgan_run, "--data", tmp_path / "train", "--num", "3", "--space", "feature",
                             "--weights", weights, "--out", tmp_path / "nn.png", "--json", "--device", "cpu").stdout)
    feat = res["spaces"]["feature"]
    assert feat["train_to_train"]["min"] > 0 and feat["fake_to_train"]["min"] > 0
    assert all(len(im["feature"]["nearest"]) == 3 for im in res["images"]) and res["weights"]["sha256"]


def test_space_auto_uses_inception_only_when_its_weights_are_here(tiny_cgan_run, weights, tmp_path, monkeypatch):
    """`--space auto` (the default): pixels with a note when no Inception weights can be found, both spaces when they
    can. The lookup (env var, ganctl cache, TORCH_HOME) is pointed at empty folders, then at the seeded random file."""
    from ganctl import api

    from _testdata import make_dataset

    make_dataset(tmp_path / "train", 8, 32)
    monkeypatch.delenv("GANCTL_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setenv("GANCTL_OFFLINE", "1")
    res = api.nearest(str(tiny_cgan_run), str(tmp_path / "train"), num=2, out=None, progress=False, device="cpu")
    assert set(res["spaces"]) == {"pixel"} and "pixel space only" in res["note"]
    monkeypatch.setenv("GANCTL_INCEPTION_WEIGHTS", str(weights))
    res = api.nearest(str(tiny_cgan_run), str(tmp_path / "train"), num=2, out=None, progress=False, device="cpu")
    assert set(res["spaces"]) == {"pixel", "feature"} and "note" not in res
