// Declarations of ganctl's CPU kernel entry points (implemented in *_cpu.cpp, registered with the dispatcher in
// ops_registration.cpp) and the activation-name parsing shared with ops_cuda.cpp. Kernel files include only light ATen headers
// (not torch/library.h or ATen/ATen.h), which roughly halves the build time on small machines.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "ganctl_ops.h"

namespace ganctl {

inline int act_from_name(std::string_view name) {
  static const char* names[] = {"linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"};
  for (int i = 0; i < 9; ++i)
    if (name == names[i]) return i;
  TORCH_CHECK(false, "ganctl::bias_act: unknown activation '", std::string(name), "'");
  return -1;
}

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim, std::string_view act,
                        double alpha, double gain, double clamp);
at::Tensor bias_act_grad_cpu(const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& b,
                             const at::Tensor& y, int64_t dim, std::string_view act, double alpha, double gain,
                             double clamp, int64_t order);
at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                         int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip,
                         double gain);
// filtered_lrelu: argument checks and sizes (shared by the CPU and CUDA wrappers), and the CPU kernel. Returns (y, si):
// si is the forward's mask, or an empty tensor in read mode (si given).
FlreluGeometry filtered_lrelu_geometry(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd, int64_t up,
                                       int64_t down, int64_t pux0, int64_t pux1, int64_t puy0, int64_t puy1,
                                       int64_t pdx0, int64_t pdx1, int64_t pdy0, int64_t pdy1, double gain_u,
                                       double gain_d, double gain, double slope, double clamp, bool flip);
std::tuple<at::Tensor, at::Tensor> filtered_lrelu_cpu(
    const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd, const std::optional<at::Tensor>& b,
    const std::optional<at::Tensor>& si, int64_t up, int64_t down, int64_t pux0, int64_t pux1, int64_t puy0,
    int64_t puy1, int64_t pdx0, int64_t pdx1, int64_t pdy0, int64_t pdy1, double gain_u, double gain_d, double gain,
    double slope, double clamp, bool flip);

}  // namespace ganctl
