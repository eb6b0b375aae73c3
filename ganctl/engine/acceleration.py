"""Opt-in speed paths of the training engine: torch.compile of the networks' first-order passes, CUDA graphs through
compile's 'reduce-overhead' mode, and the channels-last memory format.

Config keys (all resume-safe: they change speed and float rounding, never the maths):
  train.compile        off | default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs
  train.channels_last  false | true

Only passes that are differentiated once go through compiled graphs (torch.compile does not support double backward):
the loss classes keep their eager modules for R1, path-length regularisation and the WGAN gradient penalty. The compiled
wrappers share parameters and buffers with the eager modules, so checkpoints, EMA and resume see one set of weights.
"""

from __future__ import annotations

import torch


def compile_wrapper(mode: str):
    """A function module -> compiled callable for torch.compile `mode` (shapes are static: one batch_gpu per run)."""

    def wrap(module: torch.nn.Module):
        return torch.compile(module, mode=mode, dynamic=False)

    return wrap


def enable_compile(loss, mode: str) -> None:
    """Route `loss`'s first-order passes through torch.compile(mode); a no-op for mode 'off'."""
    if mode == "off":
        return
    from ganctl import ops

    # Load (building once if needed) the native ops before tracing: a trace never builds them, so an op first seen
    # while compiling would stay on the PyTorch reference inside the compiled graphs.
    ops.status(build=True)
    loss.use_compiled(compile_wrapper(mode))


def to_channels_last(*modules: torch.nn.Module) -> None:
    """Convert 4-D parameters and buffers to channels-last (NHWC) strides, which cuDNN's tensor-core kernels prefer."""
    for m in modules:
        m.to(memory_format=torch.channels_last)
