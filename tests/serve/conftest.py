"""Fixtures for serve/explore: tiny checkpoints (tests/export/networks.py) and a live waitress server in a thread."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from networks import make_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def serve_networks(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("serve_networks")
    return {name: make_checkpoint(d, name) for name in ("cgan", "stylegan2")}


@pytest.fixture(scope="module")
def live_server():
    """live_server(source, **build options) -> base URL of a real waitress server on a free loopback port."""
    from ganctl.serve.run import build, make_server

    started = []

    def start(source, **kw):
        app, renderer, worker = build(str(source), device="cpu", **kw)
        server = make_server(app, "127.0.0.1", 0, threads=4)
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        started.append((server, worker, renderer, t))
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    for server, worker, renderer, t in started:
        server.close()
        worker.close()
        t.join(timeout=5)
        renderer.close()
