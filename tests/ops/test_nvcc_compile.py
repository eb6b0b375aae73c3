"""Compile every CUDA source with nvcc against this torch's headers, so a CUDA compile error cannot land on a
CPU-only CI machine. Skipped when nvcc is absent. Both files compile in parallel for one architecture (sm_90)."""

from __future__ import annotations

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


@pytest.mark.nvcc
@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
def test_cuda_sources_compile(tmp_path):
    from torch.utils import cpp_extension

    native = loader.native_dir()
    assert native is not None
    cuda_home = Path(NVCC).resolve().parents[1]
    includes = []
    for p in cpp_extension.include_paths() + [str(cuda_home / "include")]:
        includes += ["-isystem", p]
    procs = {}
    for name in loader.CUDA_SOURCES:
        if not name.endswith(".cu"):
            continue
        cmd = [NVCC, "-c", str(native / name), "-o", str(tmp_path / (name + ".o")), "-std=c++20", "-Xcompiler", "-fPIC",
               "-gencode", "arch=compute_90,code=sm_90", *cpp_extension.COMMON_NVCC_FLAGS, *loader.CUDA_CFLAGS,
               f"-I{native}", *includes]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert procs, "no .cu sources listed"
    failures = []
    for name, p in procs.items():
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            failures.append(f"{name}:\n{out[-4000:]}")
        else:
            assert (tmp_path / (name + ".o")).stat().st_size > 0
    assert not failures, "\n".join(failures)
