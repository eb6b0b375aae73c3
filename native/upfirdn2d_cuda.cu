// CUDA kernel of ganctl::upfirdn2d: polyphase upsample + pad/crop + FIR filter + downsample in one pass.
//
// One thread per output sample (x fastest, so loads and stores coalesce); each reads only the taps that land on
// non-zero samples of the zero-inserted input (ganctl_ops.h: axis_taps), with the filter in shared memory and the
// input through the L1/L2 caches, which neighbouring outputs share. Accumulates in fp32 (fp64 for double).
// No torch headers here: ops_cuda.cpp does the tensor checks and calls launch_upfirdn2d.
#define GANCTL_WITH_CUDA_LAUNCHERS
#include <algorithm>

#include "cuda_types.cuh"

namespace ganctl {
namespace {

template <typename T>
__global__ void upfirdn2d_kernel(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ f,
                                 int64_t total, UpfirdnGeometry g, typename AccOf<T>::type gain) {
  using acc_t = typename AccOf<T>::type;
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
    const T* xp = x + plane * g.H * g.W;
    acc_t acc = 0;
    for (int ky = ty.k0, iy = ty.i0; ky < g.fh; ky += g.upy, ++iy) {
      if (iy < 0 || iy >= g.H) continue;
      const T* row = xp + (int64_t)iy * g.W;
      const float* trow = taps + ky * g.fw;
      for (int kx = tx.k0, ix = tx.i0; kx < g.fw; kx += g.upx, ++ix) {
        if (ix < 0 || ix >= g.W) continue;
        acc += acc_t(trow[kx]) * load_acc(row + ix);
      }
    }
    store_acc(y + o, acc * gain);
  }
}

}  // namespace

cudaError_t launch_upfirdn2d(DType dt, void* y, const void* x, const float* f, int64_t total, const UpfirdnGeometry& g,
                             double gain, cudaStream_t stream) {
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535LL * 16);
  const size_t smem = sizeof(float) * g.fh * g.fw;
  dispatch_dtype(dt, [&](auto type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    using acc_t = typename AccOf<T>::type;
    upfirdn2d_kernel<T><<<(unsigned)blocks, threads, smem, stream>>>(static_cast<T*>(y), static_cast<const T*>(x), f,
                                                                     total, g, acc_t(gain));
  });
  return cudaGetLastError();
}

}  // namespace ganctl
