"""Cross-replica (synchronised) batch norm: batch statistics over the global batch of every process, on CPU and GPU.

Under `--gpus N` / torchrun each process sees 1/N of the batch. Plain batch norm would normalise each share by its own
statistics, so a 2-process run would compute something else than the 1-process run at the same global batch.
`torch.nn.SyncBatchNorm` fixes that on CUDA only (it refuses CPU tensors, so gloo runs and their tests cannot use it);
this module does the same with one all-reduce that works on any backend (gloo, NCCL).

Training-mode forward, when a process group with more than one process is up:
  1. each process sums, per channel, x and x^2 over its share and counts its elements;
  2. one all-reduce (differentiable: its backward all-reduces the gradients) gives the global sum, sum of squares and
     count; mean = sum / n, biased variance = sumsq / n - mean^2 normalises, exactly as nn.BatchNorm does with the
     whole batch in one process;
  3. running statistics move with the *unbiased* variance (x n / (n - 1)), with nn.BatchNorm's momentum (or its
     cumulative average when momentum is None) and num_batches_tracked.
Otherwise (eval mode, one process, no process group) it is nn.BatchNorm's own forward: with one process it computes
exactly what nn.BatchNorm2d computes. Eval mode never communicates, so rank 0 alone may sample with G_ema.

`to_cross_replica(module)` converts every batch-norm layer inside `module` in place by swapping its class for a
cross-replica subclass: the same object, the same parameters and buffers, the same state_dict keys, so checkpoints load
either way and optimizers built before the conversion stay valid. Any subclass of torch.nn.modules.batchnorm._BatchNorm
is converted (BatchNorm1d/2d/3d and custom ones); `SyncBatchNorm` is left alone (it already synchronises).

Custom batch norms (BigGAN's conditional BN: normalise without affine, then a class-dependent gain and bias) get
synchronised statistics by *containing* a standard BN, e.g. `self.bn = nn.BatchNorm2d(C, affine=False)` whose output
they scale and shift: the conversion reaches the inner layer. A custom _BatchNorm subclass that overrides `forward` is
synchronised only if it normalises through `super().forward(x)`; one that calls F.batch_norm itself is not.

Collectives: every process must run the same sequence of training-mode forwards (the engine does: same phases, same
number of accumulation rounds everywhere).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _world_group():
    """The default process group when more than one process is running, else None (no communication)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist.group.WORLD
    return None


def _all_reduce_sum(t: torch.Tensor, group) -> torch.Tensor:
    """Differentiable sum over processes: the backward pass sums the gradients over processes too.

    torch.distributed._functional_collectives' all_reduce carries autograd (also for double backward, which gradient
    penalties need) and is traceable by torch.compile; torch.distributed.nn.functional.all_reduce does the same but is
    deprecated (it warns) in the torch this project pins.
    """
    import torch.distributed._functional_collectives as fc

    return fc.wait_tensor(fc.all_reduce(t, "sum", group))


class CrossReplicaBatchNorm(_BatchNorm):
    """Batch norm whose training statistics cover the global batch of all processes (see the module docstring).

    Not built directly: `to_cross_replica` makes a layer's class a subclass of both its own class (nn.BatchNorm2d, ...)
    and this one, so the layer keeps its input checks (`_check_input_dim`) and any custom behaviour.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        group = _world_group()
        if not self.training or group is None:
            return super().forward(x)
        return self._forward_global(x, group)

    def _forward_global(self, x: torch.Tensor, group) -> torch.Tensor:
        self._check_input_dim(x)
        C = x.shape[1]
        dims = [0] + list(range(2, x.ndim))
        # Statistics in fp32 even under autocast (as cuDNN's batch norm does), output in the input's dtype.
        xf = x.float()
        local_n = torch.full((1,), float(x.numel() // C), dtype=torch.float32, device=x.device)
        packed = torch.cat([xf.sum(dims), xf.square().sum(dims), local_n])
        total = _all_reduce_sum(packed, group)
        s, ss, n = total[:C], total[C:2 * C], total[2 * C]
        mean = s / n
        var = (ss / n - mean.square()).clamp_min(0.0)  # biased, as nn.BatchNorm normalises with; clamp: fp rounding
        if self.track_running_stats and self.running_mean is not None:
            self._update_running_stats(mean.detach(), var.detach(), n.detach())
        shape = [1, C] + [1] * (x.ndim - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: torch.Tensor) -> None:
        factor = 0.0 if self.momentum is None else self.momentum
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as nn.BatchNorm
                factor = 1.0 / float(self.num_batches_tracked)
        unbiased = var * (n / (n - 1).clamp_min(1.0))
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)


_CLASSES: dict[type, type] = {}


def _cross_replica_class(cls: type) -> type:
    """The cross-replica subclass of a batch-norm class, made once per class. Its MRO puts `cls` (and so any forward
    it overrides) first and CrossReplicaBatchNorm.forward right before _BatchNorm.forward, where `super().forward`
    lands."""
    if cls not in _CLASSES:
        new = type("CrossReplica" + cls.__name__, (cls, CrossReplicaBatchNorm), {"__module__": __name__})
        _CLASSES[cls] = new
        globals()[new.__name__] = new  # importable by name (pickling, copy)
    return _CLASSES[cls]


def to_cross_replica(module: nn.Module) -> nn.Module:
    """Convert every batch-norm layer in `module` (itself included) to cross-replica batch norm, in place; returns it.

    Idempotent; parameters, buffers and state_dict keys are unchanged.
    """
    for m in module.modules():
        if isinstance(m, _BatchNorm) and not isinstance(m, (CrossReplicaBatchNorm, nn.SyncBatchNorm)):
            m.__class__ = _cross_replica_class(type(m))
    return module
