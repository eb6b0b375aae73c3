"""Cross-replica batch norm: 2 real gloo processes with half the batch each compute what nn.BatchNorm2d computes on the
whole batch in one process (outputs, input gradients, weight/bias gradients, running statistics); in place conversion
keeps the state; one process is plain nn.BatchNorm2d."""

from __future__ import annotations

import copy
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from ganctl.models.cross_replica_bn import CrossReplicaBatchNorm, to_cross_replica

N, C, H, W = 8, 3, 5, 4
STEPS = 3


def _inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, C, H, W, generator=g) * 2 + 0.5
    x[N // 2:] += torch.tensor([1.0, -2.0, 0.5])[:, None, None]  # the halves differ: local statistics would be wrong
    w_out = torch.randn(N, C, H, W, generator=g)  # a fixed weighting, so the loss is not invariant to normalisation
    return x, w_out


def _make_bn(momentum):
    torch.manual_seed(1)
    bn = nn.BatchNorm2d(C, momentum=momentum, eps=1e-3)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


def _reference(momentum, steps):
    """One process, the whole batch, plain nn.BatchNorm2d."""
    bn = _make_bn(momentum)
    x, w_out = _inputs()
    results = []
    for step in range(steps):
        xi = (x + step).requires_grad_(True)  # different statistics each step: running stats really move
        bn.zero_grad()
        y = bn(xi)
        (y * w_out).sum().backward()
        results.append((y.detach(), xi.grad, bn.weight.grad.clone(), bn.bias.grad.clone()))
    return results, bn


class _ScaledBN(nn.BatchNorm2d):
    """A custom _BatchNorm subclass overriding forward and normalising through super().forward."""

    def forward(self, x):
        return super().forward(x) * 2


def _worker(rank, world, port, momenta, steps, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        out = {}
        for momentum in momenta:
            bn = to_cross_replica(_make_bn(momentum))
            x, w_out = _inputs()
            share = slice(rank * N // world, (rank + 1) * N // world)
            results = []
            for step in range(steps):
                xi = (x[share] + step).requires_grad_(True)
                bn.zero_grad()
                y = bn(xi)
                (y * w_out[share]).sum().backward()
                results.append((y.detach(), xi.grad, bn.weight.grad.clone(), bn.bias.grad.clone()))
            out[momentum] = {"results": results, "state": bn.state_dict()}
        x, _ = _inputs()
        out["custom"] = to_cross_replica(_ScaledBN(C))(x[rank * N // world:(rank + 1) * N // world]).detach()
        torch.save(out, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    """Both momentum modes (exponential 0.1, cumulative None) in one spawn of 2 gloo processes."""
    out = tmp_path_factory.mktemp("crbn")
    mp.start_processes(_worker, args=(2, _free_port(), (0.1, None), STEPS, str(out)), nprocs=2, join=True,
                       start_method="spawn")
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def test_custom_subclass_synchronises_through_super_forward(two_process_results):
    x, _ = _inputs()
    full = 2 * nn.BatchNorm2d(C)(x).detach()
    torch.testing.assert_close(torch.cat([r["custom"] for r in two_process_results]), full, rtol=1e-5, atol=1e-6)
    mro = type(to_cross_replica(_ScaledBN(C))).__mro__
    assert mro.index(_ScaledBN) < mro.index(CrossReplicaBatchNorm) < mro.index(nn.modules.batchnorm._BatchNorm)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_two_gloo_processes_equal_full_batch_batchnorm(two_process_results, momentum):
    steps = STEPS
    ranks = [r[momentum] for r in two_process_results]
    ref, ref_bn = _reference(momentum, steps)
    for step, (y, gx, gw, gb) in enumerate(ref):
        r0, r1 = ranks[0]["results"][step], ranks[1]["results"][step]
        torch.testing.assert_close(torch.cat([r0[0], r1[0]]), y, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(torch.cat([r0[1], r1[1]]), gx, rtol=1e-5, atol=1e-6)
        # Parameter gradients are each process's share; the engine sums them over processes (all-reduce).
        torch.testing.assert_close(r0[2] + r1[2], gw, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(r0[3] + r1[3], gb, rtol=1e-5, atol=1e-6)
        # A local (unsynchronised) BN would give a different answer: the test can tell the two apart.
        x, _ = _inputs()
        local = _make_bn(momentum)(x[: N // 2] + step)
        assert not torch.allclose(local, y[: N // 2], atol=1e-2)
    for key, ref_value in ref_bn.state_dict().items():
        for r in ranks:
            torch.testing.assert_close(r["state"][key], ref_value, rtol=1e-5, atol=1e-6, msg=key)
    assert int(ranks[0]["state"]["num_batches_tracked"]) == steps


def test_one_process_is_exactly_batchnorm():
    """No process group: the converted layer is nn.BatchNorm2d, bit for bit, in train and eval mode."""
    x, w_out = _inputs()
    a, b = _make_bn(0.1), to_cross_replica(_make_bn(0.1))
    for mode in (True, True, False):
        a.train(mode), b.train(mode)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya, yb = a(xa), b(xb)
        (ya * w_out).sum().backward()
        (yb * w_out).sum().backward()
        assert torch.equal(ya, yb) and torch.equal(xa.grad, xb.grad)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


class _CustomBN(nn.Module):
    """BigGAN-style conditional BN: a standard BN without affine inside, a per-sample gain and bias after it."""

    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c, affine=False)
        self.gain = nn.Linear(2, c)

    def forward(self, x, y):
        return self.bn(x) * (1 + self.gain(y)[:, :, None, None])


def test_conversion_in_place_keeps_state_and_reaches_inner_batchnorm():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 4), nn.BatchNorm1d(4))
    custom = _CustomBN(4)
    holder = nn.ModuleDict({"net": net, "custom": custom})
    before = copy.deepcopy(holder.state_dict())
    params = [id(p) for p in holder.parameters()]
    assert to_cross_replica(holder) is holder
    assert isinstance(net[1], CrossReplicaBatchNorm) and isinstance(net[1], nn.BatchNorm2d)
    assert isinstance(net[5], CrossReplicaBatchNorm) and isinstance(net[5], nn.BatchNorm1d)
    assert isinstance(custom.bn, CrossReplicaBatchNorm)
    assert [id(p) for p in holder.parameters()] == params
    after = holder.state_dict()
    assert list(after) == list(before)
    for k in before:
        assert torch.equal(after[k], before[k]), k
    # State dicts load either way, and a deep copy (the engine's G_ema) keeps the class.
    plain = nn.ModuleDict({"net": copy.deepcopy(net), "custom": _CustomBN(4)})
    plain.load_state_dict(after)
    holder.load_state_dict(plain.state_dict())
    assert isinstance(copy.deepcopy(holder)["net"][1], CrossReplicaBatchNorm)
    to_cross_replica(holder)  # idempotent
    assert type(net[1]).__mro__.count(CrossReplicaBatchNorm) == 1
    # BatchNorm1d's input check survives the conversion.
    with pytest.raises(ValueError):
        net[5](torch.zeros(2, 4, 3, 3, 3))
