"""CUDA kernels against the reference (fp32, fp16, bf16; first and second order). Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

import ganctl.ops as ops
from ganctl.ops.reference import ACTIVATIONS

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (1e-2, 1e-2), torch.bfloat16: (5e-2, 5e-2), torch.float64: (1e-10, 1e-7)}


@pytest.fixture(scope="module")
def cuda_ops(native_ops):
    if not native_ops["upfirdn2d"]["cuda"]:
        pytest.fail(f"native library has no CUDA kernels: {native_ops['upfirdn2d']['reason']}")


def second_order(fn, x, b=None):
    ins = [t.detach().requires_grad_(True) for t in ([x] if b is None else [x, b])]
    y = fn(*ins)
    g = torch.autograd.grad(y.float().square().sum(), ins, create_graph=True)
    h = torch.autograd.grad(sum(gi.float().square().sum() for gi in g), ins)
    return [y, *g, *h]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_bias_act_cuda(cuda_ops, dtype, act):
    x = torch.randn(4, 16, 9, 7, device="cuda").to(dtype)
    b = torch.randn(16, device="cuda").to(dtype)
    atol, rtol = TOL[dtype]
    for xl in (x, x.contiguous(memory_format=torch.channels_last), x[:, :, :, 1:]):
        fn = lambda impl: (lambda x, b: ops.bias_act(x, b, act=act, clamp=2.0, impl=impl))  # noqa: E731
        for a, r in zip(second_order(fn("native"), xl, b), second_order(fn("ref"), xl.double(), b.double())):
            torch.testing.assert_close(a.double(), r, atol=atol * max(1, r.abs().max().item()), rtol=rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kw", [dict(up=2, padding=(2, 1)), dict(down=2, padding=1), dict(padding=(1, 2)),
                                dict(up=(2, 3), down=(3, 2), padding=(1, -1, 2, 0))])
def test_upfirdn2d_cuda(cuda_ops, dtype, kw):
    f = ops.setup_filter([1, 3, 3, 1], device="cuda")
    x = torch.randn(3, 5, 17, 12, device="cuda").to(dtype)
    atol, rtol = TOL[dtype]
    for xl in (x, x.contiguous(memory_format=torch.channels_last)):
        got = second_order(lambda x: ops.upfirdn2d(x, f, impl="native", **kw), xl)
        ref = second_order(lambda x: ops.upfirdn2d(x, f.double(), impl="ref", **kw), xl.double())
        for a, r in zip(got, ref):
            torch.testing.assert_close(a.double(), r, atol=atol * max(1, r.abs().max().item()), rtol=rtol)


def test_upfirdn2d_cuda_gradgradcheck(cuda_ops):
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, device="cuda", requires_grad=True)
    f = torch.randn(3, 4, dtype=torch.float64, device="cuda")
    fn = lambda x: ops.upfirdn2d(x, f, up=2, down=(1, 2), padding=(1, 2, 0, -1), impl="native")  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, (x,))
    b = torch.randn(2, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, b: ops.bias_act(x, b, act="swish", impl="native"), (x, b))


# Shapes large enough for the tiled upfirdn2d kernel (planes of >= half a 32-wide tile; smaller ones take the general
# kernel) and for bias_act's 16-byte vector path (inner = H*W a multiple of 8, aligned): the paths the benchmark rows
# and real StyleGAN2 layers use. Odd sizes leave partial tiles at the right and bottom edges.
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("shape", [(2, 8, 64, 64), (1, 3, 67, 45), (3, 2, 128, 96)])
@pytest.mark.parametrize("kw", [dict(up=2, padding=(2, 1), gain=4), dict(down=2, padding=1), dict(padding=(1, 2)),
                                dict(padding=(1, 2), flip_filter=True)])
def test_upfirdn2d_cuda_tiled_shapes(cuda_ops, dtype, shape, kw):
    f = ops.setup_filter([1, 3, 3, 1], device="cuda")
    x = torch.randn(shape, device="cuda").to(dtype)
    atol, rtol = TOL[dtype]
    fn = lambda impl, ff: (lambda x: ops.upfirdn2d(x, ff, impl=impl, **kw))  # noqa: E731
    xr = x.double().requires_grad_(True)
    yr = fn("ref", f.double())(xr)
    dy = torch.randn_like(yr)
    (gr,) = torch.autograd.grad(yr, xr, dy)
    xn = x.detach().requires_grad_(True)
    yn = fn("native", f)(xn)
    (gn,) = torch.autograd.grad(yn, xn, dy.to(dtype))
    torch.testing.assert_close(yn.double(), yr.detach(), atol=atol * max(1, yr.abs().max().item()), rtol=rtol)
    torch.testing.assert_close(gn.double(), gr, atol=atol * max(1, gr.abs().max().item()), rtol=rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_bias_act_cuda_vector_path(cuda_ops, dtype):
    x = torch.randn(2, 16, 32, 32, device="cuda").to(dtype)
    b = torch.randn(16, device="cuda").to(dtype)
    atol, rtol = TOL[dtype]
    flat = torch.randn(x.numel() + 1, device="cuda").to(dtype)
    misaligned = flat[1:].view(x.shape)  # storage offset of one element: the scalar fallback
    for xl in (x, misaligned, torch.randn(3, 16, 5, 8, device="cuda").to(dtype)):  # inner 40: vector + no tail
        for act in ("lrelu", "swish", "linear"):
            y = ops.bias_act(xl, b, act=act, clamp=256.0, impl="native")
            r = ops.bias_act(xl.double(), b.double(), act=act, clamp=256.0, impl="ref")
            torch.testing.assert_close(y.double(), r, atol=atol * max(1, r.abs().max().item()), rtol=rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_filtered_lrelu_cuda(cuda_ops, dtype):
    """The fused CUDA kernel against the reference to second order over the battery of geometries (-t separable,
    -r radial, up 1/2/4, down 1/2, crops, clamp, slope 0, no bias, flip)."""
    from test_filtered_lrelu import BATTERY, battery_inputs

    atol, rtol = TOL[dtype]
    scale_tol = 1 if dtype in (torch.float32, torch.float64) else 4  # the filters' gain amplifies input rounding
    for case in BATTERY:
        x, b, fu, fd, kw = battery_inputs(case, dtype=dtype, seed=21)
        x, b = x.cuda(), (None if b is None else b.cuda())
        fu_, fd_ = (None if f is None else f.cuda() for f in (fu, fd))

        def fn(impl, fu, fd):
            return lambda x, b=None: ops.filtered_lrelu(x, fu, fd, b, impl=impl, **kw)

        got = second_order(fn("native", fu_, fd_), x, b)
        ref = second_order(fn("ref", fu_, fd_), x.double(), None if b is None else b.double())
        for a, r in zip(got, ref):
            torch.testing.assert_close(a.double(), r, atol=scale_tol * atol * max(1, r.abs().max().item()),
                                       rtol=scale_tol * rtol, msg=lambda m: f"{case[0]}: {m}")


def test_filtered_lrelu_cuda_gradgradcheck(cuda_ops):
    from test_filtered_lrelu import BATTERY, battery_inputs

    x, b, fu, fd, kw = battery_inputs(BATTERY[9], seed=22)
    x, b = x.cuda().requires_grad_(True), b.cuda().requires_grad_(True)
    fn = lambda x, b: ops.filtered_lrelu(x, fu.cuda(), fd.cuda(), b, impl="native", **kw)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))
