"""ganctl report: a self-contained report.html with plots, rendered by a real headless Chromium and checked not blank.

The run is a real tiny training (tests/conftest.py tiny_cgan_run); a metrics.jsonl and schedule keys are added to a
copy, as runs with train.metrics and scheduled families write them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def watched_run(tmp_path_factory, tiny_cgan_run) -> Path:
    run = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(tiny_cgan_run, run, symlinks=True)
    stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    for i, r in enumerate(stats):
        r.update({"Schedule/lr_g": 0.002 / (1 + i), "Schedule/lr_d": 0.002, "Schedule/resolution": 8 * 2 ** min(i, 2),
                  "Schedule/alpha": min(1.0, 0.5 * i)})
    (run / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stats))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"kimg": k, "metric": "fid", "value": v, "num": 5000, "protocol": "pytorch-fid"}) + "\n"
                                               for k, v in [(0.032, 90.0), (0.064, 55.5), (0.096, 61.0)]))
    return run


@pytest.fixture(scope="module")
def reported(watched_run, tmp_path_factory):
    """`ganctl report RUN` run once through the CLI; the tests read what it wrote and printed."""
    from _testdata import run_cli

    return run_cli("report", watched_run, check=0)


def test_report_files_and_summary(watched_run, reported):
    from ganctl import api

    assert "fid: latest 61 at kimg 0.096; best 55.5 at kimg 0.064" in reported.stdout
    assert reported.stdout.strip().splitlines()[-1] == f"report: {watched_run / 'report.html'}"
    page = (watched_run / "report.html").read_text()
    names = sorted(p.name for p in (watched_run / "report").glob("*.png"))
    assert {"losses.png", "scores.png", "metric-fid.png", "lr.png", "schedule.png", "timing.png"} <= set(names)
    # Self-contained: every image is embedded, nothing is fetched.
    srcs = re.findall(r"src='([^']*)'", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in page and "https://" not in page
    assert len(srcs) >= len(names) + 2  # plots + reals + at least one fakes grid
    res = api.report(str(watched_run), str(watched_run / "again.html"))  # the library call behind the command
    assert res["metrics"]["fid"] == {"latest": 61.0, "latest_kimg": 0.096, "evaluations": 3, "best": 55.5, "best_kimg": 0.064}
    assert res["summary_text"] in reported.stdout


def test_report_renders_in_headless_chromium(watched_run, reported, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                           "--window-size=1200,2000", (watched_run / "report.html").resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(np.int32)
    assert img.shape[:2] == (2000, 1200)
    assert img.std() > 20, "screenshot is blank"
    nonwhite = (img.min(axis=2) < 200).mean()
    assert nonwhite > 0.02, f"only {nonwhite:.3%} non-white pixels"
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    # matplotlib's default blue lines (#1f77b4) and the crimson best-FID star prove the plots were decoded and drawn.
    assert ((b - r > 80) & (b > 120)).sum() > 200
    assert ((r > 180) & (g < 60) & (b < 90)).sum() > 20


def test_report_without_matplotlib_says_how(watched_run, cli, tmp_path):
    block = tmp_path / "block" / "matplotlib"
    block.mkdir(parents=True)
    (block / "__init__.py").write_text("raise ImportError('blocked for this test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "block"), os.environ.get("PYTHONPATH", "")])}
    p = cli("report", watched_run, env=env)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["ganctl: error: ganctl report needs matplotlib: pip install 'ganctl[report]' (or pip install matplotlib)"]
