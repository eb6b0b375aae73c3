""""Standing statistics" for a generator's batch norm (Brock et al. 2019, BigGAN-PyTorch's accumulate_standing_stats):
instead of the running averages left by training, use the average batch statistics of N fresh forward passes.

Only the batch-norm layers run in training mode for these passes (cumulative averaging, torch's momentum=None); every
other module stays in eval mode, so spectral-norm vectors and anything else training mode would update are untouched.
The latents are the sampling rule's per-seed z for seeds 0 .. N * batch - 1 (classes by seed), so the result is
deterministic. G is left in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn

from ganctl.errors import UsageError
from ganctl.sampling.latents import classes_for_seeds, z_for_seeds


@torch.no_grad()
def accumulate_standing_stats(G: nn.Module, num_classes: int, passes: int, batch_size: int, device) -> int:
    """Reset G's batch-norm statistics to the average over `passes` forward passes of `batch_size`; returns how many
    batch-norm layers were updated."""
    if passes < 1:
        raise UsageError(f"--standing-stats {passes}: the number of forward passes must be at least 1, e.g. 16")
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        raise UsageError("--standing-stats: this generator has no batch norm; drop --standing-stats")
    G.eval()
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes
        m.train()
    try:
        for i in range(passes):
            seeds = range(i * batch_size, (i + 1) * batch_size)
            G(z_for_seeds(seeds, G.z_dim, device), classes_for_seeds(seeds, num_classes, None, device))
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        G.eval()
    return len(bns)
