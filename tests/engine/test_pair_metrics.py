"""train.metrics psnr/ssim/l1 on an image-to-image run (engine/pair_metrics.py): a tiny sr-tiny run writes metrics.jsonl
values equal to `ganctl compare` on G_ema's val outputs written as PNGs, picks the best checkpoint by the highest PSNR,
and is refused in one line, before the run directory exists, without a val split or on a family without targets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from _testdata import FMNIST_NAMES, load_fmnist, make_dataset

# A G learning rate far too high makes PSNR fall after the first evaluation (15.7 dB -> 12 -> 3.6 here), so `best` is
# not simply the last checkpoint, and the live metric-regression check fires on PSNR.
TINY = ["--preset", "sr-tiny", "train.batch=8", "train.tick_kimg=0.016", "train.threads=1", "train.grid_size=4",
        "train.metric_ticks=1", "train.metric_num=12", "optim.g.lr=0.3", "--seed", "5"]


@pytest.fixture(scope="module")
def data_with_val(tmp_path_factory) -> Path:
    from ganctl.data.dataset import write_dataset

    d = make_dataset(tmp_path_factory.mktemp("srval") / "data", n=128)
    imgs, labels = load_fmnist("t10k", 16)  # held-out images: Fashion-MNIST's test split
    write_dataset(d / "val", np.pad(imgs, ((0, 0), (2, 2), (2, 2)))[:, None], labels,
                  {"name": "fmnist-val", "label_names": FMNIST_NAMES})
    return d


def _write_pngs(ckpt: Path, outputs, targets, out_dir: Path, ref_dir: Path) -> None:
    from ganctl.sampling.grid import save_png
    from ganctl.sampling.provenance import for_network

    prov = for_network(ckpt)
    out_dir.mkdir()
    ref_dir.mkdir()
    for i, (o, t) in enumerate(zip(outputs, targets)):
        save_png(o.permute(1, 2, 0).numpy(), out_dir / f"{i:03d}.png", prov)
        save_png(t.permute(1, 2, 0).numpy(), ref_dir / f"{i:03d}.png", None)


def test_pair_metrics_equal_compare_and_pick_best_by_psnr(tmp_path, data_with_val, cli, one_cpu_thread):
    from ganctl import api
    from ganctl.config import resolve_config
    from ganctl.data.dataset import PreparedDataset
    from ganctl.diagnose.history import best_record, read_jsonl
    from ganctl.engine import pair_metrics
    from ganctl.engine.checkpoint import best_checkpoint, checkpoint_name
    from ganctl.models import get_family
    from ganctl.sampling.generate import load_generator

    p = cli("train", *TINY, "--data", data_with_val, "--kimg", "0.048", "--outdir", tmp_path / "runs",
            "train.metrics=[psnr,ssim,l1]", check=0)
    run = Path(p.stdout.strip().splitlines()[-1])
    recs = read_jsonl(run / "metrics.jsonl")
    assert [r["metric"] for r in recs] == ["psnr", "ssim", "l1"] * 3
    assert all(r["num"] == 12 and r["split"] == "val" and r["convention"]["crop_border"] == 0 for r in recs)
    # The best checkpoint is the evaluation with the HIGHEST PSNR (psnr is listed first).
    psnrs = {r["kimg"]: r["value"] for r in recs if r["metric"] == "psnr"}
    top = max(psnrs, key=psnrs.get)
    assert best_record(recs, "psnr")["kimg"] == top == 0.016 and psnrs[0.048] < psnrs[0.016] - 3
    assert "metric-regression: psnr worsened from its best" in p.stdout + p.stderr
    best = best_checkpoint(run / "checkpoints")
    assert best.name == checkpoint_name(int(round(top * 1000)))
    assert "Metrics/psnr" in (run / "stats.jsonl").read_text()
    # G_ema of the best and the last checkpoint on the val pairs, written as PNGs: `ganctl compare` gives the values.
    cfg = resolve_config("sr-tiny")
    val = pair_metrics.val_batch(cfg, get_family("sr"), PreparedDataset(data_with_val), 12)
    for i, (ckpt, kimg) in enumerate(((best, top), (run / "checkpoints" / checkpoint_name(48), 0.048))):
        outputs, targets = pair_metrics.translate(load_generator(ckpt, "cpu", conditioning="image").G, val, "cpu")
        out_dir, ref_dir = tmp_path / f"out{i}", tmp_path / f"ref{i}"
        _write_pngs(ckpt, outputs, targets, out_dir, ref_dir)
        mean = api.compare(str(ref_dir), str(out_dir), metrics=("psnr", "ssim", "l1"))["mean"]
        got = {r["metric"]: r["value"] for r in recs if r["kimg"] == kimg}
        for m in ("psnr", "ssim", "l1"):
            assert math.isclose(got[m], mean[m], rel_tol=1e-12, abs_tol=1e-12), (kimg, m, got[m], mean[m])


def test_pair_metrics_refused_before_the_run_directory(tmp_path, fmnist32, data_with_val):
    from ganctl import api
    from ganctl.diagnose.history import best_record
    from ganctl.errors import UsageError

    out = tmp_path / "runs"
    with pytest.raises(UsageError, match=r"train.metrics: psnr, ssim: .* has none; .*--val-fraction"):
        api.train("sr-tiny", data=str(fmnist32), outdir=str(out), overrides=["train.metrics=[psnr,ssim]"])
    with pytest.raises(UsageError, match=r"train.metrics: l1: .*model.family=dcgan has no targets"):
        api.train("dcgan-fashion-mnist", data=str(data_with_val), outdir=str(out), overrides=["train.metrics=[l1]"])
    with pytest.raises(UsageError, match=r"train.metrics: fid, kid: measured on the dataset's validation split"):
        api.train("sr-tiny", data=str(fmnist32), outdir=str(out), overrides=["train.metrics=[fid,kid]"])  # FID on val only
    assert not out.exists()
    # Direction: higher PSNR/SSIM, lower L1 is better.
    recs = [{"kimg": 1, "metric": m, "value": v} for m, v in (("psnr", 20.0), ("ssim", 0.5), ("l1", 0.2))] + \
           [{"kimg": 2, "metric": m, "value": v} for m, v in (("psnr", 21.0), ("ssim", 0.4), ("l1", 0.1))]
    assert [best_record(recs, m)["kimg"] for m in ("psnr", "ssim", "l1")] == [2, 1, 2]


def test_pix2pix_pairs_val_split(tmp_path, one_cpu_thread):
    """Prepared pairs (pix2pix): the val pairs, L1 listed first picks the best checkpoint by the LOWEST L1."""
    from PIL import Image

    from ganctl import api
    from ganctl.data.prepare_pairs import PairOptions, prepare_pairs
    from ganctl.diagnose.history import best_record, read_jsonl
    from ganctl.engine.checkpoint import best_checkpoint, checkpoint_name

    src = tmp_path / "aligned"
    src.mkdir()
    for i, im in enumerate(load_fmnist("train", 30)[0]):  # A|B: horizontal edges | the image, 32 px
        im = np.pad(im, 2)
        edges = (np.abs(np.diff(im.astype(int), axis=0, prepend=0)) > 40).astype(np.uint8) * 255
        Image.fromarray(np.concatenate([edges, im], 1)).save(src / f"{i}.png")
    prepare_pairs(src, None, tmp_path / "p2p", PairOptions(mode="aligned", workers=1, val_fraction=0.2))
    r = api.train("pix2pix-tiny", str(tmp_path / "p2p"), outdir=str(tmp_path / "runs"), kimg=0.016, seed=1,
                  overrides=["train.metrics=[l1,psnr]", "train.metric_num=4", "train.tick_kimg=0.004",
                             "train.metric_ticks=1", "train.threads=1"])
    run = Path(r["run_dir"])
    recs = read_jsonl(run / "metrics.jsonl")
    assert {r["metric"] for r in recs} == {"l1", "psnr"} and all(r["num"] == 4 for r in recs)  # 6 val pairs, 4 used
    l1s = {r["kimg"]: r["value"] for r in recs if r["metric"] == "l1"}
    assert len(l1s) >= 2
    low = min(l1s, key=l1s.get)
    assert best_record(recs, "l1")["kimg"] == low
    assert best_checkpoint(run / "checkpoints").name == checkpoint_name(int(round(low * 1000)))
