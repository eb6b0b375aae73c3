"""examples/pipeline.sh runs end to end as a user would run it (real CLI, real Fashion-MNIST)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_script(tmp_path):
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
    env = dict(os.environ, KIMG="0.128", IMAGES="512")
    # The script calls `ganctl`; make sure the one next to this interpreter is first on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    p = subprocess.run(["bash", str(ROOT / "examples" / "pipeline.sh"), str(tmp_path / "work")], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    work = tmp_path / "work"
    assert len(list((work / "samples").glob("seed*.png"))) == 16
    assert (work / "samples-sneaker" / "grid.png").exists()
    assert (work / "walk.gif").stat().st_size > 0
    run = Path(p.stdout.split("run: ")[1].split()[0])
    run = run if run.is_absolute() else work / run
    stats = (run / "stats.jsonl").read_text().splitlines()
    assert len(stats) >= 2 and (run / "checkpoints" / "latest").exists()
