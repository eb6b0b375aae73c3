"""Multi-process training on torch.distributed: process-group start-up under torchrun, and the `--gpus N` launcher.

Under `torchrun --nproc-per-node N -m ganctl train ...` each process reads RANK/WORLD_SIZE/LOCAL_RANK from the
environment; we start the process group (NCCL on GPUs, gloo on CPU), pin each rank to its GPU, and the trainer
all-reduces gradients. `ganctl train --gpus N` re-launches the same command through torch.distributed.run on a free
port, so users need not know torchrun's flags.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys

import torch


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def maybe_init(device_name: str) -> tuple[int, int]:
    """Start the process group when launched by torchrun; returns (rank, world_size)."""
    import torch.distributed as dist

    if env_world_size() <= 1:
        return 0, 1
    if not dist.is_initialized():
        use_cuda = device_name != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        # Destroy the group while the interpreter is still whole: left to interpreter teardown, gloo's C++ worker
        # threads can still hold work objects whose release needs the GIL, and a rank then dies with SIGABRT
        # ("terminate called without an active exception") after a run that finished (seen under load in CI tests).
        atexit.register(shutdown)
    return dist.get_rank(), dist.get_world_size()


def dist_info() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) outside torch.distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def local_device(device: torch.device) -> torch.device:
    """cuda -> this rank's GPU under torchrun."""
    if device.type == "cuda" and env_world_size() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, args: list[str]) -> int:
    """Run `ganctl ARGS` in `nproc` processes on this machine via torch.distributed.run; returns the exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
           "--master-port", str(free_port()), "-m", "ganctl", *args]
    return subprocess.call(cmd)


def mean_over_ranks(stats: dict[str, list[float]], world_size: int, device: torch.device) -> dict[str, float]:
    """Each stat's mean over every process's values, so a multi-process run logs the whole batch's losses (equal to a
    one-process run's), not rank 0's share. Collective: every rank calls it at the same point."""
    local = {k: (float(sum(v)), len(v)) for k, v in stats.items()}
    if world_size == 1:
        return {k: total / n for k, (total, n) in local.items() if n}
    import torch.distributed as dist

    # The key sets agree in practice (same phases everywhere), but a rank-only key must not desynchronise them.
    key_lists = [None] * world_size
    dist.all_gather_object(key_lists, sorted(local))
    keys = sorted(set().union(*key_lists))
    t = torch.tensor([local.get(k, (0.0, 0)) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(total / n) for k, (total, n) in zip(keys, t.tolist()) if n > 0}


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
