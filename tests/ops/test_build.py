"""The build machinery: lock timeout and dead-holder recovery, the one-warning fallback, failure caching, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganctl.ops import loader

NATIVE = Path(loader.__file__).resolve().parents[2] / "native"


def run_py(code: str, env_extra: dict, timeout=180) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    env.pop("GANCTL_OPS", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


HOLD = """
import sys, time
from pathlib import Path
from ganctl.ops.loader import BuildLock
with BuildLock(Path(sys.argv[1]), timeout=5):
    print('held', flush=True)
    time.sleep(60)
"""


def test_lock_times_out_then_recovers_when_holder_dies(tmp_path):
    lock = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with pytest.raises(loader.BuildError, match=f"held by .*{holder.pid}"):
            with loader.BuildLock(lock, timeout=1.0):
                pass
        assert time.monotonic() - t0 < 10
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, like an OOM-killed build
        holder.wait()
    with loader.BuildLock(lock, timeout=5.0):  # the kernel released the dead holder's lock
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_pidfile_lock_removes_stale_holder(tmp_path):
    lock = loader.BuildLock(tmp_path / "y.lock", timeout=5.0)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid_path = tmp_path / "y.pid"
    pid_path.write_text(json.dumps({"pid": int(dead.stdout), "host": __import__("socket").gethostname()}))
    assert not lock._try_pidfile()  # first look: finds the dead holder and removes its file
    assert not pid_path.exists()
    assert lock._try_pidfile()
    lock.__exit__(None, None, None)
    assert not pid_path.exists()


FALLBACK = """
import warnings, torch, ganctl.ops as ops
warnings.simplefilter('always')
x = torch.randn(2, 3, 8, 8)
with warnings.catch_warnings(record=True) as w:
    y = ops.bias_act(x, torch.ones(3), act='lrelu')
    z = ops.upfirdn2d(x, ops.setup_filter([1, 3, 3, 1]), up=2, padding=(2, 1))
    ops.bias_act(x)
    fl = ops.filtered_lrelu(x, torch.ones(4) / 4, torch.ones(4) / 4, torch.ones(3), up=2, down=2, padding=3)
assert torch.equal(y, ops.bias_act(x, torch.ones(3), act='lrelu', impl='ref'))
assert torch.equal(fl, ops.filtered_lrelu(x, torch.ones(4) / 4, torch.ones(4) / 4, torch.ones(3), up=2, down=2,
                                          padding=3, impl='ref'))
assert torch.equal(z, ops.upfirdn2d(x, ops.setup_filter([1, 3, 3, 1]), up=2, padding=(2, 1), impl='ref'))
msgs = [str(m.message) for m in w if 'ganctl.ops' in str(m.message)]
print(len(msgs)); print(msgs[0] if msgs else '')
print(ops.status()['filtered_lrelu']['active'])
"""


def test_fallback_warns_once_when_sources_missing(tmp_path):
    r = run_py(FALLBACK, {"GANCTL_NATIVE_DIR": str(tmp_path / "nowhere"), "GANCTL_CACHE": str(tmp_path / "c")})
    assert r.returncode == 0, r.stderr
    count, msg, active = r.stdout.strip().splitlines()
    assert count == "1" and "native sources not found" in msg and active == "ref"


def test_failed_build_is_recorded_and_not_retried(tmp_path):
    broken = tmp_path / "native"
    shutil.copytree(NATIVE, broken)
    for p in broken.glob("*.cpp"):  # a missing include is fatal at once, before any heavy header is parsed
        p.write_text('#include "deliberately_missing_for_a_test.h"\n' + p.read_text())
    env = {"GANCTL_NATIVE_DIR": str(broken), "GANCTL_CACHE": str(tmp_path / "c")}
    r = run_py(FALLBACK, env)
    assert r.returncode == 0, r.stderr
    count, msg, active = r.stdout.strip().splitlines()
    assert count == "1" and "building the native ops failed" in msg and active == "ref"
    assert list((tmp_path / "c" / "ops").glob("*/failed.json"))
    t0 = time.monotonic()
    r = run_py(FALLBACK, env)  # second process: falls back at once from the recorded failure
    count, msg, _ = r.stdout.strip().splitlines()
    assert count == "1" and "earlier build failed" in msg
    # an explicit impl='native' fails loudly instead of falling back
    r = run_py("import torch, ganctl.ops as o; o.bias_act(torch.ones(2), impl='native')", env)
    assert r.returncode != 0 and "earlier build failed" in r.stderr
    assert time.monotonic() - t0 < 60


def test_env_ref_mode_never_builds(tmp_path):
    env = {**os.environ, "GANCTL_OPS": "ref", "GANCTL_CACHE": str(tmp_path / "c")}
    r = subprocess.run([sys.executable, "-c", FALLBACK], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    count, _, active = r.stdout.strip().splitlines()
    assert count == "0" and active == "ref" and not (tmp_path / "c").exists()


def test_cli_ops_status_json(tmp_path):
    env = {**os.environ, "GANCTL_CACHE": str(tmp_path / "c")}
    r = subprocess.run([sys.executable, "-m", "ganctl", "ops", "status", "--json"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert set(st) == {"bias_act", "upfirdn2d", "filtered_lrelu"}
    assert st["upfirdn2d"]["active"] == "ref" and "not built yet" in st["upfirdn2d"]["reason"]
    assert st["bias_act"]["cache_dir"] == str(tmp_path / "c" / "ops")


def test_cli_ops_build_uses_cache(native_ops):
    """`ganctl ops build` in a fresh process finds the session's build in the cache and reports native."""
    r = subprocess.run([sys.executable, "-m", "ganctl", "ops", "build"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "upfirdn2d  native" in r.stderr and "loaded from cache" in r.stderr
