"""Choosing the torch device a command runs on: the one home of `resolve_device` for the engine, sampling and metrics."""

from __future__ import annotations

import os

import torch

from ganctl.errors import UsageError


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without an index -> this process's GPU (LOCAL_RANK under torchrun).

    Asking for CUDA where there is none is a usage error naming the flag, not a crash deep inside torch.
    """
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA device is available here; use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return dev
