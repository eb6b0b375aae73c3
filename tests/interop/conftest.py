"""Fixtures for the interop tests: the CLI's own entry point run in this process."""

from __future__ import annotations

import pytest


@pytest.fixture
def run_main(capsys):
    """`run_main(*args) -> (exit code, stdout, stderr)` through ganctl.cli.app.main in this process. A subprocess
    start costs ~10 s on a busy 2-core machine, so only a few tests here pay it (those use the `cli` fixture)."""
    from ganctl.cli.app import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return e.value.code, out.out, out.err

    return run
