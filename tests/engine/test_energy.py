"""Energy and carbon per run (engine/energy.py, codecarbon's offline tracker): a short CPU run records a positive
energy figure with its method in stats.jsonl and in its checkpoint; a resumed run starts from the checkpoint's total
and adds its own (never resets); `ganctl info` shows it; no network connection is attempted (checked with a Python
audit hook on socket.connect / getaddrinfo, not a mock); train.energy=false records nothing; bad values are one line."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from ganctl.errors import UsageError

_NET: list = []
_WATCH = {"on": False}


def _audit(event, args):
    if _WATCH["on"] and event in ("socket.connect", "socket.getaddrinfo", "socket.sendto"):
        _NET.append((event, args))


sys.addaudithook(_audit)


def test_setting_parsing():
    from ganctl.engine.energy import parse_setting

    assert parse_setting(None) == (True, None) and parse_setting(True) == (True, None)
    assert parse_setting(False) == (False, None)
    assert parse_setting({"country": "fra"}) == (True, "FRA")
    with pytest.raises(UsageError, match="config key train.energy"):
        parse_setting({"country": "France"})
    with pytest.raises(UsageError, match="config key train.energy"):
        parse_setting("yes")


def _stats(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines() if x.strip()]


def test_run_records_energy_and_resume_accumulates(fmnist32, tmp_path, one_cpu_thread):
    pytest.importorskip("codecarbon", reason="energy needs the energy extra: pip install 'ganctl[energy]'")
    from ganctl import api
    from ganctl.engine import checkpoint as ckpt

    ov = ["model.g_channels=16", "model.d_channels=16", "train.batch=16", "train.tick_kimg=0.064", "train.grid_size=4",
          "train.energy={country: FRA}", "train.tensorboard=false"]
    _WATCH["on"] = True
    try:
        # Long enough (several seconds) for codecarbon's ~3.5 s start-up and a few readings.
        r1 = api.train("cgan-fashion-mnist", str(fmnist32), str(tmp_path), kimg=0.768, overrides=ov)
        run = Path(r1["run_dir"])
        e1 = ckpt.read_meta(ckpt.latest_checkpoint(run / "checkpoints"))["energy"]
        r2 = api.resume(str(run), kimg=1.536)
    finally:
        _WATCH["on"] = False
    assert not _NET, f"network access attempted: {_NET[:3]}"
    assert e1["kwh"] > 0 and e1["co2_kg"] > 0 and e1["country"] == "FRA"
    assert "cpu: " in e1["method"] and ("RAPL" in e1["method"] or "TDP estimate" in e1["method"])
    # France's grid: ~0.05 kg/kWh in codecarbon's table; the world average is ~0.475.
    assert 0.005 < e1["co2_kg"] / e1["kwh"] < 0.2
    stats = _stats(run)
    # Ticks before codecarbon's first reading carry no energy fields; after it, every tick has the run's total so far.
    measured = [r for r in stats if "Energy/kwh" in r]
    assert measured and measured[-1] is stats[-1] and all(r["Energy/method"] == e1["method"] for r in measured)
    kwh = [r["Energy/kwh"] for r in measured]
    assert kwh == sorted(kwh) and kwh[-1] > 0
    # Resume: the second session starts from the checkpoint's total and adds its own.
    first_resumed = next(r for r in stats if r["Progress/kimg"] > 0.768)
    assert first_resumed["Energy/kwh"] >= e1["kwh"]
    e2 = ckpt.read_meta(ckpt.latest_checkpoint(run / "checkpoints"))["energy"]
    assert e2["kwh"] > e1["kwh"] and e2["seconds"] > e1["seconds"]
    assert r2["energy"]["kwh"] >= e2["kwh"]
    info = api.info(str(run))
    assert info["energy"]["kwh"] == e2["kwh"]


def test_energy_off(fmnist32, tmp_path, one_cpu_thread):
    from ganctl import api

    r = api.train("cgan-fashion-mnist", str(fmnist32), str(tmp_path), kimg=0.032,
                  overrides=["model.g_channels=8", "model.d_channels=8", "train.batch=16", "train.tick_kimg=0.032",
                             "train.grid_size=4", "train.energy=false", "train.tensorboard=false"])
    assert "energy" not in r
    assert all("Energy/kwh" not in s for s in _stats(Path(r["run_dir"])))
    n_runs = len(list(tmp_path.iterdir()))
    with pytest.raises(UsageError, match="train.energy"):
        api.train("cgan-fashion-mnist", str(fmnist32), str(tmp_path), kimg=0.032, overrides=["train.energy=often"])
    assert len(list(tmp_path.iterdir())) == n_runs  # refused before a run directory exists


def test_without_codecarbon_one_line(monkeypatch):
    from ganctl.engine import energy

    monkeypatch.setitem(sys.modules, "codecarbon", None)  # what `import codecarbon` sees when it is not installed
    events: list = []
    assert energy.start(True, emit=events.append) is None
    assert events == [{"type": "warning", "text": energy.MISSING}] and "pip install 'ganctl[energy]'" in energy.MISSING
    assert energy.start(False, emit=events.append) is None and len(events) == 1
    with energy.measuring(True) as used:
        pass
    assert used == {"note": energy.MISSING}
