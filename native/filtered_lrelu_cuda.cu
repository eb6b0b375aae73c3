// CUDA kernel of ganctl::filtered_lrelu (StyleGAN3's alias-free leaky ReLU), fused (ganctl_ops.h has the op's
// definition, its two modes and the mask). No torch headers here: ops_cuda.cpp checks the tensors and calls
// launch_filtered_lrelu.
//
// A block of 256 threads computes a TW x TH tile of output samples of one (n, c) plane, in three phases separated
// by barriers, all in dynamic shared memory:
//   1. stage the input window the tile needs (plus bias, zero outside the plane) with coalesced loads;
//   2. compute the tile's intermediate window (its rows/columns of the stage-2 grid, halo included) from it:
//      polyphase upsample + FIR (only taps on non-zero samples), activation, and the 2-bit mask (write mode: set
//      with a 32-bit atomicOr, as 16 samples share a word; neighbouring tiles' halos set the same bits) or read
//      from it (read mode);
//   3. FIR + downsample the intermediate window into the output tile.
// The upsampled intermediate thus lives only in shared memory, one tile at a time. The tile size is chosen by the
// launcher: the largest of 32x16 .. 1x1 whose windows fit in 48 KiB. Filters are read from shared memory as
// correlation-form taps (1-D filters as outer products). Accumulation in fp32 (fp64 for double); fp16 / bf16 in
// and out.
#define GANCTL_WITH_CUDA_LAUNCHERS
#include <algorithm>

#include "cuda_types.cuh"

namespace ganctl {
namespace {

#ifndef GANCTL_MAX_GRID_Z
#define GANCTL_MAX_GRID_Z 65535
#endif

constexpr int kFlreluThreads = 256;
constexpr size_t kFlreluSmem = 48 * 1024;  // the default dynamic shared memory limit (no opt-in needed)

// The windows of one tile size (everything in samples; counts along y, x).
struct FlreluTile {
  int tw, th;    // output tile
  int ew, eh;    // intermediate (stage-2 grid) window: (t - 1) * down + kd
  int xw, xh;    // input window
  size_t bytes;  // shared memory: filters (floats) + input and intermediate windows (acc_t)
};

// Input samples one axis of the window reads: intermediate indices [m0, m0 + n) start at axis_taps(m0).i0 and the
// last one's taps end at axis_taps(m0 + n - 1).i0 + ceil(k / up) - 1; i0 advances by at most ceil(n / up) + 1.
__host__ __device__ inline int flrelu_in_span(int n, int up, int k) { return (n + up - 1) / up + (k + up - 1) / up; }

FlreluTile flrelu_tile(const FlreluGeometry& g, int tw, int th, size_t acc_size) {
  FlreluTile t;
  t.tw = tw, t.th = th;
  t.ew = (tw - 1) * g.down + g.kdx;
  t.eh = (th - 1) * g.down + g.kdy;
  t.xw = flrelu_in_span(t.ew, g.up, g.kux);
  t.xh = flrelu_in_span(t.eh, g.up, g.kuy);
  const size_t taps = (g.sep_u ? g.kux : g.kux * g.kuy) + (g.sep_d ? g.kdx : g.kdx * g.kdy);
  t.bytes = ((taps + 3) / 4) * 16 + acc_size * ((size_t)t.xw * t.xh + (size_t)t.ew * t.eh);
  return t;
}

template <typename T>
__global__ void __launch_bounds__(kFlreluThreads)
    filtered_lrelu_kernel(T* __restrict__ y, uint8_t* __restrict__ si_out, const uint8_t* __restrict__ si_in,
                          const T* __restrict__ x, const typename AccOf<T>::type* __restrict__ b,
                          const float* __restrict__ fu, const float* __restrict__ fd, int planes, int C,
                          FlreluGeometry g, FlreluTile tl) {
  using acc_t = typename AccOf<T>::type;
  GANCTL_DYNAMIC_SMEM(unsigned char, smem);
  const int nu = g.sep_u ? g.kux : g.kux * g.kuy, nd = g.sep_d ? g.kdx : g.kdx * g.kdy;
  float* wu = reinterpret_cast<float*>(smem);
  float* wd = wu + nu;
  acc_t* xwin = reinterpret_cast<acc_t*>(smem + ((size_t)(nu + nd + 3) / 4) * 16);
  acc_t* ewin = xwin + (size_t)tl.xw * tl.xh;
  const int tid = threadIdx.x;
  // Filters in correlation form (the op takes them in convolution form unless flip).
  for (int i = tid; i < nu; i += blockDim.x) wu[i] = g.flip ? fu[i] : fu[nu - 1 - i];
  for (int i = tid; i < nd; i += blockDim.x) wd[i] = g.flip ? fd[i] : fd[nd - 1 - i];

  // Tile origin on the output, the stage-2 grid (e = intermediate index + pd0) and the input.
  const int ox0 = blockIdx.x * tl.tw, oy0 = blockIdx.y * tl.th;
  const int ex0 = ox0 * g.down, ey0 = oy0 * g.down;
  const int mx0 = ex0 - g.pdx0, my0 = ey0 - g.pdy0;  // intermediate index of the window's first column / row
  const int ix0 = axis_taps(mx0, g.up, 1, g.pux0).i0, iy0 = axis_taps(my0, g.up, 1, g.puy0).i0;
  const int ntx = (g.kux + g.up - 1) / g.up, nty = (g.kuy + g.up - 1) / g.up;
  const acc_t gain_u = acc_t(g.gain_u), gain_d = acc_t(g.gain_d), gain = acc_t(g.gain), slope = acc_t(g.slope),
              clamp = acc_t(g.clamp);

  for (int plane = blockIdx.z; plane < planes; plane += gridDim.z) {
    __syncthreads();  // the filters are in place; the previous plane's windows are no longer read
    const T* xp = x + (int64_t)plane * g.H * g.W;
    const acc_t bv = b != nullptr ? b[plane % C] : acc_t(0);
    // 1. Input window (+ bias), zero outside the plane.
    for (int i = tid; i < tl.xw * tl.xh; i += blockDim.x) {
      const int r = i / tl.xw, c = i - r * tl.xw;
      const int iy = iy0 + r, ix = ix0 + c;
      xwin[i] = (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? load_acc(xp + (int64_t)iy * g.W + ix) + bv : acc_t(0);
    }
    __syncthreads();
    // 2. Intermediate window: stage 1, activation, mask.
    const int mask_row = flrelu_mask_row_bytes(g.Wi);
    const int64_t mid_plane = (int64_t)plane * g.Hi * mask_row;
    for (int i = tid; i < tl.ew * tl.eh; i += blockDim.x) {
      const int r = i / tl.ew, c = i - r * tl.ew;
      const int my = my0 + r, mx = mx0 + c;
      acc_t a = acc_t(0);
      if (my >= 0 && my < g.Hi && mx >= 0 && mx < g.Wi) {
        const AxisTaps ty = axis_taps(my, g.up, 1, g.puy0), tx = axis_taps(mx, g.up, 1, g.pux0);
        const int ry = ty.i0 - iy0, rx = tx.i0 - ix0;
        GANCTL_EMU_CHECK(ry >= 0 && rx >= 0 && ry + nty <= tl.xh && rx + ntx <= tl.xw);
        acc_t t = acc_t(0);
        for (int sy = 0; sy < nty; ++sy) {
          const int ky = ty.k0 + sy * g.up;
          if (ky >= g.kuy) break;
          const acc_t* row = xwin + (size_t)(ry + sy) * tl.xw + rx;
          acc_t s = acc_t(0);
          for (int sx = 0; sx < ntx; ++sx) {
            const int kx = tx.k0 + sx * g.up;
            if (kx >= g.kux) break;
            s += acc_t(g.sep_u ? wu[kx] : wu[ky * g.kux + kx]) * row[sx];
          }
          t += g.sep_u ? acc_t(wu[ky]) * s : s;
        }
        t *= gain_u;
        const int64_t row = mid_plane + (int64_t)my * mask_row;
        if (si_in != nullptr) {
          a = flrelu_act_read(t, gain, slope, uint8_t(flrelu_mask_code(si_in + row, mx)));
        } else {
          uint8_t code;
          a = flrelu_act_write(t, gain, slope, clamp, &code);
          // 16 codes share a 32-bit word (the row is word-aligned): OR this one in; a neighbouring tile's halo may
          // set the same bits again, with the same value.
          if (code != 0)
            atomicOr(reinterpret_cast<unsigned int*>(si_out + row) + (mx >> 4), unsigned(code) << (2 * (mx & 15)));
        }
      }
      ewin[i] = a;
    }
    __syncthreads();
    // 3. FIR + downsample into the output tile.
    T* yp = y + (int64_t)plane * g.Ho * g.Wo;
    for (int i = tid; i < tl.tw * tl.th; i += blockDim.x) {
      const int ly = i / tl.tw, lx = i - ly * tl.tw;
      const int oy = oy0 + ly, ox = ox0 + lx;
      if (oy >= g.Ho || ox >= g.Wo) continue;
      acc_t sum = acc_t(0);
      for (int ky = 0; ky < g.kdy; ++ky) {
        const acc_t* row = ewin + (size_t)(ly * g.down + ky) * tl.ew + lx * g.down;
        acc_t s = acc_t(0);
        for (int kx = 0; kx < g.kdx; ++kx) s += acc_t(g.sep_d ? wd[kx] : wd[ky * g.kdx + kx]) * row[kx];
        sum += g.sep_d ? acc_t(wd[ky]) * s : s;
      }
      store_acc(yp + (int64_t)oy * g.Wo + ox, sum * gain_d);
    }
  }
}

}  // namespace

cudaError_t launch_filtered_lrelu(DType dt, void* y, uint8_t* si_out, const uint8_t* si_in, const void* x,
                                  const void* b, const float* fu, const float* fd, int64_t planes, int C,
                                  const FlreluGeometry& g, cudaStream_t stream) {
  cudaError_t err = cudaSuccess;
  dispatch_dtype(dt, [&](auto type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    using acc_t = typename AccOf<T>::type;
    static const int sizes[][2] = {{32, 16}, {16, 16}, {16, 8}, {8, 8}, {8, 4}, {4, 4}, {2, 2}, {1, 1}};
    FlreluTile tl{};
    bool fits = false;
    for (const auto& s : sizes) {
      tl = flrelu_tile(g, s[0], s[1], sizeof(acc_t));
      if (tl.bytes <= kFlreluSmem) {
        fits = true;
        break;
      }
    }
    if (!fits || planes > INT32_MAX) {
      err = cudaErrorInvalidConfiguration;  // ops_cuda.cpp reports filters this large before launching
      return;
    }
    const dim3 grid((unsigned)((g.Wo + tl.tw - 1) / tl.tw), (unsigned)((g.Ho + tl.th - 1) / tl.th),
                    (unsigned)std::min<int64_t>(planes, GANCTL_MAX_GRID_Z));
    GANCTL_LAUNCH(grid, kFlreluThreads, tl.bytes, stream, filtered_lrelu_kernel<T>)(
        static_cast<T*>(y), si_out, si_in, static_cast<const T*>(x), static_cast<const acc_t*>(b), fu, fd,
        (int)planes, C, g, tl);
  });
  if (err != cudaSuccess) return err;
  return GANCTL_LAST_ERROR();
}

}  // namespace ganctl
