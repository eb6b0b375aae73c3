// CUDA kernels of ganctl::bias_act and ganctl::bias_act_grad: one elementwise pass, fp32 / fp16 / bf16 / fp64.
//
// Like the CPU kernels they work in the input's own dense layout (NCHW or channels-last): the bias index of memory
// offset o is (o / inner) % size with inner = stride[dim]. Offsets are 32-bit (64-bit integer division is slow on the
// GPU); huge tensors are launched in chunks. Each thread handles several elements (grid-stride loop). No torch
// headers here: ops_cuda.cpp does the tensor checks and calls launch_bias_act.
#define GANCTL_WITH_CUDA_LAUNCHERS
#include <algorithm>

#include "cuda_types.cuh"

namespace ganctl {
namespace {

template <typename T, int A, int ORDER>
__global__ void bias_act_kernel(T* __restrict__ out, const T* __restrict__ x, const T* __restrict__ b,
                                const T* __restrict__ dy, const T* __restrict__ y, uint32_t numel, uint32_t inner,
                                uint32_t size, typename AccOf<T>::type alpha, typename AccOf<T>::type gain,
                                typename AccOf<T>::type clamp) {
  using acc_t = typename AccOf<T>::type;
  const uint32_t step = blockDim.x * gridDim.x;
  for (uint32_t o = blockIdx.x * blockDim.x + threadIdx.x; o < numel; o += step) {
    acc_t v = load_acc(x + o);
    if (b != nullptr) v += load_acc(b + (o / inner) % size);
    if (ORDER == 0) {
      v = act_eval<A, 0, acc_t>(v, alpha) * gain;
      if (clamp >= acc_t(0)) v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
    } else {
      v = load_acc(dy + o) * act_eval<A, ORDER, acc_t>(v, alpha) * gain;
      if (clamp >= acc_t(0) && !(fabs(load_acc(y + o)) < clamp)) v = acc_t(0);
    }
    store_acc(out + o, v);
  }
}

}  // namespace

cudaError_t launch_bias_act(DType dt, int act, int order, void* out, const void* x, const void* b, const void* dy,
                            const void* y, int64_t numel, int64_t inner, int64_t size, double alpha, double gain,
                            double clamp, cudaStream_t stream) {
  const int threads = 256;
  // Chunks start on a multiple of inner * size, so a chunk-relative offset has the same bias index.
  const int64_t period = inner * size, limit = int64_t(1) << 31;
  if (period > limit) return cudaErrorInvalidValue;
  const int64_t chunk = (limit / period) * period;
  dispatch_dtype(dt, [&](auto type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    using acc_t = typename AccOf<T>::type;
    dispatch_act(act, [&](auto act_tag) {
      constexpr int A = decltype(act_tag)::value;
      auto go = [&](auto order_tag) {
        constexpr int ORDER = decltype(order_tag)::value;
        for (int64_t start = 0; start < numel; start += chunk) {
          const int64_t n = std::min(chunk, numel - start);
          const int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 65535LL * 8);
          bias_act_kernel<T, A, ORDER><<<(unsigned)blocks, threads, 0, stream>>>(
              static_cast<T*>(out) + start, static_cast<const T*>(x) + start, static_cast<const T*>(b),
              dy ? static_cast<const T*>(dy) + start : nullptr, y ? static_cast<const T*>(y) + start : nullptr,
              (uint32_t)n, (uint32_t)inner, (uint32_t)size, acc_t(alpha), acc_t(gain), acc_t(clamp));
        }
      };
      if (order == 0) go(std::integral_constant<int, 0>{});
      else if (order == 1) go(std::integral_constant<int, 1>{});
      else go(std::integral_constant<int, 2>{});
    });
  });
  return cudaGetLastError();
}

}  // namespace ganctl
