// Declarations of ganctl's kernel entry points, implemented in *_cpu.cpp and *_cuda.cu and registered with the
// dispatcher in ops_registration.cpp / ops_registration_cuda.cpp. Kernel files include only light ATen headers
// (not torch/library.h or ATen/ATen.h), which roughly halves the build time on small machines.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string_view>

namespace ganctl {

at::Tensor bias_act_cpu(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim, std::string_view act,
                        double alpha, double gain, double clamp);
at::Tensor bias_act_grad_cpu(const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& b,
                             const at::Tensor& y, int64_t dim, std::string_view act, double alpha, double gain,
                             double clamp, int64_t order);
at::Tensor upfirdn2d_cpu(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                         int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip,
                         double gain);

at::Tensor bias_act_cuda(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim, std::string_view act,
                         double alpha, double gain, double clamp);
at::Tensor bias_act_grad_cuda(const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& b,
                              const at::Tensor& y, int64_t dim, std::string_view act, double alpha, double gain,
                              double clamp, int64_t order);
at::Tensor upfirdn2d_cuda(const at::Tensor& x, const at::Tensor& f, int64_t upx, int64_t upy, int64_t downx,
                          int64_t downy, int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip,
                          double gain);

}  // namespace ganctl
