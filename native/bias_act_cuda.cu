// CUDA kernels of ganctl::bias_act and ganctl::bias_act_grad: one elementwise pass, fp32 / fp16 / bf16 / fp64.
//
// Like the CPU kernels they work in the input's own dense layout (NCHW or channels-last): the bias index of memory
// offset o is (o / stride[dim]) % size[dim]. Offsets are 32-bit (64-bit integer division is slow on the GPU); huge
// tensors are launched in chunks. Each thread handles several elements (grid-stride loop).
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "ganctl_ops.h"
#include "kernels.h"

namespace ganctl {
namespace {


template <typename scalar_t, typename acc_t, typename index_t, int A, int ORDER>
__global__ void bias_act_kernel(scalar_t* __restrict__ out, const scalar_t* __restrict__ x,
                                const scalar_t* __restrict__ b, const scalar_t* __restrict__ dy,
                                const scalar_t* __restrict__ y, index_t numel, index_t inner, index_t size, acc_t alpha,
                                acc_t gain, acc_t clamp) {
  const index_t step = (index_t)blockDim.x * gridDim.x;
  for (index_t o = (index_t)blockIdx.x * blockDim.x + threadIdx.x; o < numel; o += step) {
    acc_t v = acc_t(x[o]);
    if (b != nullptr) v += acc_t(b[(o / inner) % size]);
    if (ORDER == 0) {
      v = act_eval<A, 0, acc_t>(v, alpha) * gain;
      if (clamp >= acc_t(0)) v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
    } else {
      v = acc_t(dy[o]) * act_eval<A, ORDER, acc_t>(v, alpha) * gain;
      if (clamp >= acc_t(0) && !(fabs(acc_t(y[o])) < clamp)) v = acc_t(0);
    }
    out[o] = scalar_t(v);
  }
}

at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& out) {
  if (t.strides() == out.strides()) return t;
  at::Tensor r = at::empty_like(out);
  r.copy_(t);
  return r;
}

// Shared launcher for order 0 (forward: dy, y unused) and orders 1, 2 (gradient).
at::Tensor launch(int order, const at::Tensor& x_in, const std::optional<at::Tensor>& b_in, int64_t dim,
                  std::string_view act_name, double alpha, double gain, double clamp, const at::Tensor* dy_in,
                  const at::Tensor* y_in) {
  TORCH_CHECK(x_in.is_cuda() && x_in.is_floating_point(), "ganctl::bias_act: x must be a floating-point CUDA tensor");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const int act = act_from_name(std::string(act_name));
  at::Tensor out = at::empty_like(x_in);
  const at::Tensor x = in_layout_of(x_in, out);
  at::Tensor dy, y, b;
  if (dy_in) dy = in_layout_of(dy_in->to(x.scalar_type()), out);
  if (y_in && clamp >= 0) y = in_layout_of(y_in->to(x.scalar_type()), out);
  int64_t inner = 1, size = 1;
  if (b_in.has_value() && b_in->defined()) {
    TORCH_CHECK(b_in->dim() == 1 && dim >= 0 && dim < x.dim() && b_in->size(0) == x.size(dim),
                "ganctl::bias_act: b must be 1-D with x.shape[dim] elements");
    b = b_in->to(x.device(), x.scalar_type()).contiguous();
    inner = std::max<int64_t>(x.stride(dim), 1);
    size = x.size(dim);
  }
  const int64_t numel = x.numel();
  if (numel == 0) return out;
  const int threads = 256;
  const int64_t period = inner * size, limit = int64_t(1) << 31;
  TORCH_CHECK(period <= limit, "ganctl::bias_act: a single bias period exceeds 2^31 elements");
  const int64_t chunk = (limit / period) * period;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "ganctl_bias_act_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* bp = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    const scalar_t* dyp = dy.defined() ? dy.data_ptr<scalar_t>() : nullptr;
    const scalar_t* yp = y.defined() ? y.data_ptr<scalar_t>() : nullptr;
    dispatch_act(act, [&](auto act_tag) {
      constexpr int A = decltype(act_tag)::value;
      auto go = [&](auto order_tag) {
        constexpr int ORDER = decltype(order_tag)::value;
        // 32-bit offsets: launch in chunks that start on a multiple of inner * size, so the bias index of a
        // chunk-relative offset is the same as that of the absolute one.
        for (int64_t start = 0; start < numel; start += chunk) {
          const int64_t n = std::min(chunk, numel - start);
          const int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 65535LL * 8);
          bias_act_kernel<scalar_t, acc_t, uint32_t, A, ORDER><<<(unsigned)blocks, threads, 0, stream>>>(
              out.data_ptr<scalar_t>() + start, x.data_ptr<scalar_t>() + start, bp, dyp ? dyp + start : nullptr,
              yp ? yp + start : nullptr, (uint32_t)n, (uint32_t)inner, (uint32_t)size, acc_t(alpha), acc_t(gain),
              acc_t(clamp));
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      };
      if (order == 0) go(std::integral_constant<int, 0>{});
      else if (order == 1) go(std::integral_constant<int, 1>{});
      else go(std::integral_constant<int, 2>{});
    });
  });
  return out;
}

}  // namespace

at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim, std::string_view act,
                         double alpha, double gain, double clamp) {
  return launch(0, x, b, dim, act, alpha, gain, clamp, nullptr, nullptr);
}

at::Tensor bias_act_grad_cuda(const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& b,
                              const at::Tensor& y, int64_t dim, std::string_view act, double alpha, double gain,
                              double clamp, int64_t order) {
  TORCH_CHECK(order == 1 || order == 2, "ganctl::bias_act_grad: order must be 1 or 2");
  TORCH_CHECK(dy.sizes() == x.sizes() && y.sizes() == x.sizes(), "ganctl::bias_act_grad: shape mismatch");
  return launch((int)order, x, b, dim, act, alpha, gain, clamp, &dy, &y);
}

}  // namespace ganctl
