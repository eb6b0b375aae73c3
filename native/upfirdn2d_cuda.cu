// CUDA kernel of ganctl::upfirdn2d: polyphase upsample + pad/crop + FIR filter + downsample in one pass.
//
// One thread per output sample (x fastest, so loads and stores coalesce); each reads only the taps that land on
// non-zero samples of the zero-inserted input (ganctl_ops.h: axis_taps), with the filter in shared memory and the
// input through the L1/L2 caches, which neighbouring outputs share. Accumulates in fp32 (fp64 for double).
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "ganctl_ops.h"
#include "kernels.h"

namespace ganctl {
namespace {

struct Geometry {
  int H, W, Ho, Wo, fh, fw, upx, upy, downx, downy, padx0, pady0;
  bool flip;
};

template <typename scalar_t, typename acc_t>
__global__ void upfirdn2d_kernel(scalar_t* __restrict__ y, const scalar_t* __restrict__ x, const float* __restrict__ f,
                                 int64_t total, Geometry g, acc_t gain) {
  extern __shared__ float taps[];  // correlation-form filter: taps[ky * fw + kx]
  for (int i = threadIdx.x; i < g.fh * g.fw; i += blockDim.x) {
    const int ky = i / g.fw, kx = i % g.fw;
    taps[i] = g.flip ? f[i] : f[(g.fh - 1 - ky) * g.fw + (g.fw - 1 - kx)];
  }
  __syncthreads();
  const int64_t step = (int64_t)blockDim.x * gridDim.x;
  for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += step) {
    const int ox = (int)(o % g.Wo);
    const int64_t r = o / g.Wo;
    const int oy = (int)(r % g.Ho);
    const int64_t plane = r / g.Ho;
    const AxisTaps tx = axis_taps(ox, g.upx, g.downx, g.padx0);
    const AxisTaps ty = axis_taps(oy, g.upy, g.downy, g.pady0);
    const scalar_t* xp = x + plane * g.H * g.W;
    acc_t acc = 0;
    for (int ky = ty.k0, iy = ty.i0; ky < g.fh; ky += g.upy, ++iy) {
      if (iy < 0 || iy >= g.H) continue;
      const scalar_t* row = xp + (int64_t)iy * g.W;
      const float* trow = taps + ky * g.fw;
      for (int kx = tx.k0, ix = tx.i0; kx < g.fw; kx += g.upx, ++ix) {
        if (ix < 0 || ix >= g.W) continue;
        acc += acc_t(trow[kx]) * acc_t(row[ix]);
      }
    }
    y[o] = scalar_t(acc * gain);
  }
}

}  // namespace

at::Tensor upfirdn2d_cuda(const at::Tensor& x_in, const at::Tensor& f_in, int64_t upx, int64_t upy, int64_t downx,
                          int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip,
                          double gain) {
  TORCH_CHECK(x_in.is_cuda() && x_in.dim() == 4 && x_in.is_floating_point(),
              "ganctl::upfirdn2d: x must be a floating-point NCHW CUDA tensor");
  TORCH_CHECK(f_in.dim() == 2, "ganctl::upfirdn2d: the native kernel takes a 2-D filter");
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "ganctl::upfirdn2d: up/down must be >= 1");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor f = f_in.to(x.device(), at::kFloat).contiguous();
  Geometry g;
  g.H = x.size(2), g.W = x.size(3), g.fh = f.size(0), g.fw = f.size(1);
  g.upx = upx, g.upy = upy, g.downx = downx, g.downy = downy, g.padx0 = padx0, g.pady0 = pady0, g.flip = flip;
  g.Ho = upfirdn2d_out_size(g.H, upy, downy, pady0, pady1, g.fh);
  g.Wo = upfirdn2d_out_size(g.W, upx, downx, padx0, padx1, g.fw);
  TORCH_CHECK(g.Ho >= 1 && g.Wo >= 1, "ganctl::upfirdn2d: padding/cropping leaves an empty output");
  const size_t smem = sizeof(float) * g.fh * g.fw;
  TORCH_CHECK(smem <= 48 * 1024, "ganctl::upfirdn2d: filter too large for the CUDA kernel (max 12288 taps)");
  at::Tensor y = at::empty({x.size(0), x.size(1), g.Ho, g.Wo}, x.options());
  const int64_t total = y.numel();
  if (total == 0) return y;
  if (x.numel() == 0) return y.zero_();
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535LL * 16);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "ganctl_upfirdn2d_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    upfirdn2d_kernel<scalar_t, acc_t><<<(unsigned)blocks, threads, smem, stream>>>(
        y.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), f.data_ptr<float>(), total, g, acc_t(gain));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

}  // namespace ganctl
