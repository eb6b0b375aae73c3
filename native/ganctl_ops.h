// Shared maths of ganctl's native ops, used by the C++ (CPU) and CUDA kernels alike.
//
// Owns: the activation functions with their first and second derivatives (bias_act and its gradient op) and the
// tap geometry of upfirdn2d (which input samples and which filter taps feed an
// output sample). Keeping these in one header is what keeps the CPU and CUDA kernels agreeing with each other.
#pragma once

#include <math.h>
#include <cmath>
#include <cstdint>
#include <type_traits>


#if defined(__CUDACC__)
#define GANCTL_HD __host__ __device__ __forceinline__
#else
#define GANCTL_HD inline
#endif

namespace ganctl {

enum Act : int { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish, kNumActs };

// SELU's fixed constants (Klambauer et al. 2017), as torch.nn.functional.selu uses them.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

// Float and double overloads that resolve the same way on host and device (expf etc. exist in both).
GANCTL_HD float exp_(float x) { return expf(x); }
GANCTL_HD double exp_(double x) { return ::exp(x); }
GANCTL_HD float tanh_(float x) { return tanhf(x); }
GANCTL_HD double tanh_(double x) { return ::tanh(x); }
GANCTL_HD float log1p_(float x) { return log1pf(x); }
GANCTL_HD double log1p_(double x) { return ::log1p(x); }

template <typename T>
GANCTL_HD T sigmoid_(T x) { return T(1) / (T(1) + exp_(-x)); }

// Order 0: f(x); order 1: f'(x); order 2: f''(x). `A` and `ORDER` are compile-time so each kernel instance is a
// straight-line expression the compiler can vectorise.
template <int A, int ORDER, typename T>
GANCTL_HD T act_eval(T x, T alpha) {
  if (A == kLinear) return ORDER == 0 ? x : (ORDER == 1 ? T(1) : T(0));
  if (A == kRelu) return ORDER == 0 ? (x > T(0) ? x : T(0)) : (ORDER == 1 ? (x > T(0) ? T(1) : T(0)) : T(0));
  if (A == kLrelu) return ORDER == 0 ? (x > T(0) ? x : x * alpha) : (ORDER == 1 ? (x > T(0) ? T(1) : alpha) : T(0));
  if (A == kTanh) {
    T t = tanh_(x);
    return ORDER == 0 ? t : (ORDER == 1 ? T(1) - t * t : T(-2) * t * (T(1) - t * t));
  }
  if (A == kSigmoid) {
    T s = sigmoid_(x);
    return ORDER == 0 ? s : (ORDER == 1 ? s * (T(1) - s) : s * (T(1) - s) * (T(1) - T(2) * s));
  }
  if (A == kElu) {
    if (x > T(0)) return ORDER == 0 ? x : (ORDER == 1 ? T(1) : T(0));
    T e = exp_(x);
    return ORDER == 0 ? alpha * (e - T(1)) : alpha * e;
  }
  if (A == kSelu) {
    const T a = T(kSeluAlpha), s = T(kSeluScale);
    if (x > T(0)) return ORDER == 0 ? s * x : (ORDER == 1 ? s : T(0));
    T e = exp_(x);
    return ORDER == 0 ? s * a * (e - T(1)) : s * a * e;
  }
  if (A == kSoftplus) {
    // torch's softplus switches to the identity above 20; matching it keeps native == reference bit-for-bit-ish.
    if (ORDER == 0) return x > T(20) ? x : log1p_(exp_(x));
    T s = sigmoid_(x);
    return ORDER == 1 ? s : s * (T(1) - s);
  }
  if (A == kSwish) {
    T s = sigmoid_(x);
    return ORDER == 0 ? x * s : (ORDER == 1 ? s * (T(1) + x * (T(1) - s)) : s * (T(1) - s) * (T(2) + x * (T(1) - T(2) * s)));
  }
  return T(0);
}

// Calls f(std::integral_constant<int, A>{}) for the runtime activation id: one kernel instance per activation.
template <typename F>
void dispatch_act(int act, F&& f) {
  switch (act) {
    case kLinear: f(std::integral_constant<int, kLinear>{}); break;
    case kRelu: f(std::integral_constant<int, kRelu>{}); break;
    case kLrelu: f(std::integral_constant<int, kLrelu>{}); break;
    case kTanh: f(std::integral_constant<int, kTanh>{}); break;
    case kSigmoid: f(std::integral_constant<int, kSigmoid>{}); break;
    case kElu: f(std::integral_constant<int, kElu>{}); break;
    case kSelu: f(std::integral_constant<int, kSelu>{}); break;
    case kSoftplus: f(std::integral_constant<int, kSoftplus>{}); break;
    case kSwish: f(std::integral_constant<int, kSwish>{}); break;
    default: break;  // callers validate the id (act_from_name) before dispatching
  }
}

// upfirdn2d tap geometry along one axis.
//
// The op is: u = pad(zero_insert(x, up), p0, p1); c[m] = sum_k u[m + k] * w[k] (w = the filter flipped for a true
// convolution); y[o] = gain * c[o * down]. Only every up-th sample of u is non-zero, so output o reads the input
// samples i0, i0+1, ... with filter taps k0, k0+up, ... ("polyphase"); k0 in [0, up) is its phase.
struct AxisTaps {
  int i0;  // first input index (may be outside [0, n): those samples are zero)
  int k0;  // first tap index into the correlation-form filter w
};

GANCTL_HD AxisTaps axis_taps(int o, int up, int down, int p0) {
  const int q = o * down - p0;                 // position of the window start relative to input sample 0 in u
  const int k0 = ((-q) % up + up) % up;        // first tap that lands on a non-zero sample
  return AxisTaps{(q + k0) / up, k0};          // q + k0 is a multiple of up, so the division is exact
}

GANCTL_HD int upfirdn2d_out_size(int n, int up, int down, int p0, int p1, int taps) {
  return (n * up + p0 + p1 - taps + down) / down;
}

// filtered_lrelu (StyleGAN3) geometry, shared by the CPU and CUDA kernels. The op is two upfirdn2d stages around
// an activation, computed without materialising the intermediate:
//   t = gain_u * upfirdn2d(x + b, fu, up, 1, pu)        (intermediate, Hi x Wi; "stage 1")
//   a = act(t)                                          (see below)
//   y = gain_d * upfirdn2d(a, fd, 1, down, pd)          (output, Ho x Wo; "stage 2")
// Write mode (forward): a = clamp(lrelu(t, slope) * gain, +-clamp), and the mask si records the derivative's case of
// every intermediate sample in 2 bits (bit 0 = t <= 0: slope, bit 1 = clamped: zero), as NVlabs' sign tensor does:
// si is uint8 [N, C, Hi, flrelu_mask_row_bytes(Wi)], sample x of a row in byte x / 4 at bits 2 (x % 4); rows are
// padded to whole 32-bit words (16 samples) so that the CUDA kernel can set codes with a 32-bit atomicOr. Read mode
// (gradients): a = t * gain * lrelu'(si), which makes the op linear in x; its transpose is the same op with up/down
// and fu/fd swapped, the filters flipped and the mask read again, so every order of gradient is this one op.
// Filters: 1-D (separable, f[ky] * f[kx]) or 2-D, given in convolution form (flipped unless `flip`).
struct FlreluGeometry {
  int H, W, Hi, Wi, Ho, Wo;
  int up, down, pux0, puy0, pdx0, pdy0;
  int kux, kuy, kdx, kdy;  // filter sizes (1-D: both equal the tap count)
  bool sep_u, sep_d, flip;
  double gain_u, gain_d, gain, slope, clamp;  // clamp < 0: none (write mode only)
};

enum FlreluMask : uint8_t { kFlreluNeg = 1, kFlreluClamped = 2 };

GANCTL_HD int flrelu_mask_row_bytes(int wi) { return 4 * ((wi + 15) / 16); }
GANCTL_HD int flrelu_mask_code(const uint8_t* row, int x) { return (row[x >> 2] >> (2 * (x & 3))) & 3; }

GANCTL_HD int flrelu_mid_size(int n, int up, int p0, int p1, int k) { return n * up + p0 + p1 - k + 1; }
GANCTL_HD int flrelu_out_size(int mid, int down, int p0, int p1, int k) { return (mid + p0 + p1 - k + down) / down; }

// Correlation-form tap (ky, kx) of a filter given in convolution form: f[K-1-k] unless flip. 1-D: the outer product.
GANCTL_HD float flrelu_tap(const float* f, bool sep, int kh, int kw, int ky, int kx, bool flip) {
  const int sy = flip ? ky : kh - 1 - ky, sx = flip ? kx : kw - 1 - kx;
  return sep ? f[sy] * f[sx] : f[sy * kw + sx];
}

// The activation of stage 2's input: write mode computes the mask code, read mode applies it.
template <typename T>
GANCTL_HD T flrelu_act_write(T t, T gain, T slope, T clamp, uint8_t* code) {
  uint8_t c = t > T(0) ? 0 : kFlreluNeg;
  T a = (t > T(0) ? t : t * slope) * gain;
  if (clamp >= T(0) && (a > clamp || a < -clamp)) {
    a = a > T(0) ? clamp : -clamp;
    c |= kFlreluClamped;
  }
  *code = c;
  return a;
}

template <typename T>
GANCTL_HD T flrelu_act_read(T t, T gain, T slope, uint8_t code) {
  return (code & kFlreluClamped) ? T(0) : t * gain * ((code & kFlreluNeg) ? slope : T(1));
}

}  // namespace ganctl

// The CUDA launchers (bias_act_cuda.cu, upfirdn2d_cuda.cu) take raw pointers so that the .cu files need no torch
// headers (nvcc then compiles them in seconds); ops_cuda.cpp wraps them as ATen ops.
namespace ganctl {
enum DType : int { kF32 = 0, kF16, kBF16, kF64 };

struct UpfirdnGeometry {
  int H, W, Ho, Wo, fh, fw, upx, upy, downx, downy, padx0, pady0;
  bool flip;
};
}  // namespace ganctl

#if defined(GANCTL_WITH_CUDA_LAUNCHERS)
#include <cuda_runtime_api.h>
namespace ganctl {
// order 0: out = bias_act(x); order 1, 2: out = dy * gain * f^(order)(x + b), zeroed where |y| >= clamp.
cudaError_t launch_bias_act(DType dt, int act, int order, void* out, const void* x, const void* b, const void* dy,
                            const void* y, int64_t numel, int64_t inner, int64_t size, double alpha, double gain,
                            double clamp, cudaStream_t stream);
// filtered_lrelu: y [planes, Ho, Wo] from x [planes, H, W] (b: per-channel bias in the accumulation type, or null;
// C channels). si_in non-null: read mode; else si_out (zeroed by the caller) receives the mask.
cudaError_t launch_filtered_lrelu(DType dt, void* y, uint8_t* si_out, const uint8_t* si_in, const void* x,
                                  const void* b, const float* fu, const float* fd, int64_t planes, int C,
                                  const FlreluGeometry& g, cudaStream_t stream);
cudaError_t launch_upfirdn2d(DType dt, void* y, const void* x, const float* f, int64_t total, const UpfirdnGeometry& g,
                             double gain, cudaStream_t stream);
}  // namespace ganctl
#endif
