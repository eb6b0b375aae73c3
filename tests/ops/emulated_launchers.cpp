// Test-only C entry points to ganctl's CUDA launchers when the .cu sources are compiled by a host compiler with
// native/cuda_emulation.h (see tests/ops/test_cuda_emulated.py, which loads this with ctypes). The arguments are
// what ops_cuda.cpp passes after its tensor checks; the return value is the launcher's cudaError_t.
#define GANCTL_WITH_CUDA_LAUNCHERS
#include "ganctl_ops.h"

extern "C" {

int emu_bias_act(int dt, int act, int order, void* out, const void* x, const void* b, const void* dy, const void* y,
                 int64_t numel, int64_t inner, int64_t size, double alpha, double gain, double clamp) {
  return ganctl::launch_bias_act(ganctl::DType(dt), act, order, out, x, b, dy, y, numel, inner, size, alpha, gain,
                                 clamp, nullptr);
}

// geom: H, W, Ho, Wo, fh, fw, upx, upy, downx, downy, padx0, pady0 (UpfirdnGeometry's order).
int emu_upfirdn2d(int dt, void* y, const void* x, const float* f, int64_t total, const int* geom, int flip,
                  double gain) {
  ganctl::UpfirdnGeometry g{geom[0], geom[1], geom[2], geom[3], geom[4], geom[5],
                            geom[6], geom[7], geom[8], geom[9], geom[10], geom[11], flip != 0};
  return ganctl::launch_upfirdn2d(ganctl::DType(dt), y, x, f, total, g, gain, nullptr);
}

// geom: H, W, Hi, Wi, Ho, Wo, up, down, pux0, puy0, pdx0, pdy0, kux, kuy, kdx, kdy, sep_u, sep_d, flip;
// gains: gain_u, gain_d, gain, slope, clamp (FlreluGeometry's order).
int emu_filtered_lrelu(int dt, void* y, uint8_t* si_out, const uint8_t* si_in, const void* x, const void* b,
                       const float* fu, const float* fd, int64_t planes, int C, const int* geom, const double* gains) {
  ganctl::FlreluGeometry g{geom[0],  geom[1],  geom[2],  geom[3],  geom[4],      geom[5],      geom[6],
                           geom[7],  geom[8],  geom[9],  geom[10], geom[11],     geom[12],     geom[13],
                           geom[14], geom[15], geom[16] != 0, geom[17] != 0, geom[18] != 0, gains[0],
                           gains[1], gains[2], gains[3], gains[4]};
  return ganctl::launch_filtered_lrelu(ganctl::DType(dt), y, si_out, si_in, x, b, fu, fd, planes, C, g, nullptr);
}

}  // extern "C"
