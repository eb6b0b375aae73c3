"""engine/metric_eval.py: metrics during training equal the CLI's, are cached, logged, ranked, and never touch the RNG.

Real parts: a conditional DCGAN trained through the CLI (tests/conftest.py tiny_cgan_run), the real Fashion-MNIST
dataset, seeded random Inception weights (tests/metrics/random_inception.py). Inception runs ~0.4 s/image on one CPU
core, so N is tiny; the values are meaningless as quality numbers but must equal the CLI's to float precision.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from random_inception import WEIGHTS_NAME, write_random_inception  # noqa: E402

from ganctl.config.load import validate_resolved  # noqa: E402
from ganctl.data.dataset import PreparedDataset  # noqa: E402
from ganctl.engine import rundir  # noqa: E402
from ganctl.engine.metric_eval import CACHE_DIR, TrainingMetrics  # noqa: E402
from ganctl.errors import UsageError  # noqa: E402
from ganctl.sampling.generate import load_generator, resolve_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return write_random_inception(tmp_path_factory.mktemp("w") / WEIGHTS_NAME, seed=0)


def _cfg(run: Path, **train) -> dict:
    cfg = validate_resolved(rundir.read_config(run))
    cfg["train"].update(train)
    return cfg


def test_fid_during_training_equals_cli_and_is_cached(tmp_path, tiny_cgan_run, weights, one_cpu_thread):
    from ganctl.metrics import compute

    cfg = _cfg(tiny_cgan_run, metrics=["fid"], metric_num=4)
    ds = PreparedDataset(cfg["data"]["path"])
    run = tmp_path / "run"
    run.mkdir()
    gen = load_generator(tiny_cgan_run, "cpu")
    assert gen.num_classes == 10  # a conditional model: images follow the per-seed class rule
    tm = TrainingMetrics(cfg, ds, run, torch.device("cpu"), weights=str(weights))
    rng = torch.get_rng_state()
    recs = tm.evaluate(gen.G, 64)
    assert torch.equal(rng, torch.get_rng_state()), "an evaluation must not move the training RNG"
    assert [r["metric"] for r in recs] == ["fid"] and recs[0]["num"] == 4 and recs[0]["num_real"] == 4
    lines = [json.loads(x) for x in (run / rundir.METRICS).read_text().splitlines()]
    assert lines == recs
    assert set(lines[0]) >= {"kimg", "metric", "value", "num", "protocol", "weights_sha256", "seconds"}
    assert lines[0]["protocol"] == "pytorch-fid" and len(lines[0]["weights_sha256"]) == 64
    cached = sorted(p.name for p in (run / CACHE_DIR).iterdir())
    assert any(n.startswith("fid-pytorch-fid-n4-") for n in cached), cached

    # The CLI's code on the saved checkpoint: `ganctl fid DATA RUN --num 4`.
    cli = compute.fid(str(cfg["data"]["path"]), str(resolve_checkpoint(tiny_cgan_run)), weights=str(weights), device="cpu",
                      workers=0, num=4, progress=False)
    assert recs[0]["value"] == pytest.approx(cli["fid"], rel=1e-6)
    assert tm.best() == ("fid", recs[0]["value"], 0.064) and tm.improved

    # Second evaluation: the reals' statistics come from RUN/metrics-cache (in-memory copy dropped), same value.
    tm2, tm._real = tm, {}
    again = tm2.evaluate(gen.G, 128)
    assert again[0]["value"] == pytest.approx(recs[0]["value"], rel=1e-9)
    assert not tm2.improved  # equal is not better: `best` keeps pointing at the first
    assert tm2.best()[2] == 0.064
    assert len((run / rundir.METRICS).read_text().splitlines()) == 2


def test_kid_and_is_conditional(tmp_path, tiny_cgan_run, weights, one_cpu_thread):
    cfg = _cfg(tiny_cgan_run, metrics=["is", "kid"], metric_num=10)
    ds = PreparedDataset(cfg["data"]["path"])
    gen = load_generator(tiny_cgan_run, "cpu")
    tm = TrainingMetrics(cfg, ds, tmp_path, torch.device("cpu"), weights=str(weights))
    recs = tm.evaluate(gen.G, 1000)
    by = {r["metric"]: r for r in recs}
    assert set(by) == {"is", "kid"}
    assert by["is"]["value"] >= 1.0 and by["is"]["splits"] == 10  # IS is exp(KL) >= 1
    assert by["kid"]["subset_size"] == 10 and by["kid"]["protocol"] == "torch-fidelity"
    assert tm.best()[0] == "is"  # the first listed metric decides the best checkpoint
    # The live collapse check ran on the same features, per class (10 classes, 1 sample each: too few to judge).
    assert any(f.check == "mode-collapse" for f in tm.findings)


def test_live_warnings_and_stop_on(tmp_path, tiny_cgan_run, weights, one_cpu_thread):
    cfg = _cfg(tiny_cgan_run, metrics=["fid"], metric_num=4, stop_on="divergence")
    ds = PreparedDataset(cfg["data"]["path"])
    stats = [json.loads(x) for x in (tiny_cgan_run / rundir.STATS).read_text().splitlines()]
    stats[-1]["Loss/D/loss"] = float("nan")  # what a diverging run leaves in stats.jsonl
    (tmp_path / rundir.STATS).write_text("".join(json.dumps(r) + "\n" for r in stats))
    gen = load_generator(tiny_cgan_run, "cpu")
    tm = TrainingMetrics(cfg, ds, tmp_path, torch.device("cpu"), weights=str(weights))
    tm.evaluate(gen.G, 64)
    assert [f.check for f in tm.live_findings()] == ["non-finite"]
    assert tm.stop_reason() is None  # one severe evaluation warns; it takes two in a row to stop
    tm.evaluate(gen.G, 128)
    assert "train.stop_on=divergence" in tm.stop_reason() and "non-finite" in tm.stop_reason()
    cfg["train"]["stop_on"] = "collapse"
    assert TrainingMetrics(cfg, ds, tmp_path, torch.device("cpu"), weights=str(weights)).stop_reason() is None


def test_missing_weights_refuse_at_start(tmp_path, tiny_cgan_run, monkeypatch):
    monkeypatch.setenv("GANCTL_OFFLINE", "1")
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.delenv("GANCTL_INCEPTION_WEIGHTS", raising=False)
    cfg = _cfg(tiny_cgan_run, metrics=["fid"])
    ds = PreparedDataset(cfg["data"]["path"])
    with pytest.raises(UsageError) as e:
        TrainingMetrics(cfg, ds, tmp_path, torch.device("cpu"))
    assert "GANCTL_INCEPTION_WEIGHTS" in e.value.message and "\n" not in e.value.message
    with pytest.raises(UsageError, match="train.metrics"):
        TrainingMetrics(_cfg(tiny_cgan_run, metrics=["fidd"]), ds, tmp_path, torch.device("cpu"))
    assert not TrainingMetrics(_cfg(tiny_cgan_run), ds, tmp_path, torch.device("cpu")).enabled  # no metrics: no weights needed


def test_config_keys_validate():
    from ganctl.config.load import resolve_config
    from ganctl.config.schema import RESUME_SAFE

    cfg = resolve_config("cgan-fashion-mnist", overrides=["train.metrics=[fid, kid]", "train.stop_on=collapse", "train.snapshot_minutes=30"])
    assert cfg["train"]["metrics"] == ["fid", "kid"] and cfg["train"]["snapshot_minutes"] == 30.0
    with pytest.raises(UsageError, match="train.stop_on"):
        resolve_config("cgan-fashion-mnist", overrides=["train.stop_on=sometimes"])
    assert ("train", "metrics") in RESUME_SAFE


@pytest.mark.slow
def test_torchrun_two_ranks_equal_single_process(tmp_path, tiny_cgan_run, weights):
    from _procs import metric_worker_records

    outs = metric_worker_records(tiny_cgan_run, tmp_path, weights, "fid,kid", 9, 29547)
    single, multi = outs[1][0], outs[2]
    assert multi[0]["world"] == 2 and multi[0]["records"] == multi[1]["records"]  # every rank returns rank 0's values
    assert len((tmp_path / "np2" / rundir.METRICS).read_text().splitlines()) == 2  # written once, by rank 0
    for a, b in zip(single["records"], multi[0]["records"]):
        assert a["metric"] == b["metric"] and a["num"] == b["num"] == 9
        assert b["value"] == pytest.approx(a["value"], rel=1e-5, abs=1e-7)
