"""A run's resumable state: turning a Trainer into checkpoint tensors + metadata and back, and writing checkpoints.

What a checkpoint holds: G, D, G_ema, the loss's buffers (pl_mean), the augmentation state (ADA's p), one optimizer
state per network, torch's CPU RNG state, and counters (cur_nimg, step, data position in images, tick, the schedule
phase the optimizers belong to, time, loss scaling). Everything else (data order, latents, the schedule's stage) is a
pure function of these, which is why `ganctl resume` continues exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganctl.engine import checkpoint as ckpt
from ganctl.engine import rundir


def _optimizers(trainer):
    """(key, optimizer) once per network: lazy regularisation's main and reg phases share one optimizer."""
    seen = {}
    for ph in trainer.phases:
        seen.setdefault("opt_" + ph.name[0], ph.opt)
    return list(seen.items())


def state_tensors(trainer) -> tuple[dict, dict]:
    tensors = {}
    for prefix, m in trainer.stateful_modules():
        tensors.update(ckpt.flatten_module(prefix, m))
    opt_meta = {}
    for key, opt in _optimizers(trainer):
        t, m = ckpt.flatten_optimizer(key, opt)
        tensors.update(t)
        opt_meta[key] = m
    tensors["rng/torch"] = torch.get_rng_state()
    ds = trainer.ds
    meta = {
        "config": trainer.cfg,
        "counters": {"cur_nimg": trainer.cur_nimg, "step": trainer.step, "batch_idx": trainer.batch_idx,
                     "data_nimg": trainer.data_nimg, "stage_index": trainer.stage_index, "cur_tick": trainer.cur_tick,
                     "tick_start_nimg": trainer.tick_start_nimg, "total_time": trainer.total_time,
                     **trainer.scaler.state()},
        "stage": {"resolution": trainer.stage.resolution, "alpha": trainer.stage.alpha, "kind": trainer.stage.kind,
                  "index": trainer.stage.index},
        "precision": trainer.precision,
        "optimizers": opt_meta,
        "dataset": {"name": ds.name, "resolution": ds.resolution, "channels": ds.channels,
                    "label_names": ds.label_names if trainer.num_classes else [], "count": len(ds)},
    }
    if trainer.origin:
        meta["origin"] = trainer.origin
    # The run's energy totals so far (engine/energy.py; resume adds to them), or what earlier sessions measured.
    energy = getattr(trainer, "energy", None)
    totals = (energy.totals() if energy is not None else None) or getattr(trainer, "energy_prior", None)
    if totals:
        meta["energy"] = totals
    if trainer.privacy is not None:
        meta["privacy"] = trainer.privacy.state()  # the accountant's history: resume continues the same count
    return tensors, meta


def load_state(trainer, path: Path) -> None:
    """Restore everything `state_tensors` saved into a freshly built trainer (same config)."""
    tensors, meta = ckpt.load_checkpoint(path)
    c = meta["counters"]
    trainer.cur_nimg, trainer.step, trainer.batch_idx = c["cur_nimg"], c["step"], c["batch_idx"]
    trainer.cur_tick, trainer.tick_start_nimg, trainer.total_time = c["cur_tick"], c["tick_start_nimg"], c["total_time"]
    # Checkpoints from before image-counted data positions had one constant batch: position = batches * batch.
    trainer.data_nimg = c.get("data_nimg", c["batch_idx"] * trainer.cfg["train"]["batch"])
    trainer.scaler.load(c)
    # The optimizers belong to the phase they were built in, which is not always the phase of cur_nimg: a checkpoint
    # written right at a boundary must still reset them on the next step, as the uninterrupted run does.
    trainer.stage_index = c.get("stage_index", 0)
    trainer.apply_stage(trainer.schedule.at(trainer.cur_nimg))
    for prefix, m in trainer.stateful_modules():
        m.load_state_dict(ckpt.module_state(prefix, tensors))
    for key, opt in _optimizers(trainer):
        opt.load_state_dict(ckpt.unflatten_optimizer(key, tensors, meta["optimizers"][key]))
    torch.set_rng_state(tensors["rng/torch"])
    trainer.energy_prior = meta.get("energy")
    if trainer.privacy is not None:
        trainer.privacy.load(meta.get("privacy"), path)


def save_checkpoint(trainer, best: bool = False) -> Path | None:
    """Write the state atomically (rank 0), re-point `latest` (and `best` when this state has the best metric so far),
    then prune checkpoints beyond keep_checkpoints, never the targets of `latest` or `best`."""
    if trainer.rank != 0 or trainer.run_dir is None:
        return None
    tensors, meta = state_tensors(trainer)
    ckpt_dir = trainer.run_dir / rundir.CHECKPOINTS
    path = ckpt.save_checkpoint(ckpt_dir / ckpt.checkpoint_name(trainer.cur_nimg), tensors, meta)
    ckpt.point_latest(ckpt_dir, path)
    if best:
        ckpt.point_best(ckpt_dir, path)
    ckpt.prune_checkpoints(ckpt_dir, trainer.cfg["train"]["keep_checkpoints"])
    trainer.emit({"type": "checkpoint", "path": str(path), "kimg": trainer.cur_nimg / 1000, "best": best})
    return path
