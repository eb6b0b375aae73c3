// The CUDA side of ganctl's ops as ATen kernels: argument checks, layouts, device guard and stream, then the raw
// launchers of bias_act_cuda.cu / upfirdn2d_cuda.cu / filtered_lrelu_cuda.cu; registered for the CUDA dispatch key. CUDA builds only.
#define GANCTL_WITH_CUDA_LAUNCHERS
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "ganctl_ops.h"
#include "kernels.h"

namespace ganctl {
namespace {

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return kF32;
    case at::kHalf: return kF16;
    case at::kBFloat16: return kBF16;
    case at::kDouble: return kF64;
    default: TORCH_CHECK(false, "ganctl ops: unsupported dtype ", t.scalar_type());
  }
  return kF32;
}

// The tensor laid out exactly like `out` (= empty_like(x)), so every operand shares memory offsets.
at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& out) {
  if (t.strides() == out.strides()) return t;
  at::Tensor r = at::empty_like(out);
  r.copy_(t);
  return r;
}

at::Tensor bias_act_any(int order, const at::Tensor& x_in, const std::optional<at::Tensor>& b_in, int64_t dim,
                        std::string_view act_name, double alpha, double gain, double clamp, const at::Tensor* dy_in,
                        const at::Tensor* y_in) {
  TORCH_CHECK(x_in.is_cuda(), "ganctl::bias_act: x must be a CUDA tensor");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const int act = act_from_name(act_name);
  const DType dt = dtype_of(x_in);
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
  if (x.numel() == 0) return out;
  C10_CUDA_CHECK(launch_bias_act(dt, act, order, out.data_ptr(), x.data_ptr(), b.defined() ? b.data_ptr() : nullptr,
                                 dy.defined() ? dy.data_ptr() : nullptr, y.defined() ? y.data_ptr() : nullptr,
                                 x.numel(), inner, size, alpha, gain, clamp, c10::cuda::getCurrentCUDAStream()));
  return out;
}

at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim, std::string_view act,
                         double alpha, double gain, double clamp) {
  return bias_act_any(0, x, b, dim, act, alpha, gain, clamp, nullptr, nullptr);
}

at::Tensor bias_act_grad_cuda(const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& b,
                              const at::Tensor& y, int64_t dim, std::string_view act, double alpha, double gain,
                              double clamp, int64_t order) {
  TORCH_CHECK(order == 1 || order == 2, "ganctl::bias_act_grad: order must be 1 or 2");
  TORCH_CHECK(dy.sizes() == x.sizes() && y.sizes() == x.sizes(), "ganctl::bias_act_grad: shape mismatch");
  return bias_act_any((int)order, x, b, dim, act, alpha, gain, clamp, &dy, &y);
}

at::Tensor upfirdn2d_cuda(const at::Tensor& x_in, const at::Tensor& f_in, int64_t upx, int64_t upy, int64_t downx,
                          int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip,
                          double gain) {
  TORCH_CHECK(x_in.is_cuda() && x_in.dim() == 4, "ganctl::upfirdn2d: x must be an NCHW CUDA tensor");
  TORCH_CHECK(f_in.dim() == 2, "ganctl::upfirdn2d: the native kernel takes a 2-D filter");
  TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "ganctl::upfirdn2d: up/down must be >= 1");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const DType dt = dtype_of(x_in);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor f = f_in.to(x.device(), at::kFloat).contiguous();
  UpfirdnGeometry g;
  g.H = x.size(2), g.W = x.size(3), g.fh = f.size(0), g.fw = f.size(1);
  g.upx = upx, g.upy = upy, g.downx = downx, g.downy = downy, g.padx0 = padx0, g.pady0 = pady0, g.flip = flip;
  g.Ho = upfirdn2d_out_size(g.H, upy, downy, pady0, pady1, g.fh);
  g.Wo = upfirdn2d_out_size(g.W, upx, downx, padx0, padx1, g.fw);
  TORCH_CHECK(g.Ho >= 1 && g.Wo >= 1, "ganctl::upfirdn2d: padding/cropping leaves an empty output");
  TORCH_CHECK(g.fh * g.fw <= 12288, "ganctl::upfirdn2d: filter too large for the CUDA kernel (max 12288 taps)");
  at::Tensor y = at::empty({x.size(0), x.size(1), g.Ho, g.Wo}, x.options());
  if (y.numel() == 0) return y;
  if (x.numel() == 0) return y.zero_();
  C10_CUDA_CHECK(launch_upfirdn2d(dt, y.data_ptr(), x.data_ptr(), f.data_ptr<float>(), y.numel(), g, gain,
                                  c10::cuda::getCurrentCUDAStream()));
  return y;
}

std::tuple<at::Tensor, at::Tensor> filtered_lrelu_cuda(
    const at::Tensor& x_in, const at::Tensor& fu_in, const at::Tensor& fd_in, const std::optional<at::Tensor>& b,
    const std::optional<at::Tensor>& si, int64_t up, int64_t down, int64_t pux0, int64_t pux1, int64_t puy0,
    int64_t puy1, int64_t pdx0, int64_t pdx1, int64_t pdy0, int64_t pdy1, double gain_u, double gain_d, double gain,
    double slope, double clamp, bool flip) {
  TORCH_CHECK(x_in.is_cuda(), "ganctl::filtered_lrelu: x must be a CUDA tensor");
  const FlreluGeometry g = filtered_lrelu_geometry(x_in, fu_in, fd_in, up, down, pux0, pux1, puy0, puy1, pdx0, pdx1,
                                                   pdy0, pdy1, gain_u, gain_d, gain, slope, clamp, flip);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const DType dt = dtype_of(x_in);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor fu = fu_in.to(x.device(), at::kFloat).contiguous(), fd = fd_in.to(x.device(), at::kFloat).contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const bool read = si.has_value() && si->defined();
  const bool has_b = b.has_value() && b->defined();
  TORCH_CHECK(!(read && has_b), "ganctl::filtered_lrelu: read mode (si given) takes no bias");
  TORCH_CHECK(fu.numel() + fd.numel() <= 4096, "ganctl::filtered_lrelu: filters too large for the CUDA kernel");
  at::Tensor bias, si_in;
  if (has_b) {
    TORCH_CHECK(b->dim() == 1 && b->size(0) == C, "ganctl::filtered_lrelu: b must be 1-D with C elements");
    bias = b->to(x.device(), dt == kF64 ? at::kDouble : at::kFloat).contiguous();
  }
  if (read) {
    TORCH_CHECK(si->scalar_type() == at::kByte && si->dim() == 4 && si->size(0) == N && si->size(1) == C &&
                    si->size(2) == g.Hi && si->size(3) == flrelu_mask_row_bytes(g.Wi),
                "ganctl::filtered_lrelu: si must be the forward pass's uint8 mask [N, C, Hi, 4 ceil(Wi / 16)]");
    si_in = si->to(x.device()).contiguous();
  }
  at::Tensor y = at::empty({N, C, g.Ho, g.Wo}, x.options());
  at::Tensor si_out = read ? at::empty({0}, x.options().dtype(at::kByte))
                           : at::zeros({N, C, g.Hi, flrelu_mask_row_bytes(g.Wi)}, x.options().dtype(at::kByte));
  if (N * C == 0) return {y, si_out};
  C10_CUDA_CHECK(launch_filtered_lrelu(dt, y.data_ptr(), read ? nullptr : si_out.data_ptr<uint8_t>(),
                                       read ? si_in.data_ptr<uint8_t>() : nullptr, x.data_ptr(),
                                       has_b ? bias.data_ptr() : nullptr, fu.data_ptr<float>(), fd.data_ptr<float>(),
                                       N * C, (int)C, g, c10::cuda::getCurrentCUDAStream()));
  return {y, si_out};
}

}  // namespace
}  // namespace ganctl

TORCH_LIBRARY_IMPL(ganctl, CUDA, m) {
  m.impl("bias_act", &ganctl::bias_act_cuda);
  m.impl("bias_act_grad", &ganctl::bias_act_grad_cuda);
  m.impl("upfirdn2d", &ganctl::upfirdn2d_cuda);
  m.impl("filtered_lrelu", &ganctl::filtered_lrelu_cuda);
}
