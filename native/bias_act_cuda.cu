// CUDA kernels of ganctl::bias_act and ganctl::bias_act_grad: one elementwise pass, fp32 / fp16 / bf16 / fp64.
//
// Like the CPU kernels they work in the input's own dense layout (NCHW or channels-last): the bias index of memory
// offset o is (o / inner) % size with inner = stride[dim]. Offsets are 32-bit (64-bit integer division is slow on the
// GPU); huge tensors are launched in chunks. No torch headers here: ops_cuda.cpp does the tensor checks and calls
// launch_bias_act.
//
// The op is purely memory-bound (a few flops per element), so what matters is bytes in flight per thread:
// - vector path: each thread moves 16 bytes per operand per step (float4 / 8 halves / 2 doubles, one LDG.128 or
//   STG.128 each) when every operand pointer is 16-byte aligned and, with a bias, `inner` is a multiple of the
//   vector width: then all elements of a vector share one bias index, computed once per vector. A tail of
//   numel % width elements is done scalar by the same launch.
// - scalar path otherwise (channels-last with a bias: inner == 1; misaligned views): one element per step.
// Scalar half loads use 2-byte transactions, which is why NVlabs' fp16 kernel is no faster than its fp32 one
// (FACTS.md); the vector path moves 8 halves per instruction.
#define GANCTL_WITH_CUDA_LAUNCHERS
#include <algorithm>

#include "cuda_types.cuh"

namespace ganctl {
namespace {

template <typename T>
using acc_of = typename AccOf<T>::type;

// The per-element maths shared by both paths; ORDER 0: forward, 1 / 2: gradient (dy, y read only then).
template <int A, int ORDER, typename acc_t>
__device__ __forceinline__ acc_t bias_act_value(acc_t v, acc_t d, acc_t yv, acc_t alpha, acc_t gain, acc_t clamp) {
  if (ORDER == 0) {
    v = act_eval<A, 0, acc_t>(v, alpha) * gain;
    if (clamp >= acc_t(0)) v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
  } else {
    v = d * act_eval<A, ORDER, acc_t>(v, alpha) * gain;
    if (clamp >= acc_t(0) && !(fabs(yv) < clamp)) v = acc_t(0);
  }
  return v;
}

// VEC (16 bytes) elements per thread and step when `vectorized`: the launcher then guarantees 16-byte alignment
// of out/x/dy/y and inner % VEC == 0 (when b != nullptr). Otherwise every element goes through the scalar loop.
// A runtime flag rather than a template parameter: it halves the number of kernel instances (compile time).
template <typename T, int A, int ORDER>
__global__ void __launch_bounds__(256)
    bias_act_kernel(T* __restrict__ out, const T* __restrict__ x, const T* __restrict__ b, const T* __restrict__ dy,
                    const T* __restrict__ y, uint32_t numel, uint32_t inner, uint32_t size, acc_of<T> alpha,
                    acc_of<T> gain, acc_of<T> clamp, bool vectorized) {
  using acc_t = acc_of<T>;
  constexpr int VEC = kVec16<T>;
  using V = Vec<T, VEC>;
  const uint32_t step = blockDim.x * gridDim.x;
  const uint32_t first = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t nvec = vectorized ? numel / VEC : 0;
  const bool use_y = ORDER > 0 && clamp >= acc_t(0);  // y is only passed (non-null) when the forward clamped
  for (uint32_t i = first; i < nvec; i += step) {
    const uint32_t o = i * VEC;
    GANCTL_EMU_CHECK(reinterpret_cast<uintptr_t>(x + o) % 16 == 0 && reinterpret_cast<uintptr_t>(out + o) % 16 == 0 &&
                     (ORDER == 0 || reinterpret_cast<uintptr_t>(dy + o) % 16 == 0));
    // Issue every load before any arithmetic so the 16-byte requests of all operands are in flight together.
    const V xv = *reinterpret_cast<const V*>(x + o);
    V dv, yv;
    if (ORDER > 0) dv = *reinterpret_cast<const V*>(dy + o);
    if (use_y) yv = *reinterpret_cast<const V*>(y + o);
    const acc_t bias = b != nullptr ? load_acc(b + (o / inner) % size) : acc_t(0);
    V r;
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const acc_t d = ORDER > 0 ? load_acc(&dv.v[j]) : acc_t(0);
      const acc_t yy = use_y ? load_acc(&yv.v[j]) : acc_t(0);
      store_acc(&r.v[j], bias_act_value<A, ORDER, acc_t>(load_acc(&xv.v[j]) + bias, d, yy, alpha, gain, clamp));
    }
    *reinterpret_cast<V*>(out + o) = r;
  }
  // Scalar elements: all of them without `vectorized`, else the last numel % VEC.
  for (uint32_t o = nvec * VEC + first; o < numel; o += step) {
    acc_t v = load_acc(x + o);
    if (b != nullptr) v += load_acc(b + (o / inner) % size);
    const acc_t d = ORDER > 0 ? load_acc(dy + o) : acc_t(0);
    const acc_t yy = use_y ? load_acc(y + o) : acc_t(0);
    store_acc(out + o, bias_act_value<A, ORDER, acc_t>(v, d, yy, alpha, gain, clamp));
  }
}

bool aligned16(const void* p) { return p == nullptr || (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace

cudaError_t launch_bias_act(DType dt, int act, int order, void* out, const void* x, const void* b, const void* dy,
                            const void* y, int64_t numel, int64_t inner, int64_t size, double alpha, double gain,
                            double clamp, cudaStream_t stream) {
  // 256 threads: enough warps per block to hide DRAM latency with 16-byte requests, and 8 blocks per SM fit.
  const int threads = 256;
  // Chunks start on a multiple of inner * size, so a chunk-relative offset has the same bias index; with the
  // vector path inner * size is a multiple of the width, so every chunk start keeps the 16-byte alignment.
  const int64_t period = inner * size, limit = int64_t(1) << 31;
  if (period > limit) return cudaErrorInvalidValue;
  const int64_t chunk = (limit / period) * period;
  dispatch_dtype(dt, [&](auto type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    using acc_t = typename AccOf<T>::type;
    constexpr int W = kVec16<T>;
    const bool vec =
        aligned16(out) && aligned16(x) && aligned16(dy) && aligned16(y) && (b == nullptr || inner % W == 0);
    dispatch_act(act, [&](auto act_tag) {
      constexpr int A = decltype(act_tag)::value;
      auto go = [&](auto order_tag) {
        constexpr int ORDER = decltype(order_tag)::value;
        for (int64_t start = 0; start < numel; start += chunk) {
          const int64_t n = std::min(chunk, numel - start);
          // One vector per thread and grid-stride step; the cap only bounds the grid for huge chunks (each
          // thread then loops), it is far above what fills an H100 (132 SMs x 8 blocks).
          const int64_t work = vec ? std::max<int64_t>(n / W, 1) : n;
          const int64_t blocks = std::min<int64_t>((work + threads - 1) / threads, 65535LL * 8);
          GANCTL_LAUNCH((unsigned)blocks, threads, 0, stream, bias_act_kernel<T, A, ORDER>)(
              static_cast<T*>(out) + start, static_cast<const T*>(x) + start, static_cast<const T*>(b),
              dy ? static_cast<const T*>(dy) + start : nullptr, y ? static_cast<const T*>(y) + start : nullptr,
              (uint32_t)n, (uint32_t)inner, (uint32_t)size, acc_t(alpha), acc_t(gain), acc_t(clamp), vec);
        }
      };
      if (order == 0) go(std::integral_constant<int, 0>{});
      else if (order == 1) go(std::integral_constant<int, 1>{});
      else go(std::integral_constant<int, 2>{});
    });
  });
  return GANCTL_LAST_ERROR();
}

}  // namespace ganctl
