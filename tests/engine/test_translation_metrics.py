"""train.metrics fid/kid on translation runs (engine/pair_metrics.py, engine/metric_eval.py): G_ema's outputs for the
val split's inputs against the val split's target-domain images. Tiny CycleGAN and pix2pix runs with seeded random
Inception weights (tests/metrics/random_inception.py): the values of the best checkpoint equal `ganctl fid`/`kid` on
`ganctl translate`'s outputs for the val inputs and the val targets written as PNGs (and, paired, `ganctl compare`
on the same folders equals the l1 record). Refused in one line, before the run directory, without a val split."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from random_inception import WEIGHTS_NAME, write_random_inception  # noqa: E402

from _testdata import load_fmnist  # noqa: E402

NUM = 3  # images per side: Inception on a shared CPU core is ~0.4 s/image
TINY = ["train.tick_kimg=0.008", "train.metric_ticks=1", f"train.metric_num={NUM}", "train.threads=1",
        "train.grid_size=2", "train.batch=4"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return write_random_inception(tmp_path_factory.mktemp("w") / WEIGHTS_NAME, seed=0)


def _pngs(folder: Path, imgs) -> Path:
    folder.mkdir(parents=True)
    for i, im in enumerate(imgs):
        Image.fromarray(np.asarray(im)).save(folder / f"{i:03d}.png")
    return folder


def _val_pngs(run: Path, tmp: Path) -> tuple[Path, Path]:
    """The val split's inputs and targets the metrics measured (the family's val BatchSource), as PNG folders."""
    from ganctl.data.dataset import open_dataset
    from ganctl.engine import pair_metrics, rundir
    from ganctl.config.load import validate_resolved
    from ganctl.models import get_family
    from ganctl.sampling.conditioned import INPUT_KEYS, TARGET_KEYS, pick

    cfg = validate_resolved(rundir.read_config(run))
    batch = pair_metrics.val_batch(cfg, get_family(cfg["model"]["family"]), open_dataset(cfg["data"]["path"]), NUM)
    return (_pngs(tmp / "val_in", pick(batch, INPUT_KEYS)[:, 0].numpy()),
            _pngs(tmp / "val_target", pick(batch, TARGET_KEYS)[:, 0].numpy()))


def _train(tmp: Path, preset: str, data: Path, metrics: str, monkeypatch, weights, kimg: float) -> tuple[Path, list[dict]]:
    from ganctl import api
    from ganctl.diagnose.history import read_jsonl

    monkeypatch.setenv("GANCTL_INCEPTION_WEIGHTS", str(weights))
    run = Path(api.train(preset, str(data), outdir=str(tmp / "runs"), kimg=kimg, seed=3,
                         overrides=TINY + [f"train.metrics={metrics}"])["run_dir"])
    return run, read_jsonl(run / "metrics.jsonl")


def _best(run: Path, recs: list[dict], metric: str) -> tuple[Path, dict]:
    from ganctl.diagnose.history import best_record
    from ganctl.engine.checkpoint import best_checkpoint, checkpoint_name

    rec = best_record(recs, metric)
    best = best_checkpoint(run / "checkpoints")
    assert best.name == checkpoint_name(int(round(rec["kimg"] * 1000)))
    return best, {r["metric"]: r for r in recs if r["kimg"] == rec["kimg"]}


def test_cyclegan_fid_kid_on_val_equal_the_cli(tmp_path, weights, monkeypatch, one_cpu_thread):
    from ganctl import api
    from ganctl.metrics import compute

    imgs, labels = load_fmnist("train", 400)
    imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))
    a = _pngs(tmp_path / "sneaker", imgs[labels == 7][:20])
    b = _pngs(tmp_path / "boot", imgs[labels == 9][:25])
    api.prepare_pairs(str(a), str(b), str(tmp_path / "data"), mode="unpaired", workers=1, val_fraction=0.2)
    run, recs = _train(tmp_path, "cyclegan-tiny", tmp_path / "data", "[fid,kid]", monkeypatch, weights, 0.008)
    assert [r["metric"] for r in recs] == ["fid", "kid"]  # one evaluation: Inception is the cost here
    assert all(r["num"] == NUM and r["num_real"] == NUM and r["split"] == "val" for r in recs)  # of 4 val A, 5 val B
    best, at = _best(run, recs, "fid")
    val_in, val_target = _val_pngs(run, tmp_path)
    out = tmp_path / "translated"
    api.translate(str(best), [str(val_in)], str(out), device="cpu")  # A -> B
    cli_fid = compute.fid(str(out), str(val_target), weights=str(weights), device="cpu", workers=0, progress=False)
    assert math.isclose(at["fid"]["value"], cli_fid["fid"], rel_tol=1e-6), (at["fid"], cli_fid)
    cli_kid = compute.kid(str(out), str(val_target), weights=str(weights), device="cpu", workers=0, progress=False,
                          subset_size=NUM)
    assert math.isclose(at["kid"]["value"], cli_kid["kid_mean"], rel_tol=1e-5, abs_tol=1e-9), (at["kid"], cli_kid)


@pytest.mark.slow
def test_torchrun_two_ranks_equal_single_process(tmp_path, weights, monkeypatch):
    """Under torchrun every rank translates the val inputs and extracts its shard; rank 0's values equal one process's."""
    from _procs import metric_worker_records
    from ganctl import api

    imgs, labels = load_fmnist("train", 400)
    imgs = np.pad(imgs, ((0, 0), (2, 2), (2, 2)))
    a = _pngs(tmp_path / "sneaker", imgs[labels == 7][:30])
    b = _pngs(tmp_path / "boot", imgs[labels == 9][:30])
    api.prepare_pairs(str(a), str(b), str(tmp_path / "data"), mode="unpaired", workers=1, val_fraction=0.25)
    run = Path(api.train("cyclegan-tiny", str(tmp_path / "data"), outdir=str(tmp_path / "runs"), kimg=0.008, seed=3,
                         overrides=TINY)["run_dir"])
    outs = metric_worker_records(run, tmp_path, weights, "fid,kid", 7, 29548)
    single, multi = outs[1][0], outs[2]
    assert multi[0]["world"] == 2 and multi[0]["records"] == multi[1]["records"]
    for x, y in zip(single["records"], multi[0]["records"]):
        assert x["metric"] == y["metric"] and x["num"] == y["num"] == 7 and y["split"] == "val"
        assert y["value"] == pytest.approx(x["value"], rel=1e-5, abs=1e-7)


def test_pix2pix_fid_and_compare_on_val(tmp_path, weights, monkeypatch, one_cpu_thread):
    """Paired: fid and l1 on the val pairs; `ganctl translate --dropout off --bn running` (G_ema's eval mode) on the
    val inputs, then `ganctl compare` and `ganctl fid` against the targets, give the records of the best checkpoint."""
    from ganctl import api
    from ganctl.errors import UsageError
    from ganctl.metrics import compute

    imgs = np.pad(load_fmnist("train", 24)[0], ((0, 0), (2, 2), (2, 2)))
    edges = (np.abs(np.diff(imgs.astype(int), axis=1, prepend=0)) > 40).astype(np.uint8) * 255
    pair_dirs = str(_pngs(tmp_path / "edges", edges)), str(_pngs(tmp_path / "images", imgs))
    api.prepare_pairs(*pair_dirs, str(tmp_path / "data"), mode="pairs", workers=1, val_fraction=0.2)
    api.prepare_pairs(*pair_dirs, str(tmp_path / "noval"), mode="pairs", workers=1)
    with pytest.raises(UsageError, match=r"train.metrics: fid: measured on the dataset's validation split.*--val-fraction"):
        api.train("pix2pix-tiny", str(tmp_path / "noval"), outdir=str(tmp_path / "no"), overrides=["train.metrics=[fid]"])
    assert not (tmp_path / "no").exists()
    run, recs = _train(tmp_path, "pix2pix-tiny", tmp_path / "data", "[fid,l1]", monkeypatch, weights, 0.016)
    assert [r["metric"] for r in recs] == ["fid", "l1"] * 2 and recs[0]["num"] == NUM
    best, at = _best(run, recs, "fid")
    val_in, val_target = _val_pngs(run, tmp_path)
    out = tmp_path / "translated"
    api.translate(str(run / "checkpoints" / "best"), [str(val_in)], str(out), device="cpu", dropout="off", bn="running")
    l1 = api.compare(str(val_target), str(out), metrics=["l1"])["mean"]["l1"]
    assert math.isclose(at["l1"]["value"], l1, rel_tol=1e-12), (at["l1"], l1)
    cli_fid = compute.fid(str(out), str(val_target), weights=str(weights), device="cpu", workers=0, progress=False)
    assert math.isclose(at["fid"]["value"], cli_fid["fid"], rel_tol=1e-6), (at["fid"], cli_fid)
