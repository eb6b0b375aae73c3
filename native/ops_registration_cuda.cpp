// Registers the CUDA kernels (bias_act_cuda.cu, upfirdn2d_cuda.cu) for ganctl's ops; compiled only in CUDA builds.
#include <torch/library.h>

#include "kernels.h"

TORCH_LIBRARY_IMPL(ganctl, CUDA, m) {
  m.impl("bias_act", &ganctl::bias_act_cuda);
  m.impl("bias_act_grad", &ganctl::bias_act_grad_cuda);
  m.impl("upfirdn2d", &ganctl::upfirdn2d_cuda);
}
