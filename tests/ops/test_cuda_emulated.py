"""The CUDA kernels (native/*.cu) run on the CPU through native/cuda_emulation.h, checked against ganctl.ops.reference.

The real .cu sources are compiled by the host C++ compiler (no nvcc, no GPU) together with
tests/ops/emulated_launchers.cpp into a small shared library (cached under the temp dir, keyed by the sources' hash)
that ctypes loads. Each kernel launch then runs its blocks one by one, each on blockDim real threads with real
barriers, so index, tiling, shared-memory and synchronisation mistakes show up here as wrong numbers or as launch
errors (the kernels' GANCTL_EMU_CHECK index invariants, misaligned vector loads, divergent __syncthreads). What
emulation cannot show: speed, the GPU's memory model beyond __syncthreads, and the resource limits nvcc decides
(registers, static shared memory; tests/ops/test_nvcc_compile.py compiles for sm_90).

Skipped (with the reason) when no C++ compiler or no CUDA headers are found (cuda_fp16.h and the crt/ and nv/ headers
it includes: a CUDA toolkit; the pip wheel nvidia/cu13 alone lacks crt/ and nv/).
The tensor preparation mirrors native/ops_cuda.cpp: the same launcher arguments the GPU build passes.
"""

from __future__ import annotations

import ctypes
import math
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from ganctl.ops import reference as ref

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
WRAPPER = Path(__file__).resolve().parent / "emulated_launchers.cpp"
SOURCES = [NATIVE / "bias_act_cuda.cu", NATIVE / "upfirdn2d_cuda.cu", NATIVE / "filtered_lrelu_cuda.cu", WRAPPER]
HEADERS = [NATIVE / n for n in ("ganctl_ops.h", "cuda_types.cuh", "cuda_emulation.h")]
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
# GANCTL_MAX_GRID_Z=4: the tiled upfirdn2d kernel's loop over planes beyond gridDim.z (65535 on the GPU) runs here
# with a few planes. GANCTL_TILE_SMALL_PLANES=1: small planes take the tiled kernel too (the GPU build sends planes
# under half a tile to the general kernel), so its edge cases are tested with small, fast shapes.
FLAGS = ["-std=c++20", "-O1", "-fPIC", "-pthread", "-DGANCTL_MAX_GRID_Z=4", "-DGANCTL_TILE_SMALL_PLANES=1"]

DT = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2, torch.float64: 3}
ACTS = list(ref.ACTIVATIONS)


def cuda_include_dirs() -> list[str]:
    """Include folders that together hold the CUDA headers the emulated build reads: cuda_fp16.h / cuda_bf16.h /
    cuda_runtime_api.h and what they include from crt/ and nv/. A CUDA toolkit's include/ has all of them; pip
    wheels split them (nvidia/cu13 lacks crt/ and nv/). [] if any is missing."""
    cands = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", ""), "/usr/local/cuda",
             *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]
    cands = [Path(c) / "include" for c in cands if c]
    for sp in sys.path:
        cands += sorted(map(Path, glob.glob(str(Path(sp) / "nvidia" / "*" / "include"))), reverse=True)
    found = []
    for header in ("cuda_fp16.h", "cuda_bf16.h", "cuda_runtime_api.h", "crt/host_defines.h", "nv/target"):
        d = next((c for c in cands if (c / header).is_file()), None)
        if d is None:
            return []
        found.append(str(d))
    return list(dict.fromkeys(found))


INCLUDES = cuda_include_dirs()
pytestmark = pytest.mark.skipif(CXX is None or not INCLUDES,
                                reason="needs a C++ compiler and the CUDA headers cuda_fp16.h, crt/, nv/ "
                                       "(a CUDA toolkit)")


@pytest.fixture(scope="module")
def emu():
    """Build (or reuse) the emulated library: the sources compiled two at a time, ~25 s on 2 cores."""
    h = hashlib.sha256()
    for p in SOURCES + HEADERS:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(" ".join([CXX, *INCLUDES, *FLAGS]).encode())
    out_dir = Path(tempfile.gettempdir()) / "ganctl_cuda_emulation" / h.hexdigest()[:16]
    lib = out_dir / "libganctl_emu.so"
    if not lib.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        inc = [f"-I{NATIVE}"] + [a for d in INCLUDES for a in ("-isystem", d)]

        def compile_one(src: Path) -> Path:
            obj = out_dir / f"{src.name}.{os.getpid()}.o"
            cmd = [CXX, *FLAGS, *inc, "-c", "-x", "c++", str(src), "-o", str(obj)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            assert r.returncode == 0, f"{src.name} does not compile with the emulator:\n{r.stderr[-4000:]}"
            return obj

        with ThreadPoolExecutor(2) as pool:
            objs = list(pool.map(compile_one, SOURCES))
        tmp = out_dir / f"lib.{os.getpid()}.so"
        cmd = [CXX, "-shared", "-pthread", *map(str, objs), "-o", str(tmp)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-4000:]
        os.replace(tmp, lib)  # atomic: a concurrent run sees a whole library or none
        for o in objs:
            o.unlink()
    so = ctypes.CDLL(str(lib))
    vp, i64, f64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    so.emu_bias_act.argtypes = [i32, i32, i32, vp, vp, vp, vp, vp, i64, i64, i64, f64, f64, f64]
    so.emu_upfirdn2d.argtypes = [i32, vp, vp, vp, i64, ctypes.POINTER(i32), i32, f64]
    so.emu_filtered_lrelu.argtypes = [i32, vp, vp, vp, vp, vp, vp, vp, i64, i32, ctypes.POINTER(i32),
                                      ctypes.POINTER(f64)]
    return so


def ptr(t: torch.Tensor | None):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


# ---------------------------------------------------------------------------------------------------------------
# bias_act


def in_layout_of(t: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    if t.stride() == out.stride():
        return t
    r = torch.empty_like(out)
    r.copy_(t)
    return r


def emu_bias_act(lib, x, b, dim, act, alpha, gain, clamp, order=0, dy=None, y=None):
    """The launcher call of ops_cuda.cpp's bias_act_any (clamp < 0: no clamp)."""
    out = torch.empty_like(x)
    xx = in_layout_of(x, out)
    dy = in_layout_of(dy.to(x.dtype), out) if dy is not None else None
    y = in_layout_of(y.to(x.dtype), out) if (y is not None and clamp >= 0) else None
    inner = size = 1
    if b is not None:
        inner, size = max(xx.stride(dim), 1), xx.shape[dim]
    err = lib.emu_bias_act(DT[x.dtype], ACTS.index(act), order, ptr(out), ptr(xx), ptr(b), ptr(dy), ptr(y),
                           x.numel(), inner, size, alpha, gain, clamp)
    assert err == 0, f"launch error {err}"
    return out


def act_derivative(act, v, alpha, order):
    """f^(order)(v) in float64 by autograd of the reference activation."""
    v = v.detach().double().requires_grad_(True)
    f = ref.ACTIVATIONS[act].func(v, alpha)
    if order == 0:
        return f.detach()
    (d1,) = torch.autograd.grad(f.sum(), v, create_graph=True)
    if order == 1:
        return d1.detach()
    if not d1.requires_grad:  # piecewise-linear activations: f'' == 0
        return torch.zeros_like(v)
    (d2,) = torch.autograd.grad(d1.sum(), v, allow_unused=True)
    return torch.zeros_like(v) if d2 is None else d2


TOL = {torch.float32: 2e-6, torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float64: 1e-12}


def close(actual, expected, dtype, what):
    scale = max(1.0, expected.abs().max().item())
    tol = TOL[dtype]
    torch.testing.assert_close(actual.double(), expected, atol=tol * scale, rtol=tol, msg=lambda m: f"{what}: {m}")


def bias_act_cases(dtype):
    """(name, x, b, dim): the vector path (aligned NCHW, numel % width != 0 for a scalar tail, several blocks), the
    scalar path (channels-last bias: inner 1; a misaligned view; inner not a multiple of the width) and no bias."""
    g = torch.Generator().manual_seed(DT[dtype])
    rnd = lambda *s: (torch.randn(*s, generator=g) * 2).to(dtype)  # noqa: E731
    x = rnd(3, 16, 10, 12)  # inner 120 for dim 1; 5760 elements: 6 blocks of 256 float4s, 23 of 256 scalars
    yield "nchw", x, rnd(16), 1
    yield "channels_last", x.contiguous(memory_format=torch.channels_last), rnd(16), 1
    yield "misaligned", torch.cat([rnd(1), x.flatten()])[1:].view_as(x), rnd(16), 1
    yield "dim2_inner12", x, rnd(10), 2  # vector path for fp32 / fp64, scalar for 8-wide fp16 / bf16
    yield "dim3_inner1", rnd(2, 3, 4, 5), rnd(5), 3
    yield "dim0", rnd(2, 3, 4, 4), rnd(2), 0  # inner 48: vector path for every width
    yield "no_bias_tail", rnd(5, 7, 3), None, 1
    yield "batch1_one_element", rnd(1, 1), rnd(1), 1


@pytest.mark.parametrize("dtype", list(DT))
def test_bias_act_emulated(emu, dtype):
    """Every activation x order 0/1/2 x clamp on/off on every layout case in fp32; the other element types on the
    cases that pick the vector path, the scalar path (misaligned, inner not a multiple of 8) and the tail."""
    keep = None if dtype == torch.float32 else {"nchw", "misaligned", "dim2_inner12", "no_bias_tail"}
    for name, x, b, dim in bias_act_cases(dtype):
        if keep is not None and name not in keep:
            continue
        bshape = [-1 if i == dim else 1 for i in range(x.ndim)]
        if b is not None:  # keep x + b off the kinks at 0 (relu, lrelu, elu, selu): one-sided derivatives differ
            x = torch.where(x.double() + b.double().reshape(bshape) == 0, x + 0.5, x)
        for act in ACTS:
            spec = ref.ACTIVATIONS[act]
            alpha, gain = spec.def_alpha, spec.def_gain
            for clamp in (-1.0, 0.9):
                bb = b
                v = x.double() + (0 if bb is None else bb.double().reshape(bshape))
                y = emu_bias_act(emu, x, bb, dim, act, alpha, gain, clamp)
                expect = act_derivative(act, v, alpha, 0) * gain
                if clamp >= 0:
                    expect = expect.clamp(-clamp, clamp)
                close(y, expect, dtype, f"{name} {act} clamp={clamp} order 0")
                dy = torch.randn(x.shape, generator=torch.Generator().manual_seed(7)).to(dtype)
                # The kernels compare |y| < clamp in the accumulation type (fp32, fp64 for double), as now.
                acc = torch.float64 if dtype == torch.float64 else torch.float32
                mask = (y.to(acc).abs() < torch.tensor(clamp, dtype=acc)) if clamp >= 0 else torch.ones_like(v).bool()
                for order in (1, 2):
                    out = emu_bias_act(emu, x, bb, dim, act, alpha, gain, clamp, order, dy, y)
                    expect = dy.double() * act_derivative(act, v, alpha, order) * gain * mask
                    close(out, expect, dtype, f"{name} {act} clamp={clamp} order {order}")
                    assert out.stride() == x.stride()


def test_bias_act_emulated_alpha_and_gain(emu):
    """Non-default alpha and gain reach the kernel (lrelu slope, elu scale)."""
    x = torch.randn(2, 8, 5, 4)
    b = torch.randn(8)
    for act, alpha, gain in (("lrelu", 0.05, 3.0), ("elu", 0.5, 0.7)):
        y = emu_bias_act(emu, x, b, 1, act, alpha, gain, -1.0)
        close(y, ref.bias_act_ref(x.double(), b.double(), 1, act, alpha, gain), torch.float32, act)


# ---------------------------------------------------------------------------------------------------------------
# upfirdn2d


def emu_upfirdn2d(lib, x, f, up, down, padding, flip, gain):
    """The launcher call of ops_cuda.cpp's upfirdn2d_cuda (x NCHW-contiguous, 2-D float32 filter)."""
    upx, upy = ref.as_pair(up, "up")
    downx, downy = ref.as_pair(down, "down")
    px0, px1, py0, py1 = ref.as_padding(padding)
    x = x.contiguous()
    f = f.float().contiguous()
    fh, fw = f.shape
    H, W = x.shape[2:]
    Ho = (H * upy + py0 + py1 - fh + downy) // downy
    Wo = (W * upx + px0 + px1 - fw + downx) // downx
    y = torch.full((x.shape[0], x.shape[1], Ho, Wo), float("nan"), dtype=x.dtype)  # NaN: unwritten outputs show
    geom = (ctypes.c_int * 12)(H, W, Ho, Wo, fh, fw, upx, upy, downx, downy, px0, py0)
    err = lib.emu_upfirdn2d(DT[x.dtype], ptr(y), ptr(x), ptr(f), y.numel(), geom, int(flip), gain)
    return err, y


def filt(kind, seed=0):
    g = torch.Generator().manual_seed(seed)
    if kind == "fir4":  # StyleGAN2's [1,3,3,1], normalised outer product
        return ref.setup_filter([1, 3, 3, 1])
    if kind.startswith("rand"):  # non-symmetric 2-D, so a wrong flip or transposition shows
        h, w = map(int, kind[4:].split("x"))
        return torch.rand(h, w, generator=g) + 0.1
    raise ValueError(kind)


# (shape, filter, up, down, padding, flip, gain): tiled cases (4x4 filter, equal factors in {1, 2}) first, then the
# general path. Shapes give several tiles per axis (32 wide, 32/64 tall) with the last one partly outside the output.
UPFIRDN_CASES = [
    ((2, 3, 70, 37), "rand4x4", 1, 1, (1, 2, 1, 2), False, 1.0),    # blur: 2 x 2 tiles (64 tall)
    ((1, 2, 9, 40), "rand4x4", 1, 1, (-1, 2, 3, -2), True, 1.5),    # negative pads crop, flip
    ((2, 2, 21, 19), "fir4", 2, 1, (2, 1), False, 4.0),             # upsample2d: 2 x 1 tiles
    ((1, 3, 33, 17), "rand4x4", 2, 1, (1, 2, 2, 1), True, 1.0),     # odd pads: the other y phase (R = 1)
    ((2, 1, 13, 12), "rand4x4", 2, 1, (-3, 0, 0, -3), False, 1.0),  # crop on the upsampled grid
    ((2, 2, 69, 70), "rand4x4", 1, 2, 1, False, 1.0),               # downsample2d: 2 x 2 tiles (32 tall)
    ((1, 1, 16, 15), "fir4", 1, 2, (2, 1, 1, 2), True, 2.0),
    ((1, 2, 20, 23), "rand4x4", 2, 2, (1, 2, 2, 1), False, 1.0),    # up 2 and down 2
    ((1, 1, 3, 2), "rand4x4", 2, 1, (2, 1), False, 1.0),            # input smaller than the filter
    ((1, 2, 35, 34), "rand3x3", 1, 1, (1, 1, 0, 2), True, 1.0),     # 3x3 and 2x2 specialisations
    ((1, 2, 17, 18), "rand3x3", 1, 2, (1, 1), False, 1.0),
    ((1, 2, 16, 17), "rand2x2", 2, 1, (0, 1, 1, 0), False, 4.0),
    ((2, 1, 20, 21), "rand2x2", 1, 2, 0, True, 1.0),
    ((1, 1, 15, 12), "rand2x2", 2, 2, (1, 0), False, 1.0),
    ((1, 1, 12, 11), "rand2x2", 1, 1, (1, 0, 0, 1), False, 1.0),
    # general path
    ((2, 2, 11, 9), "rand8x8", 1, 1, (3, 4, 4, 3), False, 1.0),
    ((1, 2, 10, 9), "rand8x8", 2, 2, (4, 3), True, 2.0),
    ((1, 2, 9, 10), "rand3x3", 3, 1, (1, 1, 2, 0), False, 1.0),
    ((1, 1, 19, 17), "rand3x3", 1, 3, (1, 0), False, 1.0),
    ((2, 1, 12, 11), "rand1x4", 2, 1, (2, 1, 0, 0), False, 1.0),    # 1-D filter as 2-D (horizontal pass)
    ((2, 1, 12, 11), "rand4x1", (1, 2), (1, 1), (0, 0, 2, 1), True, 1.0),
    ((1, 2, 13, 12), "rand4x4", (2, 1), (1, 2), (2, 1, 1, 1), False, 1.0),  # unequal x / y factors
    ((1, 1, 14, 10), "rand5x3", 1, 1, (-2, -1, 0, 3), False, 1.0),
]


def case_id(c):
    shape, f, up, down, pad, flip, gain = c
    return f"{'x'.join(map(str, shape))}-{f}-up{up}-down{down}-pad{pad}-flip{int(flip)}"


@pytest.mark.parametrize("case", UPFIRDN_CASES, ids=case_id)
def test_upfirdn2d_emulated_fp32(emu, case):
    shape, fk, up, down, pad, flip, gain = case
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    f = filt(fk)
    err, y = emu_upfirdn2d(emu, x, f, up, down, pad, flip, gain)
    assert err == 0, f"launch error {err}"
    expect = ref.upfirdn2d_ref(x.double(), f, up, down, pad, flip, gain)
    assert y.shape == expect.shape
    close(y, expect, torch.float32, case_id(case))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_upfirdn2d_emulated_other_dtypes(emu, dtype):
    """Every tiled specialisation and the general path in each element type (fp32 accumulation; fp64 for double)."""
    for case in [UPFIRDN_CASES[i] for i in (0, 3, 5, 7, 9, 13, 15)]:
        shape, fk, up, down, pad, flip, gain = case
        x = torch.randn(shape, generator=torch.Generator().manual_seed(2)).to(dtype)
        f = filt(fk)
        err, y = emu_upfirdn2d(emu, x, f, up, down, pad, flip, gain)
        assert err == 0 and y.dtype == dtype
        close(y, ref.upfirdn2d_ref(x.double(), f, up, down, pad, flip, gain), dtype, case_id(case))


def test_upfirdn2d_emulated_tiled_sweep(emu):
    """Random geometries of the tiled specialisations (2x2 / 3x3 / 4x4 filters, up/down 1 or 2): pads from crop to
    wide, sizes from smaller than the filter to two tiles, both flips; each must match the reference."""
    g = torch.Generator().manual_seed(123)
    ri = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))  # noqa: E731
    done = 0
    while done < 30:
        up, down = ri(1, 2), ri(1, 2)
        k = (2, 4)[ri(0, 1)] if up == 2 else ri(2, 4)
        f = filt(f"rand{k}x{k}", seed=done)
        H, W = ri(1, 40), ri(1, 40)
        pad = tuple(ri(-3, 4) for _ in range(4))
        Ho = (H * up + pad[2] + pad[3] - k + down) // down
        Wo = (W * up + pad[0] + pad[1] - k + down) // down
        if Ho < 1 or Wo < 1:
            continue
        flip = bool(ri(0, 1))
        x = torch.randn(1, 2, H, W, generator=g)
        err, y = emu_upfirdn2d(emu, x, f, up, down, pad, flip, 1.0)
        assert err == 0
        expect = ref.upfirdn2d_ref(x.double(), f, up, down, pad, flip)
        close(y, expect, torch.float32, f"{H}x{W} k{k} up{up} down{down} {pad}")
        done += 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_upfirdn2d_emulated_half_pairs(emu, dtype):
    """2-byte types stage input column pairs with one 4-byte load when W is even and x 4-byte aligned: both parities
    of the window origin (pads), and a misaligned x (odd storage offset), which must take the scalar loads (the
    emulator fails a launch that makes a misaligned vector load)."""
    f = filt("rand4x4")
    base = torch.randn(1 + 2 * 3 * 14 * 36, generator=torch.Generator().manual_seed(3)).to(dtype)
    aligned = base[: 2 * 3 * 14 * 36].view(2, 3, 14, 36)
    misaligned = base[1:].view(2, 3, 14, 36)
    assert misaligned.data_ptr() % 4 == 2
    for x in (aligned, misaligned):
        for up, down, pad in ((1, 1, (1, 2, 2, 1)), (1, 1, (2, 1, 1, 2)), (2, 1, (2, 1)), (1, 2, (1, 2, 1, 1))):
            err, y = emu_upfirdn2d(emu, x, f, up, down, pad, False, 1.0)
            assert err == 0, f"launch error {err}"
            close(y, ref.upfirdn2d_ref(x.double(), f, up, down, pad), dtype, f"up{up} down{down} pad{pad}")


def test_upfirdn2d_emulated_many_planes(emu):
    """More (n, c) planes than gridDim.z (built with a limit of 4): each block loops over planes, re-staging its
    window after a barrier."""
    x = torch.randn(3, 5, 6, 5)
    f = filt("rand4x4")
    for up, down, pad in ((1, 1, 2), (2, 1, (2, 1)), (1, 2, 1)):
        err, y = emu_upfirdn2d(emu, x, f, up, down, pad, False, 1.0)
        assert err == 0
        close(y, ref.upfirdn2d_ref(x.double(), f, up, down, pad), torch.float32, f"up{up} down{down}")


def test_upfirdn2d_emulated_filter_size_limit(emu):
    """ops_cuda.cpp allows up to 12288 taps: exactly the 48 KiB of dynamic shared memory the general kernel may use
    without opting in; one row more is a launch error, as it would be on the GPU."""
    x = torch.randn(1, 1, 2, 3)
    f = torch.rand(96, 128)
    err, y = emu_upfirdn2d(emu, x, f, 1, 1, (64, 64, 48, 48), False, 1.0)
    assert err == 0
    close(y, ref.upfirdn2d_ref(x.double(), f, 1, 1, (64, 64, 48, 48)), torch.float32, "96x128 filter")
    err, _ = emu_upfirdn2d(emu, x, torch.rand(97, 128), 1, 1, (64, 64, 48, 48), False, 1.0)
    assert err != 0


# ---------------------------------------------------------------------------------------------------------------
# filtered_lrelu


def emu_filtered_lrelu(lib, x, fu, fd, b, si, up, down, pu, pd, gain_u, gain_d, gain, slope, clamp, flip):
    """The launcher call of ops_cuda.cpp's filtered_lrelu_cuda: (y, mask; None in read mode). fu/fd: 1-D or 2-D."""
    N, C, H, W = x.shape
    x = x.contiguous()
    fu, fd = fu.float().contiguous(), fd.float().contiguous()
    (Hi, Wi), (Ho, Wo) = ref.filtered_lrelu_sizes((H, W), fu, fd, up, down, pu, pd)
    y = torch.full((N, C, Ho, Wo), float("nan"), dtype=x.dtype)  # NaN: unwritten outputs show
    mask = None if si is not None else torch.zeros((N, C, Hi, ref.filtered_lrelu_mask_row_bytes(Wi)),
                                                   dtype=torch.uint8)
    if b is not None:
        b = b.to(torch.float64 if x.dtype == torch.float64 else torch.float32).contiguous()
    kh = lambda f: (f.shape[0], f.shape[0]) if f.ndim == 1 else tuple(f.shape)  # noqa: E731
    (kuy, kux), (kdy, kdx) = kh(fu), kh(fd)
    geom = (ctypes.c_int * 19)(H, W, Hi, Wi, Ho, Wo, up, down, pu[0], pu[2], pd[0], pd[2], kux, kuy, kdx, kdy,
                               int(fu.ndim == 1), int(fd.ndim == 1), int(flip))
    gains = (ctypes.c_double * 5)(gain_u, gain_d, gain, slope, clamp)
    err = lib.emu_filtered_lrelu(DT[x.dtype], ptr(y), ptr(mask), ptr(si), ptr(x), ptr(b), ptr(fu), ptr(fd), N * C, C,
                                 geom, gains)
    assert err == 0, f"launch error {err}"
    return y, mask


def _battery():
    from test_filtered_lrelu import BATTERY, battery_inputs

    return BATTERY, battery_inputs


FLRELU_BATTERY, flrelu_inputs = _battery()


def emu_flrelu_forward_backward(lib, case, dtype):
    """Forward (write mode) and the gradient w.r.t. x (read mode, the op's backward as native.py composes it) of the
    emulated kernel, and the reference's, for dy = a fixed random tensor."""
    x, b, fu, fd, kw = flrelu_inputs(case, dtype=dtype, seed=11)
    up, down, flip = kw["up"], kw["down"], kw["flip_filter"]
    pu = ref.as_padding(kw["padding"])
    one = torch.ones(1)
    fu_, fd_ = (one if fu is None else fu), (one if fd is None else fd)
    clamp = -1.0 if kw["clamp"] is None else kw["clamp"]
    y, si = emu_filtered_lrelu(lib, x, fu_, fd_, b, None, up, down, pu, (0, 0, 0, 0), up * up, 1.0, kw["gain"],
                               kw["slope"], clamp, flip)
    xr = x.double().requires_grad_(True)
    want = ref.filtered_lrelu_ref(xr, fu, fd, None if b is None else b.double(), **kw)
    dy = torch.randn(want.shape, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    (gx_want,) = torch.autograd.grad(want, xr, dy)
    hw = lambda f: (f.shape[0], f.shape[0]) if f.ndim == 1 else tuple(f.shape)  # noqa: E731
    mid = ref.filtered_lrelu_sizes(tuple(x.shape[2:]), fu_, fd_, up, down, pu, (0, 0, 0, 0))[0]
    q = ref.upfirdn2d_grad_padding(mid, tuple(want.shape[2:]), hw(fd_), (1, 1), (down, down), (0, 0, 0, 0))
    r = ref.upfirdn2d_grad_padding(tuple(x.shape[2:]), mid, hw(fu_), (up, up), (1, 1), pu)
    gx, none = emu_filtered_lrelu(lib, dy.to(dtype), fd_, fu_, None, si, down, up, q, r, 1.0, up * up, kw["gain"],
                                  kw["slope"], -1.0, not flip)
    assert none is None
    return y, want.detach(), gx, gx_want


@pytest.mark.parametrize("case", FLRELU_BATTERY, ids=[c[0] for c in FLRELU_BATTERY])
def test_filtered_lrelu_emulated_fp32(emu, case):
    """Forward and its gradient (read mode with the forward's 2-bit mask) over the battery of geometries."""
    y, want, gx, gx_want = emu_flrelu_forward_backward(emu, case, torch.float32)
    assert y.shape == want.shape and gx.shape == gx_want.shape
    close(y, want, torch.float32, f"{case[0]} forward")
    close(gx, gx_want, torch.float32, f"{case[0]} grad")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_filtered_lrelu_emulated_other_dtypes(emu, dtype):
    """fp16 / bf16 in and out with fp32 accumulation, fp64 throughout: -t, -r and 2-D geometries. The tolerance
    allows for the input's rounding being amplified by the filters' gain (up to ~4x for up 2 / down 2)."""
    for case in (FLRELU_BATTERY[0], FLRELU_BATTERY[3], FLRELU_BATTERY[6]):
        y, want, gx, gx_want = emu_flrelu_forward_backward(emu, case, dtype)
        assert y.dtype == gx.dtype == dtype
        # the reference ran on the rounded input (flrelu_inputs rounds x, b to dtype before widening)
        factor = 1 if dtype == torch.float64 else 4
        scale = max(1.0, want.abs().max().item())
        tol = TOL[dtype] * factor
        torch.testing.assert_close(y.double(), want, atol=tol * scale, rtol=tol)
        scale = max(1.0, gx_want.abs().max().item())
        torch.testing.assert_close(gx.double(), gx_want, atol=tol * scale, rtol=tol)


def test_filtered_lrelu_emulated_many_planes_and_tiles(emu):
    """More planes than gridDim.z (4 here) and several 32 x 16 tiles per plane (halo, partial last tiles)."""
    case = ("tiles", (2, 3, 40, 37), 2, 2, (5, 4, 5, 4), 12, 12, 0.8, 0.2, math.sqrt(2), True, False)
    y, want, gx, gx_want = emu_flrelu_forward_backward(emu, case, torch.float32)
    close(y, want, torch.float32, "forward")
    close(gx, gx_want, torch.float32, "grad")
