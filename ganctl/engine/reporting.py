"""What a run reports at each tick: the tick record (progress, timing, every loss/score stat as a mean over all
processes, augmentation p, the schedule's stage, GPU memory), appended to stats.jsonl and TensorBoard by rank 0.

The engine never prints; records go out as events for the CLI to render.
"""

from __future__ import annotations

import time

import torch

from ganctl.engine import distributed, energy, rundir


class TickReporter:
    def __init__(self, trainer):
        self.tr = trainer
        self.tb = self._tensorboard()
        # Energy: rank 0 measures the whole machine (every rank would count it again); the checkpoint keeps the totals.
        trainer.energy = energy.start(trainer.cfg["train"].get("energy"), getattr(trainer, "energy_prior", None),
                                      trainer.emit) if trainer.rank == 0 else None

    def _tensorboard(self):
        tr = self.tr
        if not tr.cfg["train"]["tensorboard"] or tr.rank != 0 or tr.run_dir is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed: optional
            return None
        return SummaryWriter(str(tr.run_dir))

    def record(self, tick_stats: dict, dt: float, nimg: int) -> dict:
        """The tick's record. Collective under several processes: every rank calls it at the same tick."""
        tr = self.tr
        rec = {"Progress/tick": tr.cur_tick, "Progress/kimg": tr.cur_nimg / 1000, "Timing/sec_per_tick": dt,
               "Timing/sec_per_kimg": dt / max(nimg / 1000, 1e-9), "Timing/images_per_sec": nimg / max(dt, 1e-9),
               "Timing/total_sec": tr.total_time, "timestamp": time.time()}
        means = distributed.mean_over_ranks(tick_stats, tr.world_size, tr.device)
        for k, v in means.items():
            if not k.startswith("Augment/real_"):
                rec[k] = v
        if means.get("Augment/real_count"):
            # E[sign(D(real))] over the tick: ADA's overfitting heuristic r_t, logged for every run (ratio of means =
            # ratio of sums, as every chunk contributes one entry to each list).
            rec["Scores/real_sign"] = means["Augment/real_sign_sum"] / means["Augment/real_count"]
        if tr.augment_pipe is not None and hasattr(tr.augment_pipe, "p"):
            rec["Augment/p"] = float(tr.augment_pipe.p)
        if tr.schedule.has_stages:
            st = tr.stage
            rec.update({"Schedule/phase": st.index, "Schedule/resolution": st.resolution, "Schedule/alpha": st.alpha,
                        "Schedule/batch": st.batch, "Schedule/lr_g": st.lr_g, "Schedule/lr_d": st.lr_d})
        elif getattr(tr.schedule, "lr_varies", False):  # a rate that moves (decay, multistep, cosine): log where it is
            rec.update({"Schedule/lr_g": tr.stage.lr_g, "Schedule/lr_d": tr.stage.lr_d})
        if tr.energy is not None:
            rec.update(tr.energy.tick_fields())
        if tr.device.type == "cuda":
            rec["Resources/peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated(tr.device) / 2**30
        return rec

    def write(self, rec: dict) -> None:
        tr = self.tr
        if tr.rank == 0 and tr.run_dir is not None:
            rundir.append_jsonl(tr.run_dir / rundir.STATS, rec)
            if self.tb is not None:
                for k, v in rec.items():
                    if isinstance(v, (int, float)):
                        self.tb.add_scalar(k, v, int(tr.cur_nimg / 1000))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.tr.energy is not None:
            self.tr.energy_totals = self.tr.energy.close()
            if self.tr.energy.error:
                self.tr.emit({"type": "warning", "text": self.tr.energy.error})
