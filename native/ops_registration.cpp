// Schemas of ganctl's native ops (namespace `ganctl`) and the registration of their CPU kernels;
// ganctl/ops/native.py registers autograd formulas and fake (meta) kernels from Python.
//
// bias_act_grad is itself an op so that the gradient of bias_act is differentiable again (R1 / path-length
// regularisation need second order): order=1 gives dy * gain * f'(x+b) * mask, order=2 gives dy * gain * f''(x+b) * mask,
// where mask zeroes the elements that the forward pass clamped (|y| >= clamp). clamp < 0 means no clamping.
// filtered_lrelu's gradient is filtered_lrelu in read mode (see ganctl_ops.h).
// upfirdn2d needs no gradient op: its gradient is an upfirdn2d with up/down swapped and the filter flipped.
#include <torch/library.h>

#include "kernels.h"

TORCH_LIBRARY(ganctl, m) {
  m.def("bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float clamp) -> Tensor");
  m.def(
      "bias_act_grad(Tensor dy, Tensor x, Tensor? b, Tensor y, int dim, str act, float alpha, float gain, float clamp, "
      "int order) -> Tensor");
  m.def(
      "upfirdn2d(Tensor x, Tensor f, int upx, int upy, int downx, int downy, int padx0, int padx1, int pady0, "
      "int pady1, bool flip, float gain) -> Tensor");
  // The fused StyleGAN3 nonlinearity (ganctl_ops.h: FlreluGeometry). Returns (y, si): si is the mask of the
  // intermediate that the gradient (the same op in read mode, si given) needs; empty in read mode.
  m.def(
      "filtered_lrelu(Tensor x, Tensor fu, Tensor fd, Tensor? b, Tensor? si, int up, int down, int pux0, int pux1, "
      "int puy0, int puy1, int pdx0, int pdx1, int pdy0, int pdy1, float gain_u, float gain_d, float gain, "
      "float slope, float clamp, bool flip) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ganctl, CPU, m) {
  m.impl("bias_act", &ganctl::bias_act_cpu);
  m.impl("bias_act_grad", &ganctl::bias_act_grad_cpu);
  m.impl("upfirdn2d", &ganctl::upfirdn2d_cpu);
  m.impl("filtered_lrelu", &ganctl::filtered_lrelu_cpu);
}
