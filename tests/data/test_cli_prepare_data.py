"""`python -m ganctl prepare-data` in a subprocess: exit codes, the stderr report, files written or not."""

from __future__ import annotations

import json
import re
import shlex

import numpy as np

from ganctl.data.dataset import PreparedDataset


def test_help_has_a_runnable_example(helpers, fashion, tmp_path):
    r = helpers.run_cli("prepare-data", "--help")
    assert r.returncode == 0
    example = re.search(r"^\s+(ganctl prepare-data /usr/share/datasets/fashion-mnist \S+)$", r.stdout, re.M)
    assert example, r.stdout
    argv = shlex.split(example.group(1))[1:]
    argv[-1] = str(tmp_path / "fmnist")  # run the example as printed, writing into tmp_path
    run = helpers.run_cli(*argv, "--max-images", "100")
    assert run.returncode == 0, run.stderr
    assert len(PreparedDataset(tmp_path / "fmnist")) == 100


def test_dirty_folder_reports_and_exits_zero(helpers, dirty, tmp_path):
    root, _ = dirty
    r = helpers.run_cli("prepare-data", root, tmp_path / "out", "--workers", "2", "--name", "dirt")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert re.search(r"prepared 6 images \(16x16, 3 channels, unlabelled\)", r.stderr), r.stderr
    assert "skipped 8: duplicate 1, empty 1, huge 1, not-an-image 1, tiny 1, truncated 2, unsupported-extension 1" in r.stderr
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert m["name"] == "dirt" and m["count"] == 6 and len(m["skipped"]) == 8
    assert m["options"]["workers"] == 2


def test_strict_exits_2_with_one_line_and_writes_nothing(helpers, dirty, tmp_path):
    root, _ = dirty
    r = helpers.run_cli("prepare-data", root, tmp_path / "out", "--strict")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganctl: error: --strict: 8 input(s) would be skipped"), r.stderr
    assert not (tmp_path / "out").exists()


def test_user_errors_are_one_line_exit_2(helpers, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "src").mkdir()
    helpers.noise(1).save(tmp_path / "src" / "a.png")
    (tmp_path / "afile").write_text("x")
    cases = {
        "no such file": ("prepare-data", tmp_path / "missing", tmp_path / "o1"),
        "no images found": ("prepare-data", tmp_path / "empty", tmp_path / "o2"),
        "cannot write the dataset here": ("prepare-data", tmp_path / "src", tmp_path / "afile" / "sub"),
        "exists and is not a folder": ("prepare-data", tmp_path / "src", tmp_path / "afile"),
        "--policy": ("prepare-data", tmp_path / "src", tmp_path / "o3", "--policy", "zoom"),
        "--channels": ("prepare-data", tmp_path / "src", tmp_path / "o4", "--channels", "2"),
    }
    for needle, argv in cases.items():
        r = helpers.run_cli(*argv)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], (needle, r.returncode, r.stderr)
        assert lines[0].startswith("ganctl: error: ")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


def test_cli_matches_library_pixels(helpers, tmp_path):
    src = tmp_path / "cls"
    for i in range(4):
        (src / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        helpers.noise(i, (20, 20)).save(src / f"c{i % 2}" / f"{i}.png")
    r = helpers.run_cli("prepare-data", src, tmp_path / "out", "--resolution", "20", "--channels", "1", "--workers", "1")
    assert r.returncode == 0 and "2 classes" in r.stderr
    ds = PreparedDataset(tmp_path / "out")
    from PIL import Image

    first = ds.full_manifest()["images"][0]["path"]
    assert np.array_equal(ds.get_batch([0])[0][0, 0], np.asarray(Image.open(src / first).convert("L")))
