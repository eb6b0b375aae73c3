"""Fixtures for export and serving tests: tiny checkpoints of every family, and the CLI run in this process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from networks import TINY, make_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def tiny_networks(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("tiny_networks")
    return {name: make_checkpoint(d, name) for name in TINY}
