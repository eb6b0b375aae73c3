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


@pytest.fixture
def run_main(capsys):
    """`run_main(*args) -> (exit code, stdout, stderr)` through ganctl.cli.app.main in this process."""
    from ganctl.cli.app import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return e.value.code, out.out, out.err

    return run
