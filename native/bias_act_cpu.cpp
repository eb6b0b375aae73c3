// CPU kernels of ganctl::bias_act and ganctl::bias_act_grad: one pass over memory, parallel with at::parallel_for.
//
// Works in the input's own memory layout when it is dense (NCHW or channels-last alike): the bias index of the
// element at memory offset o is (o / stride[dim]) % size[dim], so no copy to a canonical layout is needed.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <optional>
#include <string_view>
#include <vector>

#include "ganctl_ops.h"
#include "kernels.h"

namespace ganctl {
namespace {

// The tensor laid out exactly like empty_like(like): the layout the output has, so every operand shares offsets.
at::Tensor in_layout_of(const at::Tensor& t, const at::Tensor& out) {
  if (t.strides() == out.strides()) return t;
  at::Tensor r = at::empty_like(out);
  r.copy_(t);
  return r;
}

// Calls fn(o, bias_value) for memory offsets in [begin, end), walking runs that share a bias value (inner > 1)
// or runs along which the bias index advances by one (channels-last, inner == 1) so the inner loops vectorise.
// fn is taken by value and captures by value: a local copy lets the compiler keep alpha/gain/clamp and the
// pointers in registers instead of reloading them after every store (which could alias them).
template <typename acc_t, typename Fn>
void for_range_with_bias(int64_t begin, int64_t end, const acc_t* bias, int64_t inner, int64_t size, Fn fn) {
  if (bias == nullptr) {
    for (int64_t o = begin; o < end; ++o) fn(o, acc_t(0));
    return;
  }
  int64_t o = begin;
  while (o < end) {
    if (inner > 1) {
      const int64_t row = o / inner;
      const acc_t bv = bias[row % size];
      const int64_t run_end = std::min(end, (row + 1) * inner);
      for (; o < run_end; ++o) fn(o, bv);
    } else {
      int64_t c = o % size;
      const int64_t run_end = std::min(end, o + (size - c));
      for (; o < run_end; ++o, ++c) fn(o, bias[c]);
    }
  }
}

template <typename acc_t>
std::vector<acc_t> bias_values(const std::optional<at::Tensor>& b, const at::Tensor& x, int64_t dim, int64_t& inner,
                               int64_t& size) {
  std::vector<acc_t> v;
  if (!b.has_value() || !b->defined()) return v;
  TORCH_CHECK(b->dim() == 1 && dim >= 0 && dim < x.dim() && b->size(0) == x.size(dim),
              "ganctl::bias_act: b must be 1-D with x.shape[dim] elements");
  at::Tensor bc = b->to(at::kCPU, x.scalar_type()).to(c10::CppTypeToScalarType<acc_t>::value).contiguous();
  v.assign(bc.data_ptr<acc_t>(), bc.data_ptr<acc_t>() + bc.numel());
  size = x.size(dim);
  inner = x.stride(dim);
  return v;
}

}  // namespace

at::Tensor bias_act_cpu(const at::Tensor& x_in, const std::optional<at::Tensor>& b, int64_t dim, std::string_view act_name,
                        double alpha, double gain, double clamp) {
  TORCH_CHECK(x_in.is_floating_point(), "ganctl::bias_act: x must be floating point");
  const int act = act_from_name(act_name);
  at::Tensor y = at::empty_like(x_in);
  at::Tensor x = in_layout_of(x_in, y);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ganctl_bias_act_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    int64_t inner = 1, size = 1;
    std::vector<acc_t> bv = bias_values<acc_t>(b, x, dim, inner, size);
    const acc_t* bp = bv.empty() ? nullptr : bv.data();
    const scalar_t* __restrict__ xp = x.data_ptr<scalar_t>();
    scalar_t* __restrict__ yp = y.data_ptr<scalar_t>();
    const acc_t a = acc_t(alpha), g = acc_t(gain), c = acc_t(clamp);
    const bool do_clamp = clamp >= 0;
    dispatch_act(act, [&](auto act_tag) {
      constexpr int A = decltype(act_tag)::value;
      at::parallel_for(0, x.numel(), 32768, [&](int64_t begin, int64_t end) {
        for_range_with_bias<acc_t>(begin, end, bp, inner, size, [=](int64_t o, acc_t bias) {
          acc_t v = act_eval<A, 0, acc_t>(acc_t(xp[o]) + bias, a) * g;
          if (do_clamp) v = v > c ? c : (v < -c ? -c : v);
          yp[o] = scalar_t(v);
        });
      });
    });
  });
  return y;
}

at::Tensor bias_act_grad_cpu(const at::Tensor& dy_in, const at::Tensor& x_in, const std::optional<at::Tensor>& b,
                             const at::Tensor& y_in, int64_t dim, std::string_view act_name, double alpha, double gain,
                             double clamp, int64_t order) {
  TORCH_CHECK(order == 1 || order == 2, "ganctl::bias_act_grad: order must be 1 or 2");
  TORCH_CHECK(dy_in.sizes() == x_in.sizes() && y_in.sizes() == x_in.sizes(), "ganctl::bias_act_grad: shape mismatch");
  const int act = act_from_name(act_name);
  at::Tensor out = at::empty_like(x_in);
  at::Tensor x = in_layout_of(x_in, out), dy = in_layout_of(dy_in.to(x_in.scalar_type()), out);
  const bool do_clamp = clamp >= 0;
  at::Tensor y = do_clamp ? in_layout_of(y_in.to(x_in.scalar_type()), out) : x;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ganctl_bias_act_grad_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    int64_t inner = 1, size = 1;
    std::vector<acc_t> bv = bias_values<acc_t>(b, x, dim, inner, size);
    const acc_t* bp = bv.empty() ? nullptr : bv.data();
    const scalar_t* __restrict__ xp = x.data_ptr<scalar_t>();
    const scalar_t* __restrict__ dyp = dy.data_ptr<scalar_t>();
    const scalar_t* __restrict__ yp = y.data_ptr<scalar_t>();
    scalar_t* __restrict__ op = out.data_ptr<scalar_t>();
    const acc_t a = acc_t(alpha), g = acc_t(gain), c = acc_t(clamp);
    auto run = [&](auto order_tag) {
      constexpr int ORDER = decltype(order_tag)::value;
      dispatch_act(act, [&](auto act_tag) {
      constexpr int A = decltype(act_tag)::value;
        at::parallel_for(0, x.numel(), 32768, [&](int64_t begin, int64_t end) {
          for_range_with_bias<acc_t>(begin, end, bp, inner, size, [=](int64_t o, acc_t bias) {
            acc_t v = acc_t(dyp[o]) * act_eval<A, ORDER, acc_t>(acc_t(xp[o]) + bias, a) * g;
            if (do_clamp && !(std::abs(acc_t(yp[o])) < c)) v = acc_t(0);
            op[o] = scalar_t(v);
          });
        });
      });
    };
    if (order == 1)
      run(std::integral_constant<int, 1>{});
    else
      run(std::integral_constant<int, 2>{});
  });
  return out;
}

}  // namespace ganctl

