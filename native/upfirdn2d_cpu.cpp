// CPU kernel of ganctl::upfirdn2d: polyphase upsample + pad/crop + FIR filter + downsample in one pass.
//
// Unlike the reference (zero insertion, then a dense convolution, then striding), it computes only the outputs that
// are kept and only the taps that land on non-zero samples: for up=2 a 4x4 filter costs 4 multiply-adds per output
// instead of 16, for down=2 it skips 3 of every 4 outputs. Each (n, c) plane is copied once into a zero-bordered
// float buffer so the tap loops need no bounds checks; planes are processed in parallel.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <algorithm>
#include <vector>

#include "ganctl_ops.h"
#include "kernels.h"

namespace ganctl {
namespace {

struct AxisPlan {
  std::vector<int> i0;  // first input index per output
  std::vector<int> k0;  // phase (first tap) per output
  int lo = 0, hi = 0;   // input index range the buffer must cover (inclusive)
};

AxisPlan plan_axis(int n_out, int up, int down, int p0, int ntaps) {
  AxisPlan p;
  p.i0.resize(n_out);
  p.k0.resize(n_out);
  p.lo = 0;
  p.hi = 0;
  for (int o = 0; o < n_out; ++o) {
    AxisTaps t = axis_taps(o, up, down, p0);
    p.i0[o] = t.i0;
    p.k0[o] = t.k0;
    p.lo = std::min(p.lo, t.i0);
    p.hi = std::max(p.hi, t.i0 + ntaps - 1);
  }
  return p;
}

// One phase group of one output row: a[t] = sum_{ty,tx} w[ty * wsy + tx] * rows[ty * Wb + t * DX + tx].
// With the tap counts and the down factor known at compile time the tap loops unroll and the t loop vectorises with
// every tap sum kept in registers (one store per output), instead of a load-add-store of a[] per tap. The taps of
// StyleGAN2's [1,3,3,1] filter give 1..4 per axis and phase, with down 1 or 2.
template <typename acc_t, int NTY, int NTX, int DX>
void phase_row(acc_t* __restrict__ a, const acc_t* __restrict__ rows, size_t Wb, const acc_t* w, int wsy, int nt) {
  acc_t wr[NTY][NTX];
  for (int ty = 0; ty < NTY; ++ty)
    for (int tx = 0; tx < NTX; ++tx) wr[ty][tx] = w[ty * wsy + tx];
  for (int t = 0; t < nt; ++t) {
    acc_t sum = acc_t(0);
    for (int ty = 0; ty < NTY; ++ty)
      for (int tx = 0; tx < NTX; ++tx) sum += wr[ty][tx] * rows[ty * Wb + (size_t)t * DX + tx];
    a[t] = sum;
  }
}

template <typename acc_t>
using PhaseRowFn = void (*)(acc_t*, const acc_t*, size_t, const acc_t*, int, int);

template <typename acc_t, int NTY, int NTX>
PhaseRowFn<acc_t> pick_down(int down) {
  if (down == 1) return &phase_row<acc_t, NTY, NTX, 1>;
  if (down == 2) return &phase_row<acc_t, NTY, NTX, 2>;
  return nullptr;
}

template <typename acc_t, int NTY>
PhaseRowFn<acc_t> pick_ntx(int ntx, int down) {
  switch (ntx) {
    case 1: return pick_down<acc_t, NTY, 1>(down);
    case 2: return pick_down<acc_t, NTY, 2>(down);
    case 3: return pick_down<acc_t, NTY, 3>(down);
    case 4: return pick_down<acc_t, NTY, 4>(down);
    default: return nullptr;
  }
}

// The specialised phase_row for these tap counts, or nullptr (then the generic per-tap loop runs).
template <typename acc_t>
PhaseRowFn<acc_t> pick_phase_row(int nty, int ntx, int down) {
  switch (nty) {
    case 1: return pick_ntx<acc_t, 1>(ntx, down);
    case 2: return pick_ntx<acc_t, 2>(ntx, down);
    case 3: return pick_ntx<acc_t, 3>(ntx, down);
    case 4: return pick_ntx<acc_t, 4>(ntx, down);
    default: return nullptr;
  }
}

}  // namespace

at::Tensor upfirdn2d_cpu(const at::Tensor& x_in, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                         int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip,
                         double gain) {
  TORCH_CHECK(x_in.dim() == 4, "ganctl::upfirdn2d: x must be NCHW");
  TORCH_CHECK(f.dim() == 2, "ganctl::upfirdn2d: the native kernel takes a 2-D filter");
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "ganctl::upfirdn2d: up/down must be >= 1");
  TORCH_CHECK(x_in.is_floating_point(), "ganctl::upfirdn2d: x must be floating point");
  const at::Tensor x = x_in.contiguous();
  const int N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int fh = f.size(0), fw = f.size(1);
  const int Ho = upfirdn2d_out_size(H, upy, downy, pady0, pady1, fh);
  const int Wo = upfirdn2d_out_size(W, upx, downx, padx0, padx1, fw);
  TORCH_CHECK(Ho >= 1 && Wo >= 1, "ganctl::upfirdn2d: padding/cropping leaves an empty output");
  at::Tensor y = at::empty({N, C, Ho, Wo}, x.options());
  if (x.numel() == 0) return y.zero_();

  // Filter in correlation form (conv2d convention), as doubles on the host.
  const at::Tensor fd = f.to(at::kCPU, at::kDouble).contiguous();
  const double* fp = fd.data_ptr<double>();
  const int ntx = (fw + upx - 1) / upx, nty = (fh + upy - 1) / upy;
  const AxisPlan px = plan_axis(Wo, upx, downx, padx0, ntx);
  const AxisPlan py = plan_axis(Ho, upy, downy, pady0, nty);
  const int Wb = px.hi - px.lo + 1, Hb = py.hi - py.lo + 1;

  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ganctl_upfirdn2d_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    // Polyphase weights weff[phase_y][ty][phase_x][tx] (zero where a phase has fewer taps), gain folded in.
    std::vector<acc_t> weff((size_t)upy * nty * upx * ntx, acc_t(0));
    for (int phy = 0; phy < upy; ++phy)
      for (int ty = 0; ty < nty; ++ty)
        for (int phx = 0; phx < upx; ++phx)
          for (int tx = 0; tx < ntx; ++tx) {
            const int ky = phy + ty * upy, kx = phx + tx * upx;
            if (ky >= fh || kx >= fw) continue;
            const int sy = flip ? ky : fh - 1 - ky, sx = flip ? kx : fw - 1 - kx;
            weff[((size_t)(phy * nty + ty) * upx + phx) * ntx + tx] = acc_t(fp[sy * fw + sx] * gain);
          }

    // Outputs ox = s + upx * t (t = 0, 1, ...) share a phase, and their first input index advances by downx per
    // step: grouping them makes every tap loop a unit- (or downx-) strided axpy that the compiler vectorises.
    const int groups = std::min<int>(upx, Wo);
    const int per_group = (Wo + upx - 1) / upx;
    const PhaseRowFn<acc_t> fast = pick_phase_row<acc_t>(nty, ntx, downx);
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, (int64_t)N * C, 1, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> buf((size_t)Hb * Wb, acc_t(0)), acc((size_t)groups * per_group);
      for (int64_t plane = begin; plane < end; ++plane) {
        // Zero-bordered copy of the plane: buffer row r, column c <-> input (py.lo + r, px.lo + c). The row is
        // split into left border, converted interior and right border so the interior loop has no branches and
        // vectorises.
        const scalar_t* src = xp + plane * H * W;
        const int c0 = std::max(0, -px.lo), c1 = std::min(Wb, W - px.lo);  // interior columns [c0, c1)
        for (int r = 0; r < Hb; ++r) {
          const int iy = py.lo + r;
          acc_t* row = buf.data() + (size_t)r * Wb;
          if (iy < 0 || iy >= H || c1 <= c0) {
            std::fill(row, row + Wb, acc_t(0));
            continue;
          }
          std::fill(row, row + c0, acc_t(0));
          const scalar_t* s_row = src + (size_t)iy * W + (px.lo + c0);
          acc_t* __restrict__ d_row = row + c0;
          for (int c = 0; c < c1 - c0; ++c) d_row[c] = acc_t(s_row[c]);
          std::fill(row + c1, row + Wb, acc_t(0));
        }
        scalar_t* dst = yp + plane * Ho * Wo;
        for (int oy = 0; oy < Ho; ++oy) {
          const int phy = py.k0[oy];
          const acc_t* rows = buf.data() + (size_t)(py.i0[oy] - py.lo) * Wb;
          if (fast != nullptr) {
            for (int s = 0; s < groups; ++s) {
              const int nt = (Wo - s + upx - 1) / upx;
              const acc_t* w = weff.data() + ((size_t)phy * nty * upx + px.k0[s]) * ntx;
              fast(acc.data() + (size_t)s * per_group, rows + (px.i0[s] - px.lo), (size_t)Wb, w, upx * ntx, nt);
            }
          } else {
            std::fill(acc.begin(), acc.end(), acc_t(0));
            for (int ty = 0; ty < nty; ++ty) {
              const acc_t* row = rows + (size_t)ty * Wb;
              const acc_t* wrow = weff.data() + (size_t)(phy * nty + ty) * upx * ntx;
              for (int s = 0; s < groups; ++s) {
                const int nt = (Wo - s + upx - 1) / upx;
                const acc_t* w = wrow + px.k0[s] * ntx;
                acc_t* __restrict__ a = acc.data() + (size_t)s * per_group;
                for (int tx = 0; tx < ntx; ++tx) {
                  const acc_t wv = w[tx];
                  const acc_t* __restrict__ rp = row + (px.i0[s] - px.lo) + tx;
                  if (downx == 1) {
                    for (int t = 0; t < nt; ++t) a[t] += wv * rp[t];
                  } else {
                    for (int t = 0; t < nt; ++t) a[t] += wv * rp[(size_t)t * downx];
                  }
                }
              }
            }
          }
          scalar_t* out = dst + (size_t)oy * Wo;
          if (upx == 1) {  // one phase: a contiguous row, stored with a vectorisable loop
            const acc_t* __restrict__ a = acc.data();
            for (int t = 0; t < Wo; ++t) out[t] = scalar_t(a[t]);
            continue;
          }
          for (int s = 0; s < groups; ++s) {
            const int nt = (Wo - s + upx - 1) / upx;
            const acc_t* a = acc.data() + (size_t)s * per_group;
            for (int t = 0; t < nt; ++t) out[s + t * upx] = scalar_t(a[t]);
          }
        }
      }
    });
  });
  return y;
}

}  // namespace ganctl

