"""Fitting batch_gpu to the GPU: on CUDA, probe one forward/backward of every training phase at batch_gpu and halve
it on out-of-memory until one fits. The global batch, and so the result, stays the same: only the number of
accumulation rounds changes. The engine runs this at start-up and again whenever the schedule changes the batch.
"""

from __future__ import annotations

import copy

import torch

from ganctl.engine.feed import to_float
from ganctl.errors import TrainingDiverged


def fit_batch_gpu(trainer, real_u8, real_c=None) -> None:
    """Probe `trainer`'s phases at trainer.batch_gpu, lowering it on OOM. No-op off CUDA.

    The probe runs real passes, which consume RNG and move buffers (w_avg, pl_mean, ADA's counters, batch-norm
    statistics): all of it is put back afterwards, so a run (or a resume) computes what one that never probed does.
    Optimizers are never stepped.
    """
    if trainer.device.type != "cuda":
        return
    cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state(trainer.device)
    saved = {name: copy.deepcopy(m.state_dict()) for name, m in trainer.stateful_modules()}
    try:
        _probe(trainer, real_u8, real_c)
    finally:
        for name, m in trainer.stateful_modules():
            m.load_state_dict(saved[name])
        torch.set_rng_state(cpu_state)
        torch.cuda.set_rng_state(cuda_state, trainer.device)


def _probe(tr, real_u8, real_c) -> None:
    while True:
        try:
            if isinstance(real_u8, dict):  # an image-conditioned family's pair dict (engine/conditioning.py)
                from ganctl.engine import conditioning

                pairs = conditioning.to_float(conditioning.chunk(real_u8, slice(0, tr.batch_gpu)), tr.device)
                args = (pairs,)
            else:
                real = tr.schedule.process_reals(to_float(real_u8[:tr.batch_gpu], tr.device), tr.stage)
                c = real_c[:tr.batch_gpu].to(tr.device) if tr.num_classes else None
                z = torch.randn(tr.batch_gpu, tr.G.z_dim, device=tr.device)
                args = (real, c, z, c)
            for ph in tr.phases:
                ph.module.requires_grad_(True)
                with tr.autocast():
                    tr.loss.accumulate_gradients(ph.name, *args, 1.0, tr.cur_nimg)
                ph.module.requires_grad_(False)
                ph.opt.zero_grad(set_to_none=True)
            return
        except torch.cuda.OutOfMemoryError:
            for ph in tr.phases:
                ph.opt.zero_grad(set_to_none=True)
                ph.module.requires_grad_(False)
            torch.cuda.empty_cache()
            per_rank = tr.batch // tr.world_size
            smaller = [b for b in range(tr.batch_gpu - 1, 0, -1) if per_rank % b == 0 and b <= tr.batch_gpu // 2]
            if not smaller:
                raise TrainingDiverged("out of GPU memory even at train.batch_gpu=1; use a smaller model or "
                                       "train.precision=bf16") from None
            old, tr.batch_gpu = tr.batch_gpu, smaller[0]
            tr.emit({"type": "message", "text": f"out of GPU memory at batch_gpu {old}: using batch_gpu {tr.batch_gpu} "
                                                f"(global batch {tr.batch} unchanged, {per_rank // tr.batch_gpu} accumulation rounds)"})
