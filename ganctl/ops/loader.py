"""Building, caching and loading the native ops library (native/), and deciding native vs reference per call.

Nothing here runs at `import ganctl`. The first call that may use native code (impl='auto'|'native') loads the
library: from the cache when a build for these exact sources exists, else by compiling it with
torch.utils.cpp_extension.load (ninja + the host compiler; nvcc for the CUDA kernels when a GPU and nvcc exist).

Cache: <cache>/ops/<name>/ with <cache> = $GANCTL_CACHE or ~/.cache/ganctl; <name> carries a hash of the sources,
compiler flags, torch / CUDA / Python versions and the GPU architectures, so an upgrade never loads a stale binary.
A finished build writes `done.json`; a failed one writes `failed.json` (with the log) so that later processes fall
back at once instead of recompiling on every start (`ganctl ops build` retries).
Lock: builds are serialised by an flock()ed file: the kernel drops the lock when its holder dies, so a killed build
never leaves a stale lock; the lock file names the holder's pid for the wait message, and waiting has a timeout
($GANCTL_OPS_LOCK_TIMEOUT, default 900 s) after which we fall back instead of hanging.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import socket
import sys
import time
import warnings
from pathlib import Path

import torch

log = logging.getLogger("ganctl.ops")

OPS = ("bias_act", "upfirdn2d", "filtered_lrelu")
CPU_SOURCES = ("ops_registration.cpp", "bias_act_cpu.cpp", "upfirdn2d_cpu.cpp", "filtered_lrelu_cpu.cpp")
CUDA_SOURCES = ("ops_cuda.cpp", "bias_act_cuda.cu", "upfirdn2d_cuda.cu", "filtered_lrelu_cuda.cu")
HEADERS = ("ganctl_ops.h", "kernels.h", "cuda_types.cuh")
# -fopenmp: at::parallel_for's OpenMP pragmas live in headers, without it the kernels run serially.
# -fno-trapping-math / -fno-math-errno: lets the compiler if-convert and vectorise the activation selects (e.g.
# lrelu's x * alpha branch); no IEEE semantics that the ops rely on change. -march=native: the cache key includes
# the CPU's model and flags, so a cache shared between different machines never runs a foreign binary.
CFLAGS = ["-O3", "-fopenmp", "-fno-trapping-math", "-fno-math-errno", "-march=native"]
LDFLAGS = ["-fopenmp"]
CUDA_CFLAGS = ["-O3", "--use_fast_math"]
# CPU kernels skip half types (rare on CPU, and each dtype adds compile time); the reference covers them.
NATIVE_DTYPES = {"cpu": (torch.float32, torch.float64), "cuda": (torch.float32, torch.float16, torch.bfloat16, torch.float64)}

_state: dict = {"tried": False, "loaded": False, "reason": "not loaded yet", "cpu": False, "cuda": False, "warned": set()}


class BuildError(RuntimeError):
    """The native library cannot be built or loaded here; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------------------------
# where things are


def native_dir() -> Path | None:
    """The native/ source folder: $GANCTL_NATIVE_DIR, else the checkout's native/ next to the package (editable
    installs), else the copy a wheel carries inside the package (ganctl/native, see setup.py)."""
    env = os.environ.get("GANCTL_NATIVE_DIR")
    pkg = Path(__file__).resolve().parents[1]
    for d in ([Path(env)] if env else [pkg.parent / "native", pkg / "native"]):
        if all((d / s).is_file() for s in CPU_SOURCES + HEADERS):
            return d
    return None


def cache_dir() -> Path:
    root = os.environ.get("GANCTL_CACHE")
    if root:
        return Path(root).expanduser() / "ops"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ganctl" / "ops"


def env_mode() -> str:
    mode = os.environ.get("GANCTL_OPS", "auto").strip().lower() or "auto"
    if mode not in ("auto", "native", "ref"):
        from ganctl.errors import UsageError

        raise UsageError(f"environment variable GANCTL_OPS={mode!r}: use auto, native or ref")
    return mode


# ---------------------------------------------------------------------------------------------------------------
# build plan


def cuda_toolkit() -> tuple[bool, str]:
    """Whether to compile the CUDA kernels here, and why (not)."""
    if not torch.cuda.is_available():
        return False, "no CUDA device visible (CPU kernels only)"
    from torch.utils import cpp_extension

    home = cpp_extension.CUDA_HOME
    if not home or not (Path(home) / "bin" / "nvcc").exists():
        return False, "nvcc not found (set CUDA_HOME); CUDA tensors use the reference"
    return True, f"nvcc at {home}"


def _cuda_roots() -> list[Path]:
    """Candidate CUDA toolkit roots; CUDA_HOME may be a prefix (e.g. /usr/local) without headers or libcudart."""
    import shutil

    from torch.utils import cpp_extension

    roots = [cpp_extension.CUDA_HOME, os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        roots.append(str(Path(nvcc).resolve().parents[1]))
    roots += [str(sp / "nvidia" / d.name) for sp in map(Path, sys.path) if (sp / "nvidia").is_dir()
              for d in (sp / "nvidia").iterdir() if d.is_dir()]  # pip wheels: nvidia/cu13/{include,lib}
    return [Path(r) for r in dict.fromkeys(r for r in roots if r)]


def cuda_include_dirs() -> list[str]:
    return [str(r / "include") for r in _cuda_roots() if (r / "include" / "cuda_runtime.h").exists()][:1]


def cuda_link_flags(build_dir: Path) -> list[str]:
    """-L/-rpath flags so that cpp_extension's `-lcudart` resolves. The pip wheels ship only libcudart.so.<major>;
    then a libcudart.so symlink to it is made inside the build folder."""
    for r in _cuda_roots():
        for lib in ("lib64", "lib"):
            if (r / lib / "libcudart.so").exists():
                return [f"-L{r / lib}", f"-Wl,-rpath,{r / lib}"]
    for r in _cuda_roots():
        found = sorted((r / "lib").glob("libcudart.so.*")) if (r / "lib").is_dir() else []
        if found:
            link_dir = build_dir / "cudart"
            link_dir.mkdir(parents=True, exist_ok=True)
            (link_dir / "libcudart.so").unlink(missing_ok=True)
            (link_dir / "libcudart.so").symlink_to(found[0])
            return [f"-L{link_dir}", f"-Wl,-rpath,{found[0].parent}"]
    return []


def gpu_archs() -> list[str]:
    """Architectures to compile for: $TORCH_CUDA_ARCH_LIST if set, else those of the visible GPUs."""
    env = os.environ.get("TORCH_CUDA_ARCH_LIST", "").replace(",", ";").replace(" ", ";")
    if env.strip(";"):
        return sorted(a for a in env.split(";") if a)
    return sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})


def _cpu_signature() -> str:
    """Model name + feature flags of this CPU (hashed), since the CPU kernels are built with -march=native."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return hashlib.sha256("\n".join(sorted(set(lines))).encode()).hexdigest()[:16]
    except OSError:
        return platform.processor() or "unknown"


def build_plan(with_cuda: bool, src: Path) -> dict:
    sources = [src / s for s in CPU_SOURCES + (CUDA_SOURCES if with_cuda else ())]
    h = hashlib.sha256()
    for p in sources + [src / s for s in HEADERS]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    key = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda if with_cuda else None,
        "archs": gpu_archs() if with_cuda else None,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_signature(),
        "flags": [CFLAGS, LDFLAGS, CUDA_CFLAGS if with_cuda else None],
    }
    h.update(json.dumps(key, sort_keys=True).encode())
    name = f"ganctl_ops_{'cuda' if with_cuda else 'cpu'}_{h.hexdigest()[:16]}"
    return {"name": name, "sources": [str(p) for p in sources], "key": key, "dir": cache_dir() / name}


# ---------------------------------------------------------------------------------------------------------------
# lock


class BuildLock:
    """Exclusive build lock: flock() where available (released by the kernel if the holder dies), else an
    O_EXCL pid file whose holder is checked for liveness. Gives up after `timeout` seconds."""

    def __init__(self, path: Path, timeout: float):
        self.path, self.timeout, self.fd = path, timeout, None

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline, told = time.monotonic() + self.timeout, False
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        while True:
            if self._try_acquire():
                os.ftruncate(self.fd, 0)
                os.write(self.fd, me.encode())
                return self
            if time.monotonic() > deadline:
                raise BuildError(f"timed out after {self.timeout:.0f} s waiting for the build lock {self.path} "
                                 f"(held by {self._holder()}); set GANCTL_OPS_LOCK_TIMEOUT to wait longer")
            if not told:
                log.warning("ganctl.ops: waiting for another build of the native ops (%s)", self._holder())
                told = True
            time.sleep(0.5)

    def _try_acquire(self) -> bool:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): pid file
            return self._try_pidfile()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:  # filesystem without flock support (some network mounts)
            os.close(fd)
            return self._try_pidfile()
        self.fd = fd
        return True

    def _try_pidfile(self) -> bool:
        pid_path = self.path.with_suffix(".pid")
        try:
            self.fd = os.open(pid_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            self._pid_path = pid_path
            return True
        except FileExistsError:
            try:
                info = json.loads(pid_path.read_text())
                alive = info.get("host") != socket.gethostname() or _pid_alive(int(info["pid"]))
            except (OSError, ValueError, KeyError):
                alive = time.time() - pid_path.stat().st_mtime < 5  # being written right now
            if not alive:
                log.warning("ganctl.ops: removing stale build lock %s (%s)", pid_path, info)
                pid_path.unlink(missing_ok=True)
            return False

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if getattr(self, "_pid_path", None):
            self._pid_path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------------------------------------------------------
# build + load


def _library_path(plan: dict) -> Path:
    # cpp_extension's LIB_EXT, without importing cpp_extension (its import logs a CUDA warning on CPU machines)
    return plan["dir"] / (plan["name"] + (".pyd" if sys.platform == "win32" else ".so"))


def _compile(plan: dict, with_cuda: bool, verbose: bool) -> Path:
    from torch.utils import cpp_extension

    cuda_ldflags, cuda_includes, env_arch = [], [], None
    if with_cuda:
        cuda_ldflags, cuda_includes = cuda_link_flags(plan["dir"]), cuda_include_dirs()
        env_arch = os.environ.get("TORCH_CUDA_ARCH_LIST")
        os.environ["TORCH_CUDA_ARCH_LIST"] = ";".join(plan["key"]["archs"])
    # torch < 2.14 guards its build folder with a lock file that a killed build leaves behind; we hold our own lock,
    # so whatever is there is stale.
    (plan["dir"] / "lock").unlink(missing_ok=True)
    try:
        cpp_extension.load(
            name=plan["name"], sources=plan["sources"], build_directory=str(plan["dir"]),
            extra_cflags=CFLAGS, extra_cuda_cflags=CUDA_CFLAGS if with_cuda else None,
            extra_ldflags=LDFLAGS + cuda_ldflags, extra_include_paths=cuda_includes, with_cuda=with_cuda,
            is_python_module=False, verbose=verbose,
        )
    finally:
        if with_cuda:
            if env_arch is None:
                os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
            else:
                os.environ["TORCH_CUDA_ARCH_LIST"] = env_arch
    return _library_path(plan)


def _has_kernel(op: str, key: str) -> bool:
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(op, key)
    except RuntimeError:  # the operator itself is not registered
        return False


def _register_loaded(with_cuda: bool) -> None:
    import ganctl.ops.native  # noqa: F401  (autograd + fake registrations; needs the schemas just loaded)

    _state.update(loaded=True, cpu=_has_kernel("ganctl::upfirdn2d", "CPU"), cuda=_has_kernel("ganctl::upfirdn2d", "CUDA"))


def load(force: bool = False, verbose: bool = False) -> dict:
    """Load (building if needed) the native library; returns status(). Raises BuildError when impossible."""
    if _state["loaded"]:
        return status()
    _state["tried"] = True
    try:
        _load(force, verbose)
    except BuildError as e:
        _state["reason"] = str(e)
        raise
    return status()


def _load(force: bool, verbose: bool) -> None:
    if _has_kernel("ganctl::upfirdn2d", "CPU"):
        _register_loaded(False)  # loaded earlier in this process (e.g. by a test fixture)
        _state["reason"] = "native library already loaded"
        return
    src = native_dir()
    if src is None:
        raise BuildError("native sources not found (expected native/ next to the ganctl package, or $GANCTL_NATIVE_DIR)")
    with_cuda, cuda_why = cuda_toolkit()
    plan = build_plan(with_cuda, src)
    d = plan["dir"]
    done, failed = d / "done.json", d / "failed.json"
    if not force and failed.exists() and not done.exists():
        raise BuildError(f"an earlier build failed (log: {failed}); run `ganctl ops build` to retry")
    if not done.exists() or force:
        timeout = float(os.environ.get("GANCTL_OPS_LOCK_TIMEOUT", "900"))
        with BuildLock(cache_dir() / f"{plan['name']}.lock", timeout):
            if force or not done.exists():  # someone else may have built it while we waited
                from torch.utils import cpp_extension

                try:
                    cpp_extension.verify_ninja_availability()
                except RuntimeError:
                    raise BuildError("ninja is not installed (`pip install ninja`); using the reference ops") from None
                d.mkdir(parents=True, exist_ok=True)
                done.unlink(missing_ok=True)
                what = "CPU + CUDA" if with_cuda else "CPU"
                log.warning("ganctl.ops: building the native %s ops once into %s (about a minute)...", what, d)
                t0 = time.time()
                try:
                    lib = _compile(plan, with_cuda, verbose)
                except Exception as e:  # compiler errors arrive as RuntimeError/OSError/CalledProcessError
                    failed.write_text(json.dumps({"error": str(e), "key": plan["key"], "time": time.time()}, indent=1))
                    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    raise BuildError(f"building the native ops failed: {first} (full log: {failed})") from None
                failed.unlink(missing_ok=True)
                done.write_text(json.dumps({"library": lib.name, "key": plan["key"], "seconds": round(time.time() - t0, 1)}))
                _register_loaded(with_cuda)
                _state["reason"] = f"built in {time.time() - t0:.0f} s; {cuda_why}"
                return
    try:
        torch.ops.load_library(str(_library_path(plan)))
    except OSError as e:
        raise BuildError(f"loading the cached native library failed: {e}; run `ganctl ops build --force`") from None
    _register_loaded(with_cuda)
    _state["reason"] = f"loaded from cache; {cuda_why}"


def _warn_once(key: str, msg: str) -> None:
    if key not in _state["warned"]:
        _state["warned"].add(key)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)


def use_native(op: str, x: torch.Tensor, required: bool = False) -> bool:
    """Decide native vs reference for one call of `op` on x (impl='native' when required, else 'auto')."""
    if not required:
        mode = env_mode()
        if mode == "ref":
            return False
        required = mode == "native"
    if not _state["loaded"]:
        if (_state["tried"] or torch.compiler.is_compiling()) and not required:
            return False  # never build while torch.compile traces: load first (e.g. ganctl.ops.status(build=True))
        try:
            load()
        except BuildError as e:
            if required:
                raise
            _warn_once("build", f"ganctl.ops: native ops unavailable, using the slower PyTorch reference: {e}. "
                                f"Set GANCTL_OPS=ref to silence this.")
            return False
    dev = x.device.type
    if (dev == "cpu" and _state["cpu"]) or (dev == "cuda" and _state["cuda"]):
        if x.dtype in NATIVE_DTYPES[dev]:
            return True
        why = f"the native {dev} kernels do not take {x.dtype}"
    else:
        why = f"the native library has no {dev} kernels ({_state['reason']})"
    if required:
        raise BuildError(f"ganctl.ops.{op}: impl='native' impossible: {why}")
    _warn_once(f"{dev}:{x.dtype}", f"ganctl.ops: {why}; using the PyTorch reference there")
    return False


def status(build: bool = False) -> dict:
    """Per op: {'active', 'reason', 'cpu', 'cuda', 'cache_dir'} for `ganctl doctor` / `ganctl ops status`."""
    mode = env_mode()
    if not _state["loaded"] and mode != "ref" and (build or _has_cached_build()):
        try:
            load()  # with a cached build this only loads it (about a second), so the answer is exact
        except BuildError:
            pass
    if mode == "ref":
        active, reason = "ref", "GANCTL_OPS=ref"
    elif _state["loaded"]:
        active, reason = "native", _state["reason"]
    else:
        active, reason = "ref", (_state["reason"] if _state["tried"] else _cached_hint())
    info = {"active": active, "reason": reason, "cpu": bool(_state["cpu"]), "cuda": bool(_state["cuda"]),
            "cache_dir": str(cache_dir())}
    return {op: dict(info) for op in OPS}


def _has_cached_build() -> bool:
    src = native_dir()
    return src is not None and (build_plan(cuda_toolkit()[0], src)["dir"] / "done.json").exists()


def _cached_hint() -> str:
    """Without loading anything: say whether a cached build exists for this machine."""
    src = native_dir()
    if src is None:
        return "native sources not found"
    plan = build_plan(cuda_toolkit()[0], src)
    if (plan["dir"] / "done.json").exists():
        return f"not loaded yet (cached build {plan['name']} will be used on first call)"
    if (plan["dir"] / "failed.json").exists():
        return f"an earlier build failed (log: {plan['dir'] / 'failed.json'}); run `ganctl ops build`"
    return "not built yet (builds on first use, or run `ganctl ops build`)"
