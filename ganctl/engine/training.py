"""The training loop shared by every family: a schedule-driven step (phases, accumulation, EMA), ticks, snapshots and
fault handling. Reading one training step here should not need other files; the loop's helpers live beside it:
schedule.py (what to do at cur_nimg), phases.py (G's and D's optimizers and their rates), feed.py (which real images),
state.py (checkpoints), loss_scaling.py (fp16), batch_fit.py (CUDA batch_gpu probe), reporting.py (tick records).

Reproducibility: every source of randomness is keyed on counters, not on history. The data order is a pure function
of (seed, image position) (feed.py); the schedule's stage is a pure function of cur_nimg (schedule.py); before each
chunk of each phase the global RNG is seeded from (seed, step, phase, chunk). So a run resumed from a checkpoint at
step k repeats exactly what an uninterrupted run does from step k, and a global batch gives the same latents whether
it is split over one process or several.
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganctl.config.schema import loss_class
from ganctl.data.dataset import PreparedDataset
from ganctl.engine import acceleration, conditioning, distributed, privacy, rundir
from ganctl.engine import checkpoint as ckpt
from ganctl.engine.batch_fit import fit_batch_gpu
from ganctl.engine.feed import DataFeed, to_float
from ganctl.engine.loss_scaling import LossScaler
from ganctl.engine.metric_eval import TrainingMetrics
from ganctl.engine.phases import Phase, make_phases, set_learning_rates
from ganctl.engine.reporting import TickReporter
from ganctl.engine.schedule import Stage, make_schedule
from ganctl.engine.state import load_state, save_checkpoint
from ganctl.errors import Interrupted, TrainingDiverged, UsageError
from ganctl.models import build_networks, get_family
from ganctl.models.cross_replica_bn import to_cross_replica
from ganctl.sampling.conditioned import pair_rows
from ganctl.sampling.grid import make_grid, save_png
from ganctl.sampling.latents import images_for_seeds, to_uint8


def _mix_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def check_buildable(cfg: dict, dataset: PreparedDataset) -> None:
    """Refuse a config whose networks cannot be built for this dataset (bad model keys, resolution, schedule maps)
    before anything is written: the networks are built on the meta device, which allocates nothing."""
    conditioning.check_data(cfg, get_family(cfg["model"]["family"]), dataset)
    num_classes = dataset.num_classes if cfg["model"]["conditional"] else 0
    if cfg["model"]["conditional"] and not num_classes:
        raise UsageError(f"config key model.conditional: dataset {dataset.path} has no class labels; prepare it from class "
                         f"subfolders or labelled data, or set model.conditional=false")
    if cfg["train"]["real_labels"] == "uniform" and not dataset.num_classes:
        raise UsageError(f"config key train.real_labels: uniform draws real images class by class, and dataset "
                         f"{dataset.path} has no class labels; prepare it from class subfolders or set train.real_labels=dataset")
    make_schedule(cfg, dataset.resolution)
    if cfg["train"]["metrics"]:
        TrainingMetrics.find_weights(cfg)
    with torch.device("meta"):
        _, D = build_networks(cfg, dataset.resolution, dataset.channels, num_classes)
    privacy.check(cfg, D)


class Trainer:
    """One training run. `emit(event: dict)` receives progress events; nothing is printed here.

    `init_tensors` ("G/...", "D/...", "G_ema/..." state-dict tensors) starts the networks from another network
    (fine-tuning); `origin` says where they came from and is recorded in every checkpoint.
    """

    def __init__(self, cfg: dict, dataset: PreparedDataset, run_dir: Path | None, device: torch.device,
                 emit: Callable[[dict], None] = lambda e: None, checkpoint: Path | None = None,
                 init_tensors: dict | None = None, origin: dict | None = None):
        self.cfg, self.ds, self.run_dir, self.device, self.emit = cfg, dataset, run_dir, device, emit
        self.origin = origin
        self.rank, self.world_size = distributed.dist_info()
        t = cfg["train"]
        self.seed = t["seed"]
        # The caller's intra-op thread count, restored when run() returns: a library caller's later computations
        # (whose float results depend on the thread count) must not inherit the run's setting.
        self._caller_threads = torch.get_num_threads()
        if t["threads"]:
            torch.set_num_threads(t["threads"])  # small models on few cores run faster with fewer threads
        self.family = get_family(cfg["model"]["family"])
        # Image-conditioned families read dicts of pairs from their BatchSource (engine/conditioning.py).
        self.source = conditioning.check_data(cfg, self.family, dataset)
        self.schedule = make_schedule(cfg, dataset.resolution)
        self.num_classes = dataset.num_classes if cfg["model"]["conditional"] else 0
        if cfg["model"]["conditional"] and not self.num_classes:
            raise UsageError(f"config key model.conditional: dataset {dataset.path} has no class labels; prepare it from class "
                             f"subfolders or labelled data, or set model.conditional=false")
        torch.manual_seed(self.seed)  # network initialisation
        self.G, self.D = build_networks(cfg, dataset.resolution, dataset.channels, self.num_classes)
        if self.world_size > 1 and self.family.uses_batchnorm:
            # Batch-norm statistics over the global batch, so N processes compute what one process does.
            to_cross_replica(self.G)
            to_cross_replica(self.D)
        self.G.to(device).train()
        self.D.to(device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        if init_tensors:
            for prefix, m in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
                state = ckpt.module_state(prefix, init_tensors)
                if state:
                    m.load_state_dict(state)
        from ganctl.augment import build_augment

        self.augment_pipe = build_augment(cfg["augment"], dataset.channels)
        if self.augment_pipe is not None:
            self.augment_pipe.to(device)
        self.loss = loss_class(cfg["loss"]["type"])(self.G, self.D, cfg["loss"], device, augment_pipe=self.augment_pipe).to(device)
        self.channels_last = bool(t["channels_last"])
        if self.channels_last:
            acceleration.to_channels_last(self.G, self.D, self.G_ema)
        acceleration.enable_compile(self.loss, t["compile"])
        self.precision = self._resolve_precision(t["precision"])
        self.scaler = LossScaler(self.precision == "fp16")
        self.cur_nimg = 0        # images shown to D (d_steps batches per step)
        self.data_nimg = 0       # position in the real-image stream (feed.py)
        self.step = 0
        self.batch_idx = 0       # real batches read (kept for older checkpoints and logs)
        self.cur_tick = 0
        self.tick_start_nimg = 0
        self.total_time = 0.0
        self.nonfinite_skips = 0
        self._stop_signal: str | None = None
        self._labels_all = torch.from_numpy(dataset.labels) if self.num_classes else None
        first = self.schedule.at(0)
        self.stage_index = first.index
        self.apply_stage(first)
        self.phases = make_phases(self.cfg["optim"], self.G, self.D, first.lr_g, first.lr_d)
        self.feed: DataFeed | None = None
        # DP-SGD on D (privacy.*): per-sample hooks on D, clip + noise after each D phase, the accountant.
        self.privacy = None
        if privacy.enabled(cfg):
            privacy.check(cfg, self.D)
            self.privacy = privacy.PrivateDiscriminator(cfg, self.D, len(dataset), self.world_size, self.rank,
                                                        self.batch_gpu)
        # Quality metrics during training (same protocol as `ganctl fid/kid/is`); missing detector weights fail here.
        self.metrics = TrainingMetrics(cfg, dataset, run_dir, device)
        if checkpoint is not None:
            load_state(self, checkpoint)

    def _resolve_precision(self, mode: str) -> str:
        """auto: the family's declared precision on CUDA (bf16 autocast for the classic ones; StyleGAN2 keeps fp32
        with its own fp16 top layers); fp32 on CPU."""
        if mode != "auto":
            return mode
        return self.family.precision if self.device.type == "cuda" else "fp32"

    def autocast(self):
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    def stateful_modules(self):
        mods = [("G", self.G), ("D", self.D), ("G_ema", self.G_ema), ("loss", self.loss)]
        if self.augment_pipe is not None and list(self.augment_pipe.state_dict()):
            mods.append(("augment", self.augment_pipe))
        return mods

    # -- the schedule ----------------------------------------------------------------------------------------
    def apply_stage(self, stage: Stage) -> None:
        """Batch sizes and the networks' resolution/alpha for `stage` (optimizers and feed are left alone)."""
        per_rank, rem = divmod(stage.batch, self.world_size)
        if rem or per_rank < 1:
            raise UsageError(f"config key train.batch: batch {stage.batch} does not split over {self.world_size} processes; "
                             f"use a multiple of {self.world_size}")
        batch_gpu = stage.batch_gpu or per_rank
        if per_rank % batch_gpu:
            raise UsageError(f"config key train.batch_gpu: batch {stage.batch} is not a multiple of batch_gpu {batch_gpu} x "
                             f"{self.world_size} processes")
        self.stage, self.batch, self.batch_gpu = stage, stage.batch, batch_gpu
        if self.schedule.has_stages:
            for net in (self.G, self.D, self.G_ema):
                net.set_stage(stage.resolution, stage.alpha)

    def _enter_phase(self, stage: Stage) -> None:
        """A phase boundary: rebuild what depends on the phase (feed for the new batch, optimizers when the stage says
        so, the CUDA batch_gpu probe)."""
        old_batch = self.batch
        self.apply_stage(stage)
        self.stage_index = stage.index
        if stage.reset_optimizers:
            self.phases = make_phases(self.cfg["optim"], self.G, self.D, stage.lr_g, stage.lr_d)
        if self.feed is not None and stage.batch != old_batch:
            self.feed.close()
            self.feed = self._new_feed()
        if self.feed is not None:
            self._fit_batch_gpu()
        self.emit({"type": "message", "text": f"kimg {self.cur_nimg / 1000:.3f}: {stage.describe()}"
                                              f"{', optimizer state reset' if stage.reset_optimizers else ''}"})

    def _new_feed(self) -> DataFeed:
        t = self.cfg["train"]
        return DataFeed(self.ds, self.batch, self.seed, start_nimg=self.data_nimg, mirror=t["mirror"], rank=self.rank,
                        world_size=self.world_size, workers=t["workers"], source=self.source,
                        balanced=t["real_labels"] == "uniform")

    def _fit_batch_gpu(self) -> None:
        item = self.feed.load(self.data_nimg)
        fit_batch_gpu(self, *(item if isinstance(item, tuple) else (item, None)))

    # -- images ----------------------------------------------------------------------------------------------
    def grid_seeds(self) -> list[int]:
        return list(range(self.cfg["train"]["grid_size"]))

    def generate(self, G, seeds, class_idx=None) -> torch.Tensor:
        """uint8 images by seed, the same rule `ganctl sample` uses (grids are comparable across runs)."""
        return torch.cat([to_uint8(images_for_seeds(G, seeds[i:i + 64], self.num_classes, self.device, class_idx)).cpu()
                          for i in range(0, len(seeds), 64)])

    def save_grids(self, reals: bool = False) -> None:
        if self.rank != 0 or self.run_dir is None:
            return
        n = self.cfg["train"]["grid_size"]
        if n <= 0:
            return
        if self.source is not None:
            if not reals:  # the fakes grid shows the reals beside the outputs: [input | G_ema(input) | target] rows
                path = self.run_dir / f"fakes-{self.cur_nimg // 1000:06d}.png"
                rows = pair_rows(self.G_ema, conditioning.grid_batch(self.source, n), self.device)
                save_png(make_grid(rows, cols=3), path)
                self.emit({"type": "grid", "path": str(path)})
            return
        if reals:
            imgs, _ = self.ds.get_batch(np.arange(min(n, len(self.ds))))
            # Real training images: no AI-generated statement on them.
            save_png(make_grid(torch.from_numpy(imgs)), self.run_dir / "reals.png", provenance=None)
        path = self.run_dir / f"fakes-{self.cur_nimg // 1000:06d}.png"
        save_png(make_grid(self.generate(self.G_ema, self.grid_seeds())), path)
        self.emit({"type": "grid", "path": str(path)})

    # -- one step --------------------------------------------------------------------------------------------
    def _gen_labels(self, step: int, phase_idx: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        g = torch.Generator().manual_seed(_mix_seed(self.seed, step, phase_idx, 0xC1A55))
        if self.cfg["train"]["gen_labels"] == "uniform":
            # BigGAN-PyTorch's sampling: every class equally often, so rare classes of an imbalanced set are trained
            # (and judged by a class-balanced measure) as often as common ones; D still sees reals as the data has them.
            return torch.randint(self.num_classes, (self.batch,), generator=g).to(self.device)
        idx = torch.randint(len(self._labels_all), (self.batch,), generator=g)  # StyleGAN2-ADA's: the data's label mix
        return self._labels_all[idx].to(self.device)

    def _gen_z(self, step: int, phase_idx: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(_mix_seed(self.seed, step, phase_idx, 0x2))
        return torch.randn(self.batch, self.G.z_dim, generator=g).to(self.device)

    def _next_reals(self):
        item = self.feed.next()
        self.batch_idx += 1
        self.data_nimg += self.batch
        if self.source is not None:
            return conditioning.to_float(item, self.device, self.channels_last), None
        real_u8, real_c = item
        real = self.schedule.process_reals(to_float(real_u8, self.device), self.stage)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        return real, (real_c.to(self.device) if self.num_classes else None)

    def _run_phase(self, ph: Phase, phase_idx: int, real: torch.Tensor, real_c, stats: dict) -> None:
        """One phase of one step: accumulate the loss's gradients over batch_gpu chunks of this rank's share, all-reduce
        them over ranks, and step the optimizer (unless fp16 overflowed or the gradients are non-finite)."""
        lo = self.rank * (self.batch // self.world_size)
        hi = lo + self.batch // self.world_size
        if self.source is None:
            gen_z = self._gen_z(self.step, phase_idx)[lo:hi]
            gen_c = self._gen_labels(self.step, phase_idx)
            gen_c = gen_c[lo:hi] if gen_c is not None else None
        n_chunks_total = self.batch // self.batch_gpu
        if self.privacy is not None:
            self.privacy.hooks(ph.name[0] == "D")
        ph.module.requires_grad_(True)
        ph.opt.zero_grad(set_to_none=True)
        for k in range(0, hi - lo, self.batch_gpu):
            sl = slice(k, k + self.batch_gpu)
            global_chunk = (lo + k) // self.batch_gpu
            torch.manual_seed(_mix_seed(self.seed, self.step, phase_idx, global_chunk))
            gain = ph.interval / n_chunks_total * self.scaler.scale
            with self.autocast():
                if self.source is not None:  # image-conditioned: the loss gets this chunk of the pair dict
                    s = self.loss.accumulate_gradients(ph.name, conditioning.chunk(real, sl), gain, self.cur_nimg)
                else:
                    s = self.loss.accumulate_gradients(ph.name, real[sl], real_c[sl] if real_c is not None else None,
                                                       gen_z[sl], gen_c[sl] if gen_c is not None else None, gain,
                                                       self.cur_nimg)
            for key, v in s.items():
                stats.setdefault(key, []).append(v)
            if "Augment/real_sign_sum" in s and hasattr(self.augment_pipe, "accumulate"):
                self.augment_pipe.accumulate(s["Augment/real_sign_sum"], int(s["Augment/real_count"]))
        if self.privacy is not None and ph.name[0] == "D":
            self.privacy.privatize(ph.module, _mix_seed(self.seed, self.step, phase_idx, 0xD9))
        params = [p for p in ph.module.parameters() if p.grad is not None]
        if self.world_size > 1 and params:
            import torch.distributed as dist

            flat = torch.cat([p.grad.flatten() for p in params])
            dist.all_reduce(flat)  # sum of per-rank shares of the global mean
            off = 0
            for p in params:
                p.grad.copy_(flat[off:off + p.numel()].view_as(p))
                off += p.numel()
        self.scaler.unscale_(params)
        finite = bool(torch.stack([p.grad.isfinite().all() for p in params]).all()) if params else True
        if self.scaler.overflowed(finite):
            stats.setdefault("Progress/fp16_overflows", []).append(1.0)
        elif not finite:
            self._nonfinite(f"gradients of {ph.name[0]} in phase {ph.name}")
            stats.setdefault("Progress/nonfinite_skips", []).append(1.0)
        else:
            ph.opt.step()
            self.scaler.stepped()
        ph.module.requires_grad_(False)

    def _train_step(self, tick_stats: dict) -> None:
        """One step at the schedule's stage for cur_nimg: d_steps D updates (each on a fresh real batch), one G update,
        then G_ema and ADA."""
        stage = self.schedule.at(self.cur_nimg)
        if stage.index != self.stage_index:
            self._enter_phase(stage)
        elif self.schedule.has_stages:
            self.apply_stage(stage)  # alpha moves every step during a fade
        if getattr(self.schedule, "lr_varies", False):  # a rate that moves every step (translation's linear decay)
            self.stage = stage
        if self.schedule.has_stages or getattr(self.schedule, "lr_varies", False):
            set_learning_rates(self.phases, self.stage.lr_g, self.stage.lr_d)
        d_steps = self.cfg["optim"]["d_steps"]
        d_phases = [(i, p) for i, p in enumerate(self.phases) if p.name[0] == "D"]
        g_phases = [(i, p) for i, p in enumerate(self.phases) if p.name[0] == "G"]
        # d_steps real batches, read in stream order; D's k-th update uses the k-th, G's update the last. The family's
        # phase_order says whether D (the classic order, pix2pix) or G (CycleGAN) updates first.
        reals = [self._next_reals() for _ in range(d_steps)]
        for which in self.family.phase_order:
            if which == "D":
                for rep, (real, real_c) in enumerate(reals):
                    for i, ph in d_phases:
                        if self.step % ph.interval == 0:
                            self._run_phase(ph, i + 100 * rep, real, real_c, tick_stats)
            else:
                real, real_c = reals[-1]
                for i, ph in g_phases:
                    if self.step % ph.interval == 0:
                        self._run_phase(ph, i, real, real_c, tick_stats)
        self.cur_nimg += self.batch * d_steps
        self.step += 1
        self._update_ema()
        self._update_ada()

    def _nonfinite(self, what: str) -> None:
        if self.cfg["train"]["nonfinite"] == "skip":
            self.nonfinite_skips += 1
            if self.nonfinite_skips <= 100:
                return
        last = ckpt.latest_checkpoint(self.run_dir / rundir.CHECKPOINTS) if self.run_dir else None
        where = f"; the last good checkpoint is {last}" if last else ""
        raise TrainingDiverged(f"training diverged: non-finite {what} at kimg {self.cur_nimg / 1000:.1f}{where}. "
                               f"Lower optim.g.lr/optim.d.lr or set train.nonfinite=skip")

    @torch.no_grad()
    def _update_ema(self) -> None:
        t = self.cfg["train"]
        if self.cur_nimg < t["ema_start_kimg"] * 1000:
            beta = 0.0  # before the EMA starts, G_ema is a copy of G (BigGAN's late EMA start)
        elif t["ema_beta"] is not None:
            beta = t["ema_beta"]  # a fixed decay per step (ProGAN's G smoothing)
        else:
            ema_nimg = t["ema_kimg"] * 1000
            if t["ema_rampup"]:
                ema_nimg = min(ema_nimg, self.cur_nimg * t["ema_rampup"])
            beta = 0.5 ** (self.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    def _update_ada(self) -> None:
        pipe = self.augment_pipe
        if pipe is None or not hasattr(pipe, "update") or self.step % pipe.interval:
            return
        if self.world_size > 1:  # every rank must move p the same way: pool the signs first
            import torch.distributed as dist

            both = torch.stack([pipe.rt_sum, pipe.rt_count]).to(self.device)
            dist.all_reduce(both)
            pipe.rt_sum.copy_(both[0])
            pipe.rt_count.copy_(both[1])
        pipe.update(self.batch)

    def _weights_finite(self) -> bool:
        return bool(torch.stack([p.isfinite().all() for p in self.G.parameters()] + [p.isfinite().all() for p in self.D.parameters()]).all())

    # -- the loop --------------------------------------------------------------------------------------------
    def _install_signal_handlers(self):
        def handler(signum, frame):
            self._stop_signal = signal.Signals(signum).name
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, handler)
            except ValueError:  # not in the main thread (library use): no handlers
                pass
        return old

    def save_checkpoint(self, best: bool = False) -> Path | None:
        return save_checkpoint(self, best)

    def _evaluate_metrics(self) -> dict:
        """Metrics on G_ema at a metric tick (every rank takes part; rank 0 writes metrics.jsonl). Returns the fields
        for the tick record; emits the values and any severe live finding as one warning line each."""
        records = self.metrics.evaluate(self.G_ema, self.cur_nimg)
        self.emit({"type": "metrics", "kimg": self.cur_nimg / 1000, "records": records, "best": self.metrics.improved})
        for finding in self.metrics.live_findings():
            self.emit({"type": "warning", "text": finding.line()})
        return TrainingMetrics.stats_fields(records)

    def run(self, total_kimg: float | None = None) -> dict:
        t = self.cfg["train"]
        total_nimg = int(round((total_kimg if total_kimg is not None else t["kimg"]) * 1000))
        budget_nimg = self.privacy.budget_nimg(self.cfg["optim"]["d_steps"]) if self.privacy is not None else None
        if budget_nimg is not None and budget_nimg < total_nimg:
            total_nimg = max(budget_nimg, self.cur_nimg)  # the privacy budget ends the run here
            self.emit({"type": "message", "text": f"privacy budget epsilon={self.privacy.epsilon_budget} ends the run at "
                                                  f"kimg {total_nimg / 1000:.3f}"})
        self.feed = self._new_feed()
        old_handlers = self._install_signal_handlers()
        reporter = TickReporter(self)
        if self.cur_nimg == 0 and self.run_dir is not None:
            self.save_grids(reals=True)
        self.emit({"type": "start", "kimg": self.cur_nimg / 1000, "total_kimg": total_nimg / 1000, "device": str(self.device),
                   "precision": self.precision})
        self._fit_batch_gpu()
        snapshot_sec = (t["snapshot_minutes"] or 0) * 60
        last_save = time.time()
        tick_stats: dict = {}
        tick_t0 = time.time()
        tick_nimg0 = self.cur_nimg
        try:
            while self.cur_nimg < total_nimg:
                self._train_step(tick_stats)
                for key, vals in list(tick_stats.items()):
                    if any(not math.isfinite(v) for v in vals[-3:]) and t["nonfinite"] == "stop":
                        self._nonfinite(f"loss {key}")
                self.emit({"type": "step", "kimg": self.cur_nimg / 1000, "total_kimg": total_nimg / 1000,
                           "images_per_sec": (self.cur_nimg - tick_nimg0) / max(time.time() - tick_t0, 1e-9)})
                done = self.cur_nimg >= total_nimg
                if done or self.cur_nimg >= self.tick_start_nimg + t["tick_kimg"] * 1000 or self._stop_signal:
                    if not self._weights_finite():
                        self._nonfinite("weights")
                    dt = time.time() - tick_t0
                    self.total_time += dt
                    self.cur_tick += 1
                    record = reporter.record(tick_stats, dt, self.cur_nimg - tick_nimg0)
                    if self.privacy is not None:
                        record.update(self.privacy.tick_fields())
                    # Evaluation time is not training time: it is measured apart and not in the tick's img/s.
                    metric_tick = self.metrics.due(self.cur_tick, done)
                    if metric_tick:
                        record.update(self._evaluate_metrics())
                    reporter.write(record)
                    self.emit({"type": "tick", **record})
                    self.tick_start_nimg = self.cur_nimg
                    if done or self._stop_signal or metric_tick or self.cur_tick % t["snapshot_ticks"] == 0:
                        self.save_checkpoint(best=metric_tick and self.metrics.improved)
                        last_save = time.time()
                    if done or self.cur_tick % t["image_snapshot_ticks"] == 0:
                        self.save_grids()
                    tick_stats, tick_t0, tick_nimg0 = {}, time.time(), self.cur_nimg
                    if self._stop_signal:
                        raise Interrupted(f"{self._stop_signal} received: state saved at kimg {self.cur_nimg / 1000:.3f}; "
                                          f"continue with `ganctl resume {self.run_dir}`")
                    stop = self.metrics.stop_reason() if metric_tick else None
                    if stop:
                        best = self.metrics.best()
                        hint = f"; the best checkpoint ({best[0]} {best[1]:.4g} at kimg {best[2]:.1f}) is checkpoints/best" if best else ""
                        raise TrainingDiverged(f"run stopped by {stop}; state saved at kimg {self.cur_nimg / 1000:.3f}{hint}")
                elif snapshot_sec and time.time() - last_save >= snapshot_sec:
                    # Wall-clock cadence for preemptible machines: a checkpoint mid-tick changes nothing the run computes.
                    self.save_checkpoint()
                    last_save = time.time()
        finally:
            self.feed.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            reporter.close()
            torch.set_num_threads(self._caller_threads)
        self.emit({"type": "done", "kimg": self.cur_nimg / 1000, "run_dir": str(self.run_dir)})
        res = {"kimg": self.cur_nimg / 1000, "run_dir": str(self.run_dir), "seconds": self.total_time}
        return {**res, "energy": self.energy_totals} if getattr(self, "energy_totals", None) else res
