"""Native CPU kernels against the reference: forward, backward, double backward, gradcheck, opcheck, torch.compile."""

from __future__ import annotations

import random

import pytest
import torch

import ganctl.ops as ops
from ganctl.ops.reference import ACTIVATIONS

pytestmark = pytest.mark.usefixtures("native_ops")


def layouts(x: torch.Tensor):
    """The same values as contiguous, channels-last, and a non-contiguous (strided slice) tensor."""
    yield "contiguous", x.contiguous()
    if x.ndim == 4:
        yield "channels_last", x.contiguous(memory_format=torch.channels_last)
    big = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype)
    big[..., ::2] = x
    yield "strided", big[..., ::2]


def grads_to_second_order(fn, inputs):
    """Output, first-order grads (create_graph) and grads of a function of those grads: what R1 / PL need."""
    inputs = [t.detach().requires_grad_(True) for t in inputs]
    y = fn(*inputs)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=y.dtype)  # logical order, any layout
    g = torch.autograd.grad((y * w).sum(), inputs, create_graph=True)
    s = sum((gi * gi).sum() for gi in g)
    h = torch.autograd.grad(s, inputs, allow_unused=True) if s.requires_grad else [None] * len(inputs)
    return [y, *g, *(hi if hi is not None else torch.zeros_like(t) for hi, t in zip(h, inputs))]


def assert_native_matches_ref(fn, inputs, atol=1e-10, rtol=1e-7):
    got = grads_to_second_order(lambda *a: fn(*a, impl="native"), inputs)
    ref = grads_to_second_order(lambda *a: fn(*a, impl="ref"), inputs)
    for name, a, b in zip(["y", "grad", "grad", "grad2", "grad2"], got, ref):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("clamp", [None, 0.8])
def test_bias_act_all_activations_fp64(act, clamp):
    g = torch.Generator().manual_seed(sum(map(ord, act)) + (clamp is None))
    x = torch.randn(3, 5, 4, 7, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    for _, xl in layouts(x):
        assert_native_matches_ref(lambda x, b, impl: ops.bias_act(x, b, act=act, clamp=clamp, impl=impl), [xl, b])


@pytest.mark.parametrize("shape,dim", [((1, 7), 1), ((4, 9), 1), ((1, 3, 1, 1), 1), ((2, 3, 5, 5), 2), ((6, 2, 3), 0)])
def test_bias_act_shapes_dims_and_params(shape, dim):
    g = torch.Generator().manual_seed(len(shape) * 10 + dim)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    b = torch.randn(shape[dim], generator=g, dtype=torch.float64)
    assert_native_matches_ref(
        lambda x, b, impl: ops.bias_act(x, b, dim=dim, act="lrelu", alpha=0.3, gain=1.7, clamp=1.1, impl=impl), [x, b])
    assert_native_matches_ref(lambda x, impl: ops.bias_act(x, None, act="swish", impl=impl), [x])


def test_bias_act_fp32_stylegan_like():
    x = torch.randn(2, 32, 16, 16)
    b = torch.randn(32)
    for _, xl in layouts(x):
        y1 = ops.bias_act(xl, b, act="lrelu", clamp=256, impl="native")
        y2 = ops.bias_act(xl, b, act="lrelu", clamp=256, impl="ref")
        torch.testing.assert_close(y1, y2)
        assert y1.stride() == torch.empty_like(xl).stride()  # output keeps the input's layout


@pytest.mark.parametrize("act", ["lrelu", "tanh", "softplus", "swish", "selu"])
def test_bias_act_gradcheck(act):
    x = torch.randn(2, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: ops.bias_act(x, b, act=act, gain=1.3, impl="native")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


UPFIRDN_CASES = [
    # up, down, padding, filter taps (1-D: separable), flip, gain
    (2, 1, (2, 1), [1, 3, 3, 1], False, 4.0),
    (1, 2, 1, [1, 3, 3, 1], False, 1.0),
    (1, 1, (1, 2), [1, 3, 3, 1], True, 1.0),
    ((2, 3), (3, 2), (1, -1, 2, 0), [1, 2, 1], False, 2.0),
    (4, 1, 0, [1.0], False, 1.0),
    (1, 3, (-2, 1, 0, -1), [[1, 2, 3], [0, 1, 0]], True, 0.5),
    (2, 2, 3, "sep8", False, 1.0),
    # 8 taps per phase: the generic per-tap loop, not the register-blocked one (<= 4 taps per axis, down <= 2)
    (1, 1, (3, 4), "sep8", True, 1.0),
    # non-separable 4x4 with down 2 in x only: the register-blocked 2-D path with a strided row
    ((1, 1), (2, 1), (1, 2, 2, 1), [[1, 2, 0, 1], [3, 1, 1, 0], [0, 2, 5, 1], [1, 1, 2, 4]], False, 1.0),
]


def make_filter(taps):
    if taps == "sep8":
        return ops.setup_filter([1, 2, 4, 7, 7, 4, 2, 1])  # 1-D: separable two-pass path
    return ops.setup_filter(taps, normalize=False)


@pytest.mark.parametrize("case", range(len(UPFIRDN_CASES)))
def test_upfirdn2d_matches_reference_fp64(case):
    up, down, pad, taps, flip, gain = UPFIRDN_CASES[case]
    f = make_filter(taps).double()
    g = torch.Generator().manual_seed(case)
    for shape in [(1, 1, 7, 9), (2, 3, 8, 8), (1, 4, 5, 11)]:
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        for _, xl in layouts(x):
            fn = lambda x, impl: ops.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain,  # noqa: E731
                                               impl=impl)
            assert_native_matches_ref(fn, [xl])


def test_upfirdn2d_random_combinations():
    rnd = random.Random(0)
    for i in range(25):
        up, down = (rnd.randint(1, 3), rnd.randint(1, 3)), (rnd.randint(1, 3), rnd.randint(1, 3))
        fshape = (rnd.randint(1, 5), rnd.randint(1, 5))
        H, W = rnd.randint(3, 9), rnd.randint(3, 9)
        pad = tuple(rnd.randint(-1, 3) for _ in range(4))
        x = torch.randn(rnd.randint(1, 2), rnd.randint(1, 3), H, W, dtype=torch.float64)
        f = torch.randn(*fshape, dtype=torch.float64)
        try:
            expect = ops.upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref")
        except RuntimeError:  # cropped to nothing: not a valid case
            continue
        fn = lambda x, impl: ops.upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=bool(i % 2), impl=impl)  # noqa: E731
        assert_native_matches_ref(fn, [x])
        assert ops.upfirdn2d(x, f, up=up, down=down, padding=pad, impl="native").shape == expect.shape


def test_resampling_wrappers_fp32():
    f = ops.setup_filter([1, 3, 3, 1])
    x = torch.randn(2, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    for fn in (ops.upsample2d, ops.downsample2d, ops.filter2d):
        torch.testing.assert_close(fn(x, f, impl="native"), fn(x, f, impl="ref"), atol=1e-5, rtol=1e-5)


def test_upfirdn2d_gradcheck():
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    f = torch.randn(3, 2, dtype=torch.float64)
    fn = lambda x: ops.upfirdn2d(x, f, up=2, down=(1, 2), padding=(1, 0, 2, -1), impl="native")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_opcheck():
    ganctl = torch.ops.ganctl
    x = torch.randn(2, 3, 5, 4, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    torch.library.opcheck(ganctl.bias_act, (x, b, 1, "lrelu", 0.2, 1.4, 1.0))
    torch.library.opcheck(ganctl.bias_act, (x, None, 1, "tanh", 0.0, 1.0, -1.0))
    dy = torch.randn(2, 3, 5, 4, requires_grad=True)
    y = ganctl.bias_act(x, b, 1, "swish", 0.0, 1.4, 2.0).detach()
    torch.library.opcheck(ganctl.bias_act_grad, (dy, x, b, y, 1, "swish", 0.0, 1.4, 2.0, 1))
    f = ops.setup_filter([1, 3, 3, 1])
    torch.library.opcheck(ganctl.upfirdn2d, (x, f, 2, 2, 1, 1, 2, 1, 2, 1, False, 4.0))
    torch.library.opcheck(ganctl.upfirdn2d, (x, f, 1, 1, 2, 2, 1, 1, 1, 1, True, 1.0))


def test_torch_compile_fullgraph():
    f = ops.setup_filter([1, 3, 3, 1])
    b = torch.randn(4)

    def block(x):
        x = ops.upsample2d(x, f, impl="native")
        x = ops.bias_act(x, b, act="lrelu", clamp=256, impl="native")
        return ops.downsample2d(x, f, impl="native")

    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    compiled = torch.compile(block, backend="aot_eager", fullgraph=True)
    y_eager, y_comp = block(x), compiled(x)
    torch.testing.assert_close(y_comp, y_eager)
    g_eager = torch.autograd.grad(y_eager.square().sum(), x)[0]
    g_comp = torch.autograd.grad(y_comp.square().sum(), x)[0]
    torch.testing.assert_close(g_comp, g_eager)
