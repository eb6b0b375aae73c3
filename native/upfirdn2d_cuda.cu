// CUDA kernels of ganctl::upfirdn2d: polyphase upsample + pad/crop + FIR filter + downsample in one pass.
//
// Two kernels (no torch headers here: ops_cuda.cpp does the tensor checks and calls launch_upfirdn2d):
// - tiled (square 2x2 / 3x3 / 4x4 filters, up == upx == upy in {1, 2} dividing the filter size, down == downx ==
//   downy in {1, 2}; with StyleGAN2's 4x4 [1,3,3,1] this covers upsample2d, downsample2d, filter2d and their
//   gradients, which swap up and down): a block of 32 x 8 threads computes a 32-wide x TH-tall output tile of one
//   (n, c) plane. It first stages the input window the tile needs (with its halo, zero outside the input) into
//   shared memory as accumulation-type values with coalesced loads (2-byte types: a 4-byte load per column pair),
//   then each thread computes a vertical strip of RY outputs of one column from shared memory, reading each input
//   row of its strip once into registers and applying it to every output of the strip it feeds (register reuse:
//   ~(RY + 3) / RY row reads per output instead of 4 for the blur). Only taps that land on non-zero samples of the
//   zero-inserted input are visited (ganctl_ops.h: axis_taps); the up/down factors, filter size and tile sizes
//   are compile-time, so every tap loop unrolls and the taps live in registers.
// - general (any other filter size or factor): one thread per output sample, filter in shared memory, input
//   through the caches.
// Both accumulate in fp32 (fp64 for double) and fold `gain` into the taps, as the reference does.
#define GANCTL_WITH_CUDA_LAUNCHERS
#include <algorithm>

#include "cuda_types.cuh"

namespace ganctl {
namespace {

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// gridDim.z limit; planes beyond it are looped over inside each block. Overridable so that the emulated tests can
// exercise that loop with a handful of planes.
#ifndef GANCTL_MAX_GRID_Z
#define GANCTL_MAX_GRID_Z 65535
#endif

// Planes with fewer outputs than half a tile (e.g. StyleGAN2's 4x4 .. 16x16 layers) go to the general kernel: a
// tile would compute mostly discarded outputs there. The emulated tests set this to 1 so that the tiled kernel's
// edge cases (inputs smaller than the filter, crops) are exercised with small shapes too.
#ifndef GANCTL_TILE_SMALL_PLANES
#define GANCTL_TILE_SMALL_PLANES 0
#endif

// Geometry of one tiled specialisation. G: input columns per staging load (2 for 2-byte types: one 4-byte load
// per pair, twice the bytes per instruction of scalar half loads; 1 otherwise).
template <int UP, int DOWN, int K, int RY_, int G>
struct Tile {
  static constexpr int TW = 32;  // output columns per tile = one warp: a warp's stores cover 128 (fp32) / 64 (fp16)
                                 // contiguous bytes of one output row
  static constexpr int TY = 8;   // thread rows: 256 threads per block (5 blocks per SM at <= 48 registers)
  static constexpr int RY = RY_; // outputs per thread, stacked vertically (register reuse along y)
  static constexpr int TH = TY * RY;
  static constexpr int NT = K / UP;  // taps per phase per axis (K % UP == 0, so every phase has exactly NT)
  // Input window, counted from floor(q / UP) of the tile's first output (q = o * DOWN - pad0): the last output's
  // first input is at most ceil((UP - 1 + (T - 1) * DOWN) / UP) further, and it reads NT samples from there.
  static constexpr int WX = ceil_div(UP - 1 + (TW - 1) * DOWN, UP) + NT;
  static constexpr int WY = ceil_div(UP - 1 + (TH - 1) * DOWN, UP) + NT;
  // Staged width: the window starts at a multiple of G (aligned group loads), so it is up to G - 1 wider.
  static constexpr int WXA = G * ceil_div(WX + G - 1, G);
  static constexpr int PX = WXA / G;  // group loads per window row
  // down 2 (up 1): a warp reads columns 2 * tx + t, a 2-way shared-memory bank conflict; storing even and odd
  // columns as two half rows makes those reads consecutive words (conflict-free).
  static constexpr bool SPLIT = UP == 1 && DOWN == 2;
  static constexpr int HALF = (WXA + 1) / 2;
  static constexpr int WXS = SPLIT ? 2 * HALF : WXA;
  static_assert(K % UP == 0, "tiled path: every polyphase component needs the same number of taps");
  static_assert((RY * DOWN) % UP == 0, "every strip must start on the tile's phase");

  __device__ static __forceinline__ int col(int c) { return SPLIT ? (c & 1) * HALF + (c >> 1) : c; }
  // For outputs j = 0.. of a strip whose first output has phase R (q = UP * m + R): first tap k0 and first input
  // row relative to m. Constant-folded: R and the unrolled j are compile-time.
  __device__ static __forceinline__ constexpr int k0(int R, int j) { return (UP - (R + j * DOWN) % UP) % UP; }
  __device__ static __forceinline__ constexpr int rel(int R, int j) { return (R + j * DOWN + k0(R, j)) / UP; }
};

// Outputs per thread (RY): 8 for up 1 / down 1 (the blur: 11 row reads for 8 outputs) and up 2 (its window is
// small); 4 for down 2, whose strip of 4 outputs already spans 10 input rows and whose window is 4x the tile.
template <int UP, int DOWN>
constexpr int kRowsPerThread = DOWN == 2 ? 4 : 8;

template <typename T>
constexpr int kGroup = sizeof(T) == 2 ? 2 : 1;

// `paired` (2-byte types): the launcher checked that x is 4-byte aligned and W even, so an even column starts an
// aligned pair in every row; otherwise pairs are loaded as two scalars (same shared layout).
template <typename T, int UP, int DOWN, int K>
__global__ void __launch_bounds__(256)
    upfirdn2d_tiled(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ f, int planes,
                    UpfirdnGeometry g, float gain, bool paired) {
  using acc_t = typename AccOf<T>::type;
  constexpr int G = kGroup<T>;
  using Tl = Tile<UP, DOWN, K, kRowsPerThread<UP, DOWN>, G>;
  constexpr int TW = Tl::TW, TH = Tl::TH, RY = Tl::RY, NT = Tl::NT, WY = Tl::WY, PX = Tl::PX;
  constexpr int NTHREADS = TW * Tl::TY;
  // Staging: each thread does ITER group loads, in batches of BATCH issued before any shared store (bytes in
  // flight per thread). Batches of at most 8 cap the registers: with all 17 loads of the fp32 down-2 window in
  // flight at once that kernel needed 128+ registers (2 blocks per SM instead of 5); split evenly so that no batch
  // is nearly empty.
  constexpr int NG = WY * PX;
  constexpr int ITER = ceil_div(NG, NTHREADS);
  constexpr int BATCH = ceil_div(ITER, ceil_div(ITER * G, 8));  // <= 8 values (registers) per batch
  __shared__ acc_t win[WY][Tl::WXS];

  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * TW + tx;
  const int ox0 = blockIdx.x * TW, oy0 = blockIdx.y * TH;
  const int ox = ox0 + tx, oy_s = oy0 + ty * RY;
  // Window origin: floor(q / UP) of the tile's first output along each axis; R = its phase along y.
  const int qx = ox0 * DOWN - g.padx0, qy = oy0 * DOWN - g.pady0;
  const int Rx = ((qx % UP) + UP) % UP, Ry = ((qy % UP) + UP) % UP;
  const int wx0 = (qx - Rx) / UP, wy0 = (qy - Ry) / UP;
  const int wxs = wx0 - ((wx0 % G) + G) % G;  // staged window's first column: a multiple of G

  // This thread's column: first window column and x phase; its taps (correlation form, gain folded in) for the
  // K rows and the NT columns of that phase, in registers.
  const AxisTaps ax = axis_taps(ox, UP, DOWN, g.padx0);
  const int cx = ax.i0 - wxs;
  GANCTL_EMU_CHECK(cx >= 0 && cx + NT <= Tl::WXA);
  acc_t w[K][NT];
#pragma unroll
  for (int ky = 0; ky < K; ++ky) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const int kx = ax.k0 + t * UP;
      // Rounded like the reference's taps (fp32 filter * gain), then widened for double.
      w[ky][t] = acc_t(gain * (g.flip ? f[ky * K + kx] : f[(K - 1 - ky) * K + (K - 1 - kx)]));
    }
  }
  const int rbase = ty * RY * DOWN / UP;  // window row of this strip's floor(q / UP); exact (static_assert)

  for (int plane = blockIdx.z; plane < planes; plane += gridDim.z) {
    const T* xp = x + (int64_t)plane * g.H * g.W;
#pragma unroll 1
    for (int it0 = 0; it0 < ITER; it0 += BATCH) {
      acc_t v[BATCH][G];
#pragma unroll
      for (int k = 0; k < BATCH; ++k) {
        const int i = tid + (it0 + k) * NTHREADS;
        const int r = i / PX, ix = wxs + (i - r * PX) * G, iy = wy0 + r;
        const bool row_ok = i < NG && iy >= 0 && iy < g.H;
        const T* src = xp + (int64_t)iy * g.W + ix;
        if (G > 1 && paired && row_ok && ix >= 0 && ix + G <= g.W) {
          GANCTL_EMU_CHECK(reinterpret_cast<uintptr_t>(src) % sizeof(Vec<T, G>) == 0);
          const Vec<T, G> pv = *reinterpret_cast<const Vec<T, G>*>(src);
#pragma unroll
          for (int e = 0; e < G; ++e) v[k][e] = load_acc(&pv.v[e]);
        } else {
#pragma unroll
          for (int e = 0; e < G; ++e) v[k][e] = (row_ok && ix + e >= 0 && ix + e < g.W) ? load_acc(src + e) : acc_t(0);
        }
      }
#pragma unroll
      for (int k = 0; k < BATCH; ++k) {
        const int i = tid + (it0 + k) * NTHREADS;
        const int r = i / PX, c = (i - r * PX) * G;
        if (i < NG) {
#pragma unroll
          for (int e = 0; e < G; ++e) win[r][Tl::col(c + e)] = v[k][e];
        }
      }
    }
    __syncthreads();

    acc_t acc[RY];
#pragma unroll
    for (int j = 0; j < RY; ++j) acc[j] = acc_t(0);
    // The strip's phase is the tile's (static_assert above): one instance per phase, chosen per block (uniform).
    auto strip = [&](auto phase_tag) {
      constexpr int R = decltype(phase_tag)::value;
      constexpr int SPAN = Tl::rel(R, RY - 1) + NT;  // input rows the strip reads
#pragma unroll
      for (int s = 0; s < SPAN; ++s) {
        GANCTL_EMU_CHECK(rbase + s < WY);
        acc_t xs[NT];
#pragma unroll
        for (int t = 0; t < NT; ++t) xs[t] = win[rbase + s][Tl::col(cx + t)];
#pragma unroll
        for (int j = 0; j < RY; ++j) {
          const int t_y = s - Tl::rel(R, j);  // which of output j's NT row taps this row is
          if (t_y >= 0 && t_y < NT) {
            const int ky = Tl::k0(R, j) + t_y * UP;
#pragma unroll
            for (int t = 0; t < NT; ++t) acc[j] += w[ky][t] * xs[t];
          }
        }
      }
    };
    if (UP == 1 || Ry == 0) strip(std::integral_constant<int, 0>{});
    else strip(std::integral_constant<int, (UP > 1 ? 1 : 0)>{});

    T* yp = y + (int64_t)plane * g.Ho * g.Wo;
#pragma unroll
    for (int j = 0; j < RY; ++j) {
      const int oy = oy_s + j;
      if (ox < g.Wo && oy < g.Ho) store_acc(yp + (int64_t)oy * g.Wo + ox, acc[j]);
    }
    __syncthreads();  // the next plane overwrites the window
  }
}

// Any geometry: one thread per output sample (x fastest, so loads and stores coalesce), filter in shared memory.
template <typename T>
__global__ void __launch_bounds__(256)
    upfirdn2d_general(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ f, int64_t total,
                      UpfirdnGeometry g, typename AccOf<T>::type gain) {
  using acc_t = typename AccOf<T>::type;
  GANCTL_DYNAMIC_SMEM(float, taps);  // correlation-form filter: taps[ky * fw + kx]
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

// Launches the tiled kernel when the geometry is this specialisation; false otherwise.
template <typename T, int UP, int DOWN, int K>
bool launch_tiled_as(T* y, const T* x, const float* f, int64_t planes, const UpfirdnGeometry& g, double gain,
                     cudaStream_t stream) {
  using Tl = Tile<UP, DOWN, K, kRowsPerThread<UP, DOWN>, kGroup<T>>;
  if (g.upx != UP || g.upy != UP || g.downx != DOWN || g.downy != DOWN || g.fw != K || g.fh != K) return false;
  if (!GANCTL_TILE_SMALL_PLANES && 2 * (int64_t)g.Wo * g.Ho < Tl::TW * Tl::TH) return false;
  const int64_t gx = (g.Wo + Tl::TW - 1) / Tl::TW, gy = (g.Ho + Tl::TH - 1) / Tl::TH;
  if (gy > 65535 || planes > INT32_MAX) return false;
  const dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)std::min<int64_t>(planes, GANCTL_MAX_GRID_Z));
  const dim3 block(Tl::TW, Tl::TY);
  const bool paired = kGroup<T> > 1 && g.W % 2 == 0 && reinterpret_cast<uintptr_t>(x) % 4 == 0;
  GANCTL_LAUNCH(grid, block, 0, stream, upfirdn2d_tiled<T, UP, DOWN, K>)(y, x, f, (int)planes, g, (float)gain,
                                                                        paired);
  return true;
}

// The tiled specialisations: square K x K filters, K in {2, 3, 4} (K % UP == 0: every phase has K / UP taps), equal
// factors along x and y. 4x4 is StyleGAN2's [1,3,3,1]; 2x2 / 3x3 cover box and binomial filters.
template <typename T>
bool launch_tiled(T* y, const T* x, const float* f, int64_t planes, const UpfirdnGeometry& g, double gain,
                  cudaStream_t stream) {
  if (g.fw != g.fh || g.fw < 2 || g.fw > 4) return false;
  return launch_tiled_as<T, 1, 1, 4>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 2, 1, 4>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 1, 2, 4>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 2, 2, 4>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 1, 1, 3>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 1, 2, 3>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 1, 1, 2>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 2, 1, 2>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 1, 2, 2>(y, x, f, planes, g, gain, stream) ||
         launch_tiled_as<T, 2, 2, 2>(y, x, f, planes, g, gain, stream);
}

}  // namespace

cudaError_t launch_upfirdn2d(DType dt, void* y, const void* x, const float* f, int64_t total, const UpfirdnGeometry& g,
                             double gain, cudaStream_t stream) {
  dispatch_dtype(dt, [&](auto type_tag) {
    using T = std::remove_pointer_t<decltype(type_tag)>;
    using acc_t = typename AccOf<T>::type;
    T* yp = static_cast<T*>(y);
    const T* xp = static_cast<const T*>(x);
    const int64_t planes = total / ((int64_t)g.Ho * g.Wo);
    if (launch_tiled(yp, xp, f, planes, g, gain, stream)) return;
    const int threads = 256;
    const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, 65535LL * 16);
    const size_t smem = sizeof(float) * g.fh * g.fw;
    GANCTL_LAUNCH((unsigned)blocks, threads, smem, stream, upfirdn2d_general<T>)(yp, xp, f, total, g, acc_t(gain));
  });
  return GANCTL_LAST_ERROR();
}

}  // namespace ganctl
