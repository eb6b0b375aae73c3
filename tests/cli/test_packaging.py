"""A wheel (what `pip install .` or `pip install git+URL` builds) carries the presets and the native sources, and the
installed copy finds them without a checkout beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # setuptools >= 70.1 builds wheels by itself (test extra); older ones would need the `wheel` package.
    pytest.importorskip("setuptools", minversion="70.1", reason="building a wheel offline needs setuptools >= 70.1")
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools writes build/ into the source tree, and a stale build/ there could leak old files
    # into later wheels.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("ganctl", "presets", "native"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # --no-build-isolation: build with the installed setuptools/wheel, so nothing is downloaded.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, text=True, timeout=300)
    (whl,) = out.glob("ganctl-*.whl")
    return whl


def test_wheel_carries_presets_and_native_sources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for p in (ROOT / "presets").glob("*.yaml"):
        assert f"ganctl/presets/{p.name}" in names
    for p in (ROOT / "native").iterdir():
        if p.suffix in (".cpp", ".cu", ".cuh", ".h"):
            assert f"ganctl/native/{p.name}" in names
    assert "ganctl/serve/static/explore.html" in names  # `ganctl explore`'s page


def test_installed_wheel_finds_its_presets_and_native_dir(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import ganctl, ganctl.config.load as c, ganctl.ops.loader as l; "
            "print(ganctl.__file__); print(c.presets_dir()); print(l.native_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True,
                         text=True).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in out), out
    listing = subprocess.run([sys.executable, "-m", "ganctl", "presets", "list"], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert listing.returncode == 0 and "stylegan-tiny" in listing.stdout, listing.stderr
