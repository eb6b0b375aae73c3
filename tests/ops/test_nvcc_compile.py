"""Compile the CUDA build's sources on a machine without a GPU, so a CUDA compile error cannot land unnoticed:
each .cu with nvcc (sm_90) and the ATen wrapper ops_cuda.cpp with the host compiler against torch's and CUDA's
headers, all in parallel. Skipped when nvcc or the CUDA headers are absent. The full CUDA link is a slow test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganctl.ops import loader


def find_nvcc() -> str | None:
    from torch.utils import cpp_extension

    if cpp_extension.CUDA_HOME and (Path(cpp_extension.CUDA_HOME) / "bin" / "nvcc").exists():
        return str(Path(cpp_extension.CUDA_HOME) / "bin" / "nvcc")
    return shutil.which("nvcc")


NVCC = find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None or not loader.cuda_include_dirs(), reason="nvcc / CUDA headers not found")


@pytest.mark.nvcc
@needs_nvcc
def test_cuda_sources_compile(tmp_path):
    from torch.utils import cpp_extension

    native = loader.native_dir()
    includes = [f"-I{native}"]
    for p in cpp_extension.include_paths() + loader.cuda_include_dirs():
        includes += ["-isystem", p]
    procs = {}
    for name in loader.CUDA_SOURCES:
        out = str(tmp_path / (name + ".o"))
        if name.endswith(".cu"):
            cmd = [NVCC, "-c", str(native / name), "-o", out, "-std=c++20", "-Xcompiler", "-fPIC",
                   "-gencode", "arch=compute_90,code=sm_90", *cpp_extension.COMMON_NVCC_FLAGS, *loader.CUDA_CFLAGS,
                   *includes]
        else:  # host-side wrapper: -O0 since only the compile errors matter here
            cmd = [os.environ.get("CXX", "c++"), "-c", str(native / name), "-o", out, "-std=c++20", "-fPIC", "-O0",
                   *includes]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failures = []
    for name, p in procs.items():
        log, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            failures.append(f"{name}:\n{log[-4000:]}")
        else:
            assert (tmp_path / (name + ".o")).stat().st_size > 0
    assert not failures, "\n".join(failures)


LINK = """
import os, torch
from ganctl.ops import loader
plan = loader.build_plan(True, loader.native_dir())
plan["dir"].mkdir(parents=True, exist_ok=True)
loader._compile(plan, True, False)
has = torch._C._dispatch_has_kernel_for_dispatch_key
print(has("ganctl::upfirdn2d", "CUDA"), has("ganctl::bias_act_grad", "CUDA"), has("ganctl::bias_act", "CPU"))
"""


@pytest.mark.slow
@pytest.mark.nvcc
@needs_nvcc
def test_full_cuda_build_links_and_registers(tmp_path):
    """The whole CPU + CUDA extension builds, links against libcudart and registers CUDA kernels (no GPU needed)."""
    env = {**os.environ, "GANCTL_CACHE": str(tmp_path), "TORCH_CUDA_ARCH_LIST": "9.0"}
    r = subprocess.run([sys.executable, "-c", LINK], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.split() == ["True", "True", "True"]
