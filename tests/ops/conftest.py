"""Fixtures for the ops tests: the native library, built (or loaded from the cache) once per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def native_ops():
    """Load the native ops, building them on first use (~1-3 min on 2 cores; cached under $GANCTL_CACHE).

    A build failure fails the tests that need it (CI must build the CPU kernels), it does not skip them.
    """
    from ganctl.ops import loader

    try:
        st = loader.load()
    except loader.BuildError as e:
        pytest.fail(f"native ops could not be built: {e}")
    return st


def pytest_configure(config):
    config.addinivalue_line("markers", "nvcc: compiles the CUDA sources with nvcc (~1-2 min); skipped without nvcc")
