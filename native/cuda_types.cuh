// Element types of the CUDA kernels without torch headers: load to the accumulation type (fp32, or fp64 for
// double), store back with round-to-nearest, 16-byte vectors of elements, and a dtype switch that instantiates a
// kernel per element type. Also the launch / shared-memory macros that let the same .cu source compile with nvcc
// and, for the CPU tests, with a host compiler plus cuda_emulation.h.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#if !defined(__CUDACC__)
#include "cuda_emulation.h"
#endif

#include "ganctl_ops.h"

// GANCTL_LAUNCH(grid, block, smem, stream, kernel<...>)(args...): `<<<...>>>` under nvcc; the emulator's launch
// otherwise (g++ cannot parse `<<<`). The kernel comes last so template arguments with commas need no parentheses.
// GANCTL_LAST_ERROR(): the launch error, as cudaGetLastError() reports it.
// GANCTL_DYNAMIC_SMEM(type, name): `type* name` pointing at the block's dynamic shared memory (one untyped extern
// array, so kernels of different element types do not declare conflicting `extern __shared__` arrays).
#if defined(__CUDACC__)
#define GANCTL_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<(grid), (block), (smem), (stream)>>>
#define GANCTL_LAST_ERROR() cudaGetLastError()
#define GANCTL_DYNAMIC_SMEM(type, name)                                 \
  extern __shared__ __align__(16) unsigned char ganctl_dynamic_smem_[]; \
  type* name = reinterpret_cast<type*>(ganctl_dynamic_smem_)
#else
#define GANCTL_LAUNCH(grid, block, smem, stream, ...) \
  ((void)(stream), ::ganctl::emu::make_launch((grid), (block), (smem), __VA_ARGS__))
#define GANCTL_LAST_ERROR() ::ganctl::emu::take_last_error()
#define GANCTL_DYNAMIC_SMEM(type, name) type* name = reinterpret_cast<type*>(::ganctl::emu::dynamic_smem())
#endif

// GANCTL_EMU_CHECK(cond): an index invariant the kernel relies on (e.g. "stays inside the shared tile"). Checked
// only by the emulator (a failure makes the launch report cudaErrorAssert); compiled out under nvcc.
#if defined(__CUDACC__)
#define GANCTL_EMU_CHECK(cond) ((void)0)
#else
#define GANCTL_EMU_CHECK(cond) ::ganctl::emu::check(cond)
#endif

namespace ganctl {

template <typename T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };

__device__ __forceinline__ float load_acc(const float* p) { return *p; }
__device__ __forceinline__ double load_acc(const double* p) { return *p; }
__device__ __forceinline__ float load_acc(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float load_acc(const __nv_bfloat16* p) { return __bfloat162float(*p); }

__device__ __forceinline__ void store_acc(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_acc(double* p, double v) { *p = v; }
__device__ __forceinline__ void store_acc(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store_acc(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// N elements as one aligned aggregate: a load or store of a Vec through a 16-byte-aligned pointer compiles to a
// single 128-bit memory instruction (LDG.128 / STG.128), the widest a thread can issue.
template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

// Elements per 16-byte vector: 4 floats, 8 halves / bfloat16s, 2 doubles.
template <typename T>
constexpr int kVec16 = int(16 / sizeof(T));

// Calls f((T*)nullptr) with T the element type of dt.
template <typename F>
void dispatch_dtype(DType dt, F&& f) {
  switch (dt) {
    case kF32: f(static_cast<float*>(nullptr)); break;
    case kF16: f(static_cast<__half*>(nullptr)); break;
    case kBF16: f(static_cast<__nv_bfloat16*>(nullptr)); break;
    case kF64: f(static_cast<double*>(nullptr)); break;
  }
}

}  // namespace ganctl
