"""`ganctl fid / is / kid` as users run them: input kinds, stats files, CI gates, bad input, missing weights."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from metrics_testdata import run_cli, run_json, write_fmnist

CPU = ("--device", "cpu", "--workers", "0")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """4 Fashion-MNIST PNGs in four shapes: flat folder, nested folder with upper-case extensions, zip, prepared dataset."""
    from ganctl.data.dataset import write_dataset

    root = tmp_path_factory.mktemp("tiny")
    files = write_fmnist(root / "flat", 0, 4)
    nested = root / "nested"
    for i, f in enumerate(files):
        d = nested / f"class{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        (d / (f.stem + (".PNG" if i % 2 else ".Png"))).write_bytes(f.read_bytes())
    with zipfile.ZipFile(root / "imgs.zip", "w") as z:
        for f in files:
            z.write(f, f"imgs/{f.name}")
    imgs = np.stack([np.asarray(Image.open(f)) for f in files])[:, None]
    write_dataset(root / "ds", imgs, np.zeros(len(files), np.int64), {"name": "tiny"})
    return root


def _stats(path, weights, out):
    from ganctl.metrics import compute

    res = compute.fid(str(path), save_stats_path=str(out), weights=str(weights), device="cpu", workers=0, progress=False)
    with np.load(out) as f:
        return res, f["mu"], f["sigma"]


@pytest.mark.slow
def test_input_kinds_give_identical_stats(tiny, weights, tmp_path):
    res, mu, sigma = _stats(tiny / "flat", weights, tmp_path / "flat.npz")
    assert res["inputs"][0]["kind"] == "folder" and res["inputs"][0]["n"] == 4 and "fid" not in res
    for name, kind in (("nested", "folder"), ("imgs.zip", "zip"), ("ds", "dataset")):
        r, m, s = _stats(tiny / name, weights, tmp_path / f"{kind}.npz")
        assert r["inputs"][0]["kind"] == kind and r["inputs"][0]["n"] == 4, name
        # Same pixels, any order: FID stats agree to float64 round-off.
        assert np.allclose(m, mu, rtol=0, atol=1e-9) and np.allclose(s, sigma, rtol=0, atol=1e-9), name
    # A stats file against itself is 0, and stats vs the folder it came from is ~0.
    assert abs(float(run_cli("fid", tmp_path / "flat.npz", tmp_path / "zip.npz").stdout)) < 1e-6
    r = run_cli("fid", tmp_path / "flat.npz", tiny / "flat", "--weights", weights, *CPU)
    assert abs(float(r.stdout)) < 1e-6 and r.stdout.strip().count("\n") == 0


def test_unreadable_files_are_counted_not_dropped(tiny, weights, tmp_path):
    d = tmp_path / "dirty"
    d.mkdir()
    for f in (tiny / "flat").iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (d / "notes.txt").write_text("ignored: not an image extension")
    r = run_cli("fid", d, "--save-stats", tmp_path / "d.npz", "--json", "--weights", weights, *CPU)
    res = json.loads(r.stdout)
    assert res["inputs"][0]["n"] == 4 and res["inputs"][0]["skipped"] == 1
    assert res["inputs"][0]["skipped_files"][0].endswith("broken.png")
    assert "skipped 1 unreadable file" in r.stderr and "broken.png" in r.stderr


def test_ci_gate_exit_codes(tiny, weights):
    """--min / --max: the number is still printed; a violated bound exits 1 (after the output)."""
    import torch

    from ganctl.metrics import compute

    # Same intra-op thread count as the CLI subprocess (run_cli's OMP_NUM_THREADS=2): float sums depend on it, and
    # this process may have run other tests at another count.
    before = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    try:
        value = compute.inception_score(str(tiny / "flat"), splits=2, weights=str(weights), device="cpu", workers=0,
                                        progress=False)["is_mean"]
    finally:
        torch.set_num_threads(before)
    args = ("is", tiny / "flat", "--splits", "2", "--weights", weights, *CPU)
    ok = run_cli(*args, "--min", str(value * 0.99), check=False)
    assert ok.returncode == 0 and float(ok.stdout) == value
    bad = run_cli(*args, "--min", str(value * 2), "--json", check=False)
    res = json.loads(bad.stdout)
    assert bad.returncode == 1 and res["is_mean"] == value and res["gate"]["passed"] is False
    assert "violates --min" in bad.stderr


@pytest.mark.slow
def test_fid_max_gate_on_stats_files(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        x = rng.standard_normal((64, 2048)) * 0.1 + 0.3 + 0.05 * i
        np.savez(tmp_path / f"s{i}.npz", mu=x.mean(0), sigma=np.cov(x, rowvar=False))
    ok = run_cli("fid", tmp_path / "s0.npz", tmp_path / "s1.npz", "--max", "1e9", check=False)
    value = float(ok.stdout)
    assert ok.returncode == 0 and value > 0
    bad = run_cli("fid", tmp_path / "s0.npz", tmp_path / "s1.npz", "--max", str(value / 2), check=False)
    assert bad.returncode == 1 and float(bad.stdout) == value and "violates --max" in bad.stderr


def _err(r):
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("ganctl: error:")]
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr)
    return lines[0]


def _usage(fn, *args, **kw) -> str:
    from ganctl.errors import UsageError

    with pytest.raises(UsageError) as e:
        fn(*map(str, args), **kw)
    assert e.value.exit_code == 2 and "\n" not in e.value.message
    return e.value.message


def test_bad_inputs_one_line_exit_2(tiny, weights, tmp_path):
    from ganctl.metrics import compute

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    # Through the real CLI: one line on stderr, exit 2.
    assert "no images found" in _err(run_cli("fid", empty, tiny / "flat", "--weights", weights, check=False))
    assert "'mu' and 'sigma'" in _err(run_cli("fid", tmp_path / "nokeys.npz", tiny / "flat", check=False)) \
        if np.savez(tmp_path / "nokeys.npz", mean=np.zeros(3)) is None else False
    w = {"weights": str(weights), "device": "cpu", "workers": 0, "progress": False}
    assert "no such file" in _usage(compute.fid, tmp_path / "missing", tiny / "flat")
    one = tmp_path / "one"
    one.mkdir()
    (one / "x.png").write_bytes((tiny / "flat" / "00000.png").read_bytes())
    assert "at least 2" in _usage(compute.fid, one, tiny / "flat", **w)
    allbad = tmp_path / "allbad"
    allbad.mkdir()
    for i in range(2):
        (allbad / f"{i}.jpg").write_bytes(b"garbage")
    assert "could be read" in _usage(compute.fid, allbad, save_stats_path=str(tmp_path / "x.npz"), **w)
    assert "stats file" in _usage(compute.inception_score, tmp_path / "nokeys.npz", **w)
    assert "--protocol" in _usage(compute.fid, tiny / "flat", tiny / "flat", protocol="nope", **w)
    assert "subset-size" in _usage(compute.kid, tiny / "flat", tiny / "flat", **w)
    assert "--splits" in _usage(compute.inception_score, tiny / "flat", splits=0, **w)


def test_missing_weights_offline_names_file_and_place(tiny, tmp_path):
    env = {"GANCTL_CACHE": str(tmp_path / "cache"), "TORCH_HOME": str(tmp_path / "th"), "GANCTL_INCEPTION_WEIGHTS": ""}
    line = _err(run_cli("fid", tiny / "flat", tiny / "flat", env_extra=env, check=False))
    assert "pt_inception-2015-12-05-6726825d.pth" in line and str(tmp_path / "cache") in line
    assert "github.com/mseitzer/pytorch-fid/releases" in line
    assert "no such file" in _err(run_cli("fid", tiny / "flat", tiny / "flat", "--weights", tmp_path / "nope.pth", check=False))
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not a checkpoint")
    assert "bogus.pth" in _err(run_cli("fid", tiny / "flat", tiny / "flat", "--weights", bogus, *CPU, check=False))


def test_weights_found_through_env_and_torch_home(tiny, weights, torch_home, tmp_path):
    env = {"GANCTL_CACHE": str(tmp_path / "cache"), "TORCH_HOME": str(torch_home)}
    res = run_json("is", tiny / "flat", "--splits", "2", *CPU, env_extra=env)
    assert res["weights"]["path"] == str(weights) and len(res["weights"]["sha256"]) == 64
    assert res["protocol"]["name"] == "torch-fidelity" and res["is_mean"] >= 1.0
    env = {"GANCTL_CACHE": str(tmp_path / "cache"), "TORCH_HOME": str(tmp_path), "GANCTL_INCEPTION_WEIGHTS": str(weights)}
    res2 = run_json("is", tiny / "flat", "--splits", "2", "--protocol", "clean-fid", *CPU, env_extra=env)
    assert res2["protocol"]["name"] == "clean-fid" and res2["is_mean"] != res["is_mean"]
