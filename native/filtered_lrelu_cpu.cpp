// CPU kernel of ganctl::filtered_lrelu (StyleGAN3's alias-free leaky ReLU), fused: bias, polyphase upsample + FIR,
// lrelu x gain with clamp, FIR + downsample, without materialising the upsampled intermediate (ganctl_ops.h has the
// op's definition and its mask).
//
// Per (n, c) plane (planes in parallel): the plane plus bias is copied once into a zero-bordered buffer; with a
// separable up filter its horizontal (polyphase) pass is done once per input row. The intermediate is then produced
// one row at a time, in the order stage 2 consumes it, into a ring of kdy rows (the down filter's height): each
// intermediate row is computed exactly once, goes through the activation (writing or reading its 2-bit mask row), and is
// dropped as soon as the last output row that reads it is done. Ring rows are stored split by column phase (mod
// down), so stage 2 - per output row a vertical pass over the ring (separable fd) then the horizontal taps, or the
// 2-D taps directly (-r's radial filter) - is all unit-stride axpys; stage 1 likewise groups intermediate columns by
// their polyphase phase. Everything accumulates in double for double inputs, float otherwise.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "ganctl_ops.h"
#include "kernels.h"

namespace ganctl {
namespace {

constexpr int kMaxTaps = 64;  // per filter axis (the tap pointer arrays below are this long)

// Correlation-form taps of a filter (1-D or 2-D) as acc_t, flipped unless `flip` (the filters arrive in convolution
// form, as upfirdn2d takes them).
template <typename acc_t>
std::vector<acc_t> correlation_taps(const at::Tensor& f, bool flip) {
  const at::Tensor fd = f.to(at::kCPU, at::kDouble).contiguous();
  const double* p = fd.data_ptr<double>();
  const int64_t n = fd.numel();
  std::vector<acc_t> w(n);
  if (fd.dim() == 1) {
    for (int64_t k = 0; k < n; ++k) w[k] = acc_t(flip ? p[k] : p[n - 1 - k]);
  } else {
    const int64_t kh = fd.size(0), kw = fd.size(1);
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx)
        w[ky * kw + kx] = acc_t(flip ? p[ky * kw + kx] : p[(kh - 1 - ky) * kw + (kw - 1 - kx)]);
  }
  return w;
}

// Polyphase plan of stage 1 along one axis for intermediate indices [o0, o1): first input index and phase of each.
struct UpAxis {
  std::vector<int> i0, k0;
  int lo = 0, hi = -1;  // input index range read (inclusive)
};

UpAxis plan_up_axis(int o0, int o1, int up, int p0, int ntaps) {
  UpAxis a;
  for (int o = o0; o < o1; ++o) {
    const AxisTaps t = axis_taps(o, up, 1, p0);
    a.i0.push_back(t.i0);
    a.k0.push_back(t.k0);
  }
  if (o1 > o0) {
    a.lo = a.i0.front();
    a.hi = a.i0.back() + ntaps - 1;  // i0 is non-decreasing in o
  }
  return a;
}

// out[i] (+)= sum_k w[k] * p[k][i] for i < n: every filter pass of this kernel is this weighted sum of K shifted rows.
// With K a compile-time constant the k loop unrolls and the i loop vectorises with the sum in registers (one store
// per output instead of a load-add-store per tap); StyleGAN3's filters give K = 1..12.
template <typename acc_t, int K>
void combine_fixed(acc_t* __restrict__ out, const acc_t* const* p, const acc_t* w, int n, bool accumulate) {
  acc_t wr[K];
  const acc_t* pr[K];
  for (int k = 0; k < K; ++k) wr[k] = w[k], pr[k] = p[k];
  if (accumulate) {
    for (int i = 0; i < n; ++i) {
      acc_t s = out[i];
      for (int k = 0; k < K; ++k) s += wr[k] * pr[k][i];
      out[i] = s;
    }
  } else {
    for (int i = 0; i < n; ++i) {
      acc_t s = acc_t(0);
      for (int k = 0; k < K; ++k) s += wr[k] * pr[k][i];
      out[i] = s;
    }
  }
}

template <typename acc_t>
void combine(acc_t* out, const acc_t* const* p, const acc_t* w, int K, int n, bool accumulate) {
  switch (K) {
    case 1: return combine_fixed<acc_t, 1>(out, p, w, n, accumulate);
    case 2: return combine_fixed<acc_t, 2>(out, p, w, n, accumulate);
    case 3: return combine_fixed<acc_t, 3>(out, p, w, n, accumulate);
    case 4: return combine_fixed<acc_t, 4>(out, p, w, n, accumulate);
    case 5: return combine_fixed<acc_t, 5>(out, p, w, n, accumulate);
    case 6: return combine_fixed<acc_t, 6>(out, p, w, n, accumulate);
    case 7: return combine_fixed<acc_t, 7>(out, p, w, n, accumulate);
    case 8: return combine_fixed<acc_t, 8>(out, p, w, n, accumulate);
    case 9: return combine_fixed<acc_t, 9>(out, p, w, n, accumulate);
    case 10: return combine_fixed<acc_t, 10>(out, p, w, n, accumulate);
    case 11: return combine_fixed<acc_t, 11>(out, p, w, n, accumulate);
    case 12: return combine_fixed<acc_t, 12>(out, p, w, n, accumulate);
    default: break;
  }
  // Larger filters: blocks of 12 taps, the first block storing (unless accumulating), the rest adding.
  for (int k0 = 0; k0 < K; k0 += 12) {
    combine(out, p + k0, w + k0, std::min(12, K - k0), n, accumulate || k0 > 0);
  }
}

// Stage 1's horizontal pass of one buffer row: out[j] (+)= sum_tx w[k0(j) + tx * up] * row[i0(j) + tx] for the ncols
// intermediate columns. Columns j, j + up, j + 2 up, ... share a phase and read consecutive inputs, so each phase is
// a set of unit-stride axpys into `tmp` (vectorised), then interleaved into `out`.
template <typename acc_t>
void up_row_pass(acc_t* __restrict__ out, const acc_t* row, const acc_t* w, int kw, int up, int ntx, const UpAxis& ax,
                 int ncols, acc_t* __restrict__ tmp, bool accumulate) {
  for (int s = 0; s < std::min(up, ncols); ++s) {
    const int k0 = ax.k0[s], n = (ncols - s + up - 1) / up;
    const acc_t* base = row + (ax.i0[s] - ax.lo);
    const acc_t* ptrs[kMaxTaps];
    acc_t taps[kMaxTaps];
    int K = 0;
    for (int tx = 0; tx < ntx && k0 + tx * up < kw; ++tx, ++K) ptrs[K] = base + tx, taps[K] = w[k0 + tx * up];
    acc_t* dst = up == 1 ? out : tmp;
    if (K == 0) {
      if (!accumulate || up > 1) std::fill(dst, dst + n, acc_t(0));
    } else {
      combine(dst, ptrs, taps, K, n, accumulate && up == 1);
    }
    if (up == 1) continue;
    if (accumulate) {
      for (int t = 0; t < n; ++t) out[s + (size_t)t * up] += tmp[t];
    } else {
      for (int t = 0; t < n; ++t) out[s + (size_t)t * up] = tmp[t];
    }
  }
}

// The 2-bit mask codes of intermediate columns [x0, x0 + n) of one row into / out of their packed row (4 a byte,
// ganctl_ops.h). Whole bytes go 4 codes at a time; the ragged ends one by one (the packed row starts zeroed).
inline void pack_codes(uint8_t* __restrict__ row, const int32_t* __restrict__ code, int x0, int n) {
  int j = 0;
  for (; j < n && ((x0 + j) & 3) != 0; ++j) row[(x0 + j) >> 2] |= uint8_t(code[j] << (2 * ((x0 + j) & 3)));
  uint8_t* __restrict__ b = row + ((x0 + j) >> 2);
  const int whole = (n - j) / 4;
  for (int k = 0; k < whole; ++k) {
    const int32_t* c = code + j + 4 * k;
    b[k] = uint8_t(c[0] | (c[1] << 2) | (c[2] << 4) | (c[3] << 6));
  }
  for (j += 4 * whole; j < n; ++j) row[(x0 + j) >> 2] |= uint8_t(code[j] << (2 * ((x0 + j) & 3)));
}

inline void unpack_codes(int32_t* __restrict__ code, const uint8_t* __restrict__ row, int x0, int n) {
  for (int j = 0; j < n; ++j) code[j] = (row[(x0 + j) >> 2] >> (2 * ((x0 + j) & 3))) & 3;
}

template <typename scalar_t>
void run_plane_kernel(const FlreluGeometry& g, const scalar_t* xp, scalar_t* yp, uint8_t* si_out, const uint8_t* si_in,
                      const std::vector<at::opmath_type<scalar_t>>& bias, int C,
                      const std::vector<at::opmath_type<scalar_t>>& wu,
                      const std::vector<at::opmath_type<scalar_t>>& wd, int64_t planes) {
  using acc_t = at::opmath_type<scalar_t>;
  const int up = g.up, down = g.down;
  // Intermediate region stage 2 reads: rows [ry0, ry1), columns [cx0, cx1) (intersected with [0, Hi) x [0, Wi)).
  const int need_h = (g.Ho - 1) * down + g.kdy, need_w = (g.Wo - 1) * down + g.kdx;  // extended-grid extent
  const int ry0 = std::max(0, -g.pdy0), ry1 = std::min(g.Hi, need_h - g.pdy0);
  const int cx0 = std::max(0, -g.pdx0), cx1 = std::min(g.Wi, need_w - g.pdx0);
  const int ncols = std::max(0, cx1 - cx0);
  const int ntx = (g.kux + up - 1) / up, nty = (g.kuy + up - 1) / up;  // taps per phase (the last may be short)
  const UpAxis ax = plan_up_axis(cx0, std::max(cx0, cx1), up, g.pux0, ntx);
  const UpAxis ay = plan_up_axis(ry0, std::max(ry0, ry1), up, g.puy0, nty);
  const int bw = ax.hi - ax.lo + 1, bh = ay.hi - ay.lo + 1;
  // Ring rows are stored phase-split along x: extended column c at (c % down) * half + c / down, so that stage 2's
  // strided reads (every down-th column) become unit-stride ones.
  const int half = (need_w + down - 1) / down, rw = half * down;
  const acc_t gain_u = acc_t(g.gain_u), gain_d = acc_t(g.gain_d), gain = acc_t(g.gain), slope = acc_t(g.slope),
              clamp = acc_t(g.clamp);
  const bool write = si_out != nullptr;
  const int mask_row = flrelu_mask_row_bytes(g.Wi);

  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> xb((size_t)std::max(bh, 0) * std::max(bw, 0));     // plane + bias, zero-bordered
    std::vector<acc_t> hu(g.sep_u ? (size_t)std::max(bh, 0) * ncols : 0);  // separable fu: horizontal pass per row
    std::vector<acc_t> ring((size_t)g.kdy * rw);                           // extended-grid rows e % kdy, split
    std::vector<acc_t> vrow(rw), orow(g.Wo), trow(ncols), tmp(ncols + 1);
    std::vector<int32_t> codes(ncols);
    for (int64_t plane = begin; plane < end; ++plane) {
      const scalar_t* src = xp + plane * g.H * g.W;
      const acc_t bv = bias.empty() ? acc_t(0) : bias[plane % C];
      const int c0 = std::max(0, -ax.lo), c1 = std::max(c0, std::min(bw, g.W - ax.lo));  // interior columns
      for (int r = 0; r < bh; ++r) {
        const int iy = ay.lo + r;
        acc_t* row = xb.data() + (size_t)r * bw;
        std::fill(row, row + bw, acc_t(0));
        if (iy < 0 || iy >= g.H) continue;
        const scalar_t* s_row = src + (size_t)iy * g.W + (ax.lo + c0);
        for (int c = 0; c < c1 - c0; ++c) row[c0 + c] = acc_t(s_row[c]) + bv;
      }
      if (g.sep_u) {
        for (int r = 0; r < bh; ++r)
          up_row_pass(hu.data() + (size_t)r * ncols, xb.data() + (size_t)r * bw, wu.data(), g.kux, up, ntx, ax,
                      ncols, tmp.data(), false);
      }
      const size_t mid_plane = (size_t)plane * g.Hi * mask_row;
      // Extended-grid row e (= intermediate row e - pdy0, zero outside [0, Hi)) into its ring slot.
      auto make_row = [&](int e) {
        acc_t* dst = ring.data() + (size_t)(e % g.kdy) * rw;
        std::fill(dst, dst + rw, acc_t(0));
        const int ri = e - g.pdy0;
        if (ri < ry0 || ri >= ry1 || ncols == 0) return;
        const int jr = ri - ry0;
        const int k0y = ay.k0[jr];
        const int rb = ay.i0[jr] - ay.lo;  // first buffer row
        if (g.sep_u) {
          const acc_t* ptrs[kMaxTaps];
          acc_t taps[kMaxTaps];
          int K = 0;
          for (int t = 0; t < nty && k0y + t * up < g.kuy; ++t, ++K)
            ptrs[K] = hu.data() + (size_t)(rb + t) * ncols, taps[K] = wu[k0y + t * up];
          if (K == 0) std::fill(trow.begin(), trow.end(), acc_t(0));
          else combine(trow.data(), ptrs, taps, K, ncols, false);
        } else {
          std::fill(trow.begin(), trow.end(), acc_t(0));
          for (int t = 0; t < nty && k0y + t * up < g.kuy; ++t)
            up_row_pass(trow.data(), xb.data() + (size_t)(rb + t) * bw, wu.data() + (size_t)(k0y + t * up) * g.kux,
                        g.kux, up, ntx, ax, ncols, tmp.data(), true);
        }
        // Activation in place: ganctl_ops.h's flrelu_act_write / flrelu_act_read (which the CUDA kernel calls), written
        // as branch-free loops the compiler vectorises; then the split store into the ring.
        acc_t* __restrict__ tr = trow.data();
        int32_t* __restrict__ cd = codes.data();  // codes as 32-bit ints: same width as the floats, so the loops vectorise
        if (write) {
          const acc_t lim = clamp >= acc_t(0) ? clamp : std::numeric_limits<acc_t>::infinity();
          for (int j = 0; j < ncols; ++j) {
            const acc_t t = tr[j] * gain_u;
            const acc_t a = (t > acc_t(0) ? t : t * slope) * gain;
            const acc_t ac = std::min(std::max(a, -lim), lim);
            tr[j] = ac;
            cd[j] = (t > acc_t(0) ? 0 : int32_t(kFlreluNeg)) | (ac != a ? int32_t(kFlreluClamped) : 0);
          }
          pack_codes(si_out + mid_plane + (size_t)ri * mask_row, cd, cx0, ncols);
        } else {
          unpack_codes(cd, si_in + mid_plane + (size_t)ri * mask_row, cx0, ncols);
          const acc_t d0 = gain_u * gain, d1 = gain_u * gain * slope;
          for (int j = 0; j < ncols; ++j) {
            const int32_t c = cd[j];
            tr[j] *= (c & kFlreluClamped) ? acc_t(0) : ((c & kFlreluNeg) ? d1 : d0);
          }
        }
        const int cbase = cx0 + g.pdx0;  // extended column of intermediate column cx0
        for (int ph = 0; ph < down; ++ph) {
          const int j0 = ((ph - cbase) % down + down) % down;
          acc_t* __restrict__ d = dst + (size_t)ph * half + (cbase + j0) / down;
          for (int j = j0, i = 0; j < ncols; j += down, ++i) d[i] = tr[j];
        }
      };
      // Stage 2's horizontal taps of one (phase-split) row: o[ox] (+)= sum_kx w[kx] * row[ox * down + kx].
      auto down_row_pass = [&](acc_t* o, const acc_t* row, const acc_t* w, bool accumulate) {
        const acc_t* ptrs[kMaxTaps];
        for (int kx = 0; kx < g.kdx; ++kx) ptrs[kx] = row + (size_t)(kx % down) * half + kx / down;
        combine(o, ptrs, w, g.kdx, g.Wo, accumulate);
      };

      scalar_t* dst = yp + plane * g.Ho * g.Wo;
      int next_e = 0;
      for (int oy = 0; oy < g.Ho; ++oy) {
        const int e0 = oy * down;
        for (; next_e < e0 + g.kdy; ++next_e) make_row(next_e);
        const acc_t* rows[kMaxTaps];
        for (int ky = 0; ky < g.kdy; ++ky) rows[ky] = ring.data() + (size_t)((e0 + ky) % g.kdy) * rw;
        if (g.sep_d) {
          combine(vrow.data(), rows, wd.data(), g.kdy, rw, false);
          down_row_pass(orow.data(), vrow.data(), wd.data(), false);
        } else {
          for (int ky = 0; ky < g.kdy; ++ky)
            down_row_pass(orow.data(), rows[ky], wd.data() + (size_t)ky * g.kdx, ky > 0);
        }
        scalar_t* out = dst + (size_t)oy * g.Wo;
        for (int ox = 0; ox < g.Wo; ++ox) out[ox] = scalar_t(orow[ox] * gain_d);
      }
    }
  });
}

int64_t filter_h(const at::Tensor& f) { return f.dim() == 1 ? f.size(0) : f.size(0); }
int64_t filter_w(const at::Tensor& f) { return f.dim() == 1 ? f.size(0) : f.size(1); }

}  // namespace

FlreluGeometry filtered_lrelu_geometry(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd, int64_t up,
                                       int64_t down, int64_t pux0, int64_t pux1, int64_t puy0, int64_t puy1,
                                       int64_t pdx0, int64_t pdx1, int64_t pdy0, int64_t pdy1, double gain_u,
                                       double gain_d, double gain, double slope, double clamp, bool flip) {
  TORCH_CHECK(x.dim() == 4, "ganctl::filtered_lrelu: x must be NCHW");
  TORCH_CHECK((fu.dim() == 1 || fu.dim() == 2) && (fd.dim() == 1 || fd.dim() == 2) && fu.numel() > 0 &&
                  fd.numel() > 0,
              "ganctl::filtered_lrelu: fu and fd must be non-empty 1-D (separable) or 2-D filters");
  TORCH_CHECK(up >= 1 && down >= 1, "ganctl::filtered_lrelu: up/down must be >= 1");
  FlreluGeometry g;
  g.H = x.size(2), g.W = x.size(3);
  g.up = up, g.down = down, g.pux0 = pux0, g.puy0 = puy0, g.pdx0 = pdx0, g.pdy0 = pdy0;
  g.kuy = filter_h(fu), g.kux = filter_w(fu), g.kdy = filter_h(fd), g.kdx = filter_w(fd);
  g.sep_u = fu.dim() == 1, g.sep_d = fd.dim() == 1, g.flip = flip;
  g.gain_u = gain_u, g.gain_d = gain_d, g.gain = gain, g.slope = slope, g.clamp = clamp;
  g.Hi = flrelu_mid_size(g.H, up, puy0, puy1, g.kuy);
  g.Wi = flrelu_mid_size(g.W, up, pux0, pux1, g.kux);
  g.Ho = flrelu_out_size(g.Hi, down, pdy0, pdy1, g.kdy);
  g.Wo = flrelu_out_size(g.Wi, down, pdx0, pdx1, g.kdx);
  TORCH_CHECK(g.Hi >= 1 && g.Wi >= 1 && g.Ho >= 1 && g.Wo >= 1,
              "ganctl::filtered_lrelu: padding/cropping leaves an empty output");
  return g;
}

std::tuple<at::Tensor, at::Tensor> filtered_lrelu_cpu(
    const at::Tensor& x_in, const at::Tensor& fu, const at::Tensor& fd, const std::optional<at::Tensor>& b,
    const std::optional<at::Tensor>& si, int64_t up, int64_t down, int64_t pux0, int64_t pux1, int64_t puy0,
    int64_t puy1, int64_t pdx0, int64_t pdx1, int64_t pdy0, int64_t pdy1, double gain_u, double gain_d, double gain,
    double slope, double clamp, bool flip) {
  TORCH_CHECK(x_in.is_floating_point(), "ganctl::filtered_lrelu: x must be floating point");
  const FlreluGeometry g = filtered_lrelu_geometry(x_in, fu, fd, up, down, pux0, pux1, puy0, puy1, pdx0, pdx1, pdy0,
                                                   pdy1, gain_u, gain_d, gain, slope, clamp, flip);
  TORCH_CHECK(std::max({g.kux, g.kuy, g.kdx, g.kdy}) <= kMaxTaps,
              "ganctl::filtered_lrelu: the CPU kernel takes filters of at most 64 taps per axis");
  const at::Tensor x = x_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const bool read = si.has_value() && si->defined();
  const bool has_b = b.has_value() && b->defined();
  TORCH_CHECK(!(read && has_b), "ganctl::filtered_lrelu: read mode (si given) takes no bias");
  if (has_b) TORCH_CHECK(b->dim() == 1 && b->size(0) == C, "ganctl::filtered_lrelu: b must be 1-D with C elements");
  at::Tensor si_in;
  if (read) {
    TORCH_CHECK(si->scalar_type() == at::kByte && si->dim() == 4 && si->size(0) == N && si->size(1) == C &&
                    si->size(2) == g.Hi && si->size(3) == flrelu_mask_row_bytes(g.Wi),
                "ganctl::filtered_lrelu: si must be the forward pass's uint8 mask [N, C, Hi, 4 ceil(Wi / 16)]");
    si_in = si->contiguous();
  }
  at::Tensor y = at::empty({N, C, g.Ho, g.Wo}, x.options());
  at::Tensor si_out = read ? at::empty({0}, x.options().dtype(at::kByte))
                           : at::zeros({N, C, g.Hi, flrelu_mask_row_bytes(g.Wi)}, x.options().dtype(at::kByte));
  if (N * C == 0) return {y, si_out};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ganctl_filtered_lrelu_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const std::vector<acc_t> wu = correlation_taps<acc_t>(fu, flip), wd = correlation_taps<acc_t>(fd, flip);
    std::vector<acc_t> bias;
    if (has_b) {
      const at::Tensor bd = b->to(at::kCPU, at::kDouble).contiguous();
      for (int64_t c = 0; c < C; ++c) bias.push_back(acc_t(bd.data_ptr<double>()[c]));
    }
    run_plane_kernel<scalar_t>(g, x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                               read ? nullptr : si_out.data_ptr<uint8_t>(), read ? si_in.data_ptr<uint8_t>() : nullptr,
                               bias, (int)C, wu, wd, N * C);
  });
  return {y, si_out};
}

}  // namespace ganctl
