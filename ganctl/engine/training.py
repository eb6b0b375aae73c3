"""The training loop shared by every family: phases, accumulation, EMA, ticks, snapshots, resume, fault handling.

Reproducibility: every source of randomness is keyed on counters, not on history. The data order is a pure function
of (seed, batch index) (see feed.py); before each chunk of each phase the global RNG is seeded from (seed, step, phase,
chunk). So a run resumed from a checkpoint at step k repeats exactly what an uninterrupted run does from step k, and a
global batch gives the same latents whether it is split over one process or several.
"""

from __future__ import annotations

import copy
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganctl.config.schema import loss_class
from ganctl.data.dataset import PreparedDataset
from ganctl.engine import acceleration
from ganctl.engine import checkpoint as ckpt
from ganctl.engine import distributed
from ganctl.engine import rundir
from ganctl.engine.feed import DataFeed, to_float
from ganctl.errors import Interrupted, TrainingDiverged, UsageError
from ganctl.models import build_networks, get_family
from ganctl.sampling.grid import make_grid, save_png
from ganctl.sampling.latents import images_for_seeds, to_uint8


@dataclass
class Phase:
    name: str  # Gmain, Greg, Gboth, Dmain, Dreg, Dboth
    module: torch.nn.Module
    opt: torch.optim.Optimizer
    interval: int


def _mix_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1, np.uint64)[0] >> 1)


class Trainer:
    """One training run. `emit(event: dict)` receives progress events; nothing is printed here."""

    def __init__(self, cfg: dict, dataset: PreparedDataset, run_dir: Path | None, device: torch.device,
                 emit: Callable[[dict], None] = lambda e: None, checkpoint: Path | None = None,
                 init_tensors: dict | None = None):
        self.cfg, self.ds, self.run_dir, self.device, self.emit = cfg, dataset, run_dir, device, emit
        self.rank, self.world_size = distributed.dist_info()
        t = cfg["train"]
        self.batch = t["batch"]
        self.batch_gpu = t["batch_gpu"] or self.batch // self.world_size
        if self.batch % (self.batch_gpu * self.world_size):
            raise UsageError(f"config key train.batch_gpu: batch {self.batch} is not a multiple of batch_gpu {self.batch_gpu} x {self.world_size} processes")
        self.seed = t["seed"]
        if t["threads"]:
            torch.set_num_threads(t["threads"])  # small models on few cores run faster with fewer threads
        self.num_classes = dataset.num_classes if cfg["model"]["conditional"] else 0
        if cfg["model"]["conditional"] and not self.num_classes:
            raise UsageError(f"config key model.conditional: dataset {dataset.path} has no class labels; prepare it from class "
                             f"subfolders or labelled data, or set model.conditional=false")
        torch.manual_seed(self.seed)  # network initialisation
        self.G, self.D = build_networks(cfg, dataset.resolution, dataset.channels, self.num_classes)
        self.G.to(device).train()
        self.D.to(device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        for prefix, m in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):  # fine-tuning: start from a network
            if init_tensors and ckpt.module_state(prefix, init_tensors):
                m.load_state_dict(ckpt.module_state(prefix, init_tensors))
        from ganctl.augment import build_augment

        self.augment_pipe = build_augment(cfg["augment"], dataset.channels)
        if self.augment_pipe is not None:
            self.augment_pipe.to(device)
        self.loss = loss_class(cfg["loss"]["type"])(self.G, self.D, cfg["loss"], device, augment_pipe=self.augment_pipe).to(device)
        self.channels_last = bool(t["channels_last"])
        if self.channels_last:
            acceleration.to_channels_last(self.G, self.D, self.G_ema)
        acceleration.enable_compile(self.loss, t["compile"])
        self.phases = self._make_phases()
        self.precision = self._resolve_precision(t["precision"])
        self.loss_scale = 2.0**15 if self.precision == "fp16" else 1.0
        self._good_steps = 0
        self.cur_nimg = 0
        self.step = 0
        self.batch_idx = 0
        self.cur_tick = 0
        self.tick_start_nimg = 0
        self.total_time = 0.0
        self.nonfinite_skips = 0
        self._stop_signal: str | None = None
        self._labels_all = torch.from_numpy(dataset.labels) if self.num_classes else None
        if checkpoint is not None:
            self.load_state(checkpoint)

    def _resolve_precision(self, mode: str) -> str:
        """auto: bf16 autocast for classic families on CUDA; StyleGAN2 keeps fp32 with its own fp16 top layers; CPU fp32."""
        if mode != "auto":
            return mode
        if self.device.type == "cuda":
            return get_family(self.cfg["model"]["family"]).precision
        return "fp32"

    def _autocast(self):
        import contextlib

        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    # -- construction ----------------------------------------------------------------------------------------
    def _make_phases(self) -> list[Phase]:
        o = self.cfg["optim"]
        phases = []
        for name, module, ocfg, interval in (("D", self.D, o["d"], o["d_reg_interval"]), ("G", self.G, o["g"], o["g_reg_interval"])):
            params = [p for p in module.parameters()]
            if interval is None:
                opt = torch.optim.Adam(params, lr=ocfg["lr"], betas=tuple(ocfg["betas"]), eps=ocfg["eps"])
                phases.append(Phase(name + "both", module, opt, 1))
            else:
                # Lazy regularisation (Karras et al. 2020): scale lr and betas so the effective step matches.
                r = interval / (interval + 1)
                opt = torch.optim.Adam(params, lr=ocfg["lr"] * r, betas=tuple(b**r for b in ocfg["betas"]), eps=ocfg["eps"])
                phases += [Phase(name + "main", module, opt, 1), Phase(name + "reg", module, opt, interval)]
        return phases

    def _stateful(self):
        mods = [("G", self.G), ("D", self.D), ("G_ema", self.G_ema), ("loss", self.loss)]
        if self.augment_pipe is not None and list(self.augment_pipe.state_dict()):
            mods.append(("augment", self.augment_pipe))
        return mods

    # -- state -----------------------------------------------------------------------------------------------
    def state_tensors(self) -> tuple[dict, dict]:
        tensors = {}
        for prefix, m in self._stateful():
            tensors.update(ckpt.flatten_module(prefix, m))
        opt_meta = {}
        seen = set()
        for ph in self.phases:
            key = "opt_" + ph.name[0]
            if key in seen:
                continue
            seen.add(key)
            t, m = ckpt.flatten_optimizer(key, ph.opt)
            tensors.update(t)
            opt_meta[key] = m
        tensors["rng/torch"] = torch.get_rng_state()
        meta = {
            "config": self.cfg,
            "counters": {"cur_nimg": self.cur_nimg, "step": self.step, "batch_idx": self.batch_idx, "cur_tick": self.cur_tick,
                         "tick_start_nimg": self.tick_start_nimg, "total_time": self.total_time,
                         "loss_scale": self.loss_scale, "good_steps": self._good_steps},
            "precision": self.precision,
            "optimizers": opt_meta,
            "dataset": {"name": self.ds.name, "resolution": self.ds.resolution, "channels": self.ds.channels,
                        "label_names": self.ds.label_names if self.num_classes else [], "count": len(self.ds)},
        }
        return tensors, meta

    def load_state(self, path: Path) -> None:
        tensors, meta = ckpt.load_checkpoint(path)
        for prefix, m in self._stateful():
            m.load_state_dict(ckpt.module_state(prefix, tensors))
        seen = set()
        for ph in self.phases:
            key = "opt_" + ph.name[0]
            if key not in seen:
                seen.add(key)
                ph.opt.load_state_dict(ckpt.unflatten_optimizer(key, tensors, meta["optimizers"][key]))
        torch.set_rng_state(tensors["rng/torch"])
        c = meta["counters"]
        self.cur_nimg, self.step, self.batch_idx = c["cur_nimg"], c["step"], c["batch_idx"]
        self.cur_tick, self.tick_start_nimg, self.total_time = c["cur_tick"], c["tick_start_nimg"], c["total_time"]
        self.loss_scale, self._good_steps = c.get("loss_scale", self.loss_scale), c.get("good_steps", 0)

    def save_checkpoint(self) -> Path | None:
        if self.rank != 0 or self.run_dir is None:
            return None
        tensors, meta = self.state_tensors()
        ckpt_dir = self.run_dir / rundir.CHECKPOINTS
        path = ckpt.save_checkpoint(ckpt_dir / ckpt.checkpoint_name(self.cur_nimg), tensors, meta)
        ckpt.point_latest(ckpt_dir, path)
        keep = self.cfg["train"]["keep_checkpoints"]
        if keep and keep > 0:
            for old in ckpt.list_checkpoints(ckpt_dir)[:-keep]:
                old.unlink(missing_ok=True)
        self.emit({"type": "checkpoint", "path": str(path), "kimg": self.cur_nimg / 1000})
        return path

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
        if reals:
            imgs, _ = self.ds.get_batch(np.arange(min(n, len(self.ds))))
            save_png(make_grid(torch.from_numpy(imgs)), self.run_dir / "reals.png")
        path = self.run_dir / f"fakes-{self.cur_nimg // 1000:06d}.png"
        save_png(make_grid(self.generate(self.G_ema, self.grid_seeds())), path)
        self.emit({"type": "grid", "path": str(path)})

    # -- training --------------------------------------------------------------------------------------------
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

    def _gen_labels(self, step: int, phase_idx: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        g = torch.Generator().manual_seed(_mix_seed(self.seed, step, phase_idx, 0xC1A55))
        idx = torch.randint(len(self._labels_all), (self.batch,), generator=g)
        return self._labels_all[idx].to(self.device)

    def _gen_z(self, step: int, phase_idx: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(_mix_seed(self.seed, step, phase_idx, 0x2))
        return torch.randn(self.batch, self.G.z_dim, generator=g).to(self.device)

    def _run_phase(self, ph: Phase, phase_idx: int, real: torch.Tensor, real_c, stats: dict) -> None:
        lo = self.rank * (self.batch // self.world_size)
        hi = lo + self.batch // self.world_size
        gen_z = self._gen_z(self.step, phase_idx)[lo:hi]
        gen_c = self._gen_labels(self.step, phase_idx)
        gen_c = gen_c[lo:hi] if gen_c is not None else None
        n_chunks_total = self.batch // self.batch_gpu
        ph.module.requires_grad_(True)
        ph.opt.zero_grad(set_to_none=True)
        for k in range(0, hi - lo, self.batch_gpu):
            sl = slice(k, k + self.batch_gpu)
            global_chunk = (lo + k) // self.batch_gpu
            torch.manual_seed(_mix_seed(self.seed, self.step, phase_idx, global_chunk))
            with self._autocast():
                s = self.loss.accumulate_gradients(ph.name, real[sl], real_c[sl] if real_c is not None else None, gen_z[sl],
                                                   gen_c[sl] if gen_c is not None else None,
                                                   ph.interval / n_chunks_total * self.loss_scale, self.cur_nimg)
            for key, v in s.items():
                stats.setdefault(key, []).append(v)
            if "Augment/real_sign_sum" in s and hasattr(self.augment_pipe, "accumulate"):
                self.augment_pipe.accumulate(s["Augment/real_sign_sum"], int(s["Augment/real_count"]))
        params = [p for p in ph.module.parameters() if p.grad is not None]
        if self.world_size > 1 and params:
            import torch.distributed as dist

            flat = torch.cat([p.grad.flatten() for p in params])
            dist.all_reduce(flat)  # sum of per-rank shares of the global mean
            off = 0
            for p in params:
                p.grad.copy_(flat[off:off + p.numel()].view_as(p))
                off += p.numel()
        if self.loss_scale != 1.0:
            for p in params:
                p.grad.div_(self.loss_scale)
        finite = bool(torch.stack([p.grad.isfinite().all() for p in params]).all()) if params else True
        if not finite and self.precision == "fp16" and self.loss_scale > 1.0:
            # Dynamic loss scaling: an fp16 overflow is expected now and then; halve the scale and skip this step.
            self.loss_scale /= 2
            self._good_steps = 0
            stats.setdefault("Progress/fp16_overflows", []).append(1.0)
        elif not finite:
            self._nonfinite(f"gradients of {ph.name[0]} in phase {ph.name}")
            stats.setdefault("Progress/nonfinite_skips", []).append(1.0)
        else:
            ph.opt.step()
            if self.precision == "fp16":
                self._good_steps += 1
                if self._good_steps % 2000 == 0:
                    self.loss_scale = min(self.loss_scale * 2, 2.0**24)
        ph.module.requires_grad_(False)

    def _fit_batch_gpu(self, feed_sample) -> None:
        """On CUDA, probe one forward/backward of every phase at batch_gpu; on out-of-memory halve batch_gpu (the global
        batch, and so the result, stays the same: more accumulation rounds) until it fits. Optimizers are not stepped."""
        if self.device.type != "cuda":
            return
        real_u8, real_c = feed_sample
        # The probe runs real passes, which update buffers (w_avg, pl_mean, ADA's counters, BatchNorm statistics):
        # put them back afterwards, so a run (or a resume) computes the same as one that never probed.
        stateful = [m for m in (self.G, self.D, self.loss, self.augment_pipe) if m is not None]
        saved = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in stateful]
        try:
            self._probe_batch_gpu(real_u8, real_c)
        finally:
            for m, sd in zip(stateful, saved):
                m.load_state_dict(sd)

    def _probe_batch_gpu(self, real_u8, real_c) -> None:
        while True:
            try:
                real = to_float(real_u8[:self.batch_gpu], self.device)
                c = real_c[:self.batch_gpu].to(self.device) if self.num_classes else None
                z = torch.randn(self.batch_gpu, self.G.z_dim, device=self.device)
                for ph in self.phases:
                    ph.module.requires_grad_(True)
                    with self._autocast():
                        self.loss.accumulate_gradients(ph.name, real, c, z, c, 1.0, self.cur_nimg)
                    ph.module.requires_grad_(False)
                    ph.opt.zero_grad(set_to_none=True)
                return
            except torch.cuda.OutOfMemoryError:
                for ph in self.phases:
                    ph.opt.zero_grad(set_to_none=True)
                    ph.module.requires_grad_(False)
                torch.cuda.empty_cache()
                per_rank = self.batch // self.world_size
                smaller = [b for b in range(self.batch_gpu - 1, 0, -1) if per_rank % b == 0 and b <= self.batch_gpu // 2]
                if not smaller:
                    raise TrainingDiverged(f"out of GPU memory even at train.batch_gpu=1; use a smaller model or train.precision=bf16") from None
                old, self.batch_gpu = self.batch_gpu, smaller[0]
                self.emit({"type": "message", "text": f"out of GPU memory at batch_gpu {old}: using batch_gpu {self.batch_gpu} "
                                                      f"(global batch {self.batch} unchanged, {per_rank // self.batch_gpu} accumulation rounds)"})

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

    def run(self, total_kimg: float | None = None) -> dict:
        t = self.cfg["train"]
        total_nimg = int(round((total_kimg if total_kimg is not None else t["kimg"]) * 1000))
        d_steps = self.cfg["optim"]["d_steps"]
        feed = DataFeed(self.ds, self.batch, self.seed, start=self.batch_idx, mirror=t["mirror"], rank=self.rank,
                        world_size=self.world_size, workers=t["workers"])
        old_handlers = self._install_signal_handlers()
        tb = self._tensorboard()
        if self.cur_nimg == 0 and self.run_dir is not None:
            self.save_grids(reals=True)
        self.emit({"type": "start", "kimg": self.cur_nimg / 1000, "total_kimg": total_nimg / 1000, "device": str(self.device),
                   "precision": self.precision})
        if self.device.type == "cuda":
            # The probe consumes RNG; restore it so the run is the same whether or not a probe happened.
            # Its forward passes also move buffers (batch-norm statistics, w_avg): put those back too.
            cpu_state, cuda_state = torch.get_rng_state(), torch.cuda.get_rng_state(self.device)
            saved = {name: copy.deepcopy(m.state_dict()) for name, m in self._stateful()}
            self._fit_batch_gpu(feed.load(self.batch_idx))
            for name, m in self._stateful():
                m.load_state_dict(saved[name])
            torch.set_rng_state(cpu_state)
            torch.cuda.set_rng_state(cuda_state, self.device)
        tick_stats: dict = {}
        tick_t0 = time.time()
        tick_nimg0 = self.cur_nimg
        try:
            while self.cur_nimg < total_nimg:
                d_phases = [(i, p) for i, p in enumerate(self.phases) if p.name[0] == "D"]
                g_phases = [(i, p) for i, p in enumerate(self.phases) if p.name[0] == "G"]
                for rep in range(d_steps):
                    real_u8, real_c = feed.next()
                    self.batch_idx += 1
                    real = to_float(real_u8, self.device)
                    if self.channels_last:
                        real = real.contiguous(memory_format=torch.channels_last)
                    real_c = real_c.to(self.device) if self.num_classes else None
                    for i, ph in d_phases:
                        if self.step % ph.interval == 0:
                            self._run_phase(ph, i + 100 * rep, real, real_c, tick_stats)
                for i, ph in g_phases:
                    if self.step % ph.interval == 0:
                        self._run_phase(ph, i, real, real_c, tick_stats)
                self.cur_nimg += self.batch * d_steps
                self.step += 1
                self._update_ema()
                self._update_ada()
                for key, vals in list(tick_stats.items()):
                    if any(not math.isfinite(v) for v in vals[-3:]) and self.cfg["train"]["nonfinite"] == "stop":
                        self._nonfinite(f"loss {key}")

                done = self.cur_nimg >= total_nimg
                if done or self.cur_nimg >= self.tick_start_nimg + t["tick_kimg"] * 1000 or self._stop_signal:
                    if not self._weights_finite():
                        self._nonfinite("weights")
                    dt = time.time() - tick_t0
                    self.total_time += dt
                    self.cur_tick += 1
                    record = self._tick_record(tick_stats, dt, self.cur_nimg - tick_nimg0)
                    if self.rank == 0 and self.run_dir is not None:
                        rundir.append_jsonl(self.run_dir / rundir.STATS, record)
                        if tb is not None:
                            for k, v in record.items():
                                if isinstance(v, (int, float)):
                                    tb.add_scalar(k, v, int(self.cur_nimg / 1000))
                    self.emit({"type": "tick", **record})
                    self.tick_start_nimg = self.cur_nimg
                    tick_stats, tick_t0, tick_nimg0 = {}, time.time(), self.cur_nimg
                    if done or self._stop_signal or self.cur_tick % t["snapshot_ticks"] == 0:
                        self.save_checkpoint()
                    if done or self.cur_tick % t["image_snapshot_ticks"] == 0:
                        self.save_grids()
                    if self._stop_signal:
                        raise Interrupted(f"{self._stop_signal} received: state saved at kimg {self.cur_nimg / 1000:.3f}; "
                                          f"continue with `ganctl resume {self.run_dir}`")
        finally:
            feed.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if tb is not None:
                tb.close()
        self.emit({"type": "done", "kimg": self.cur_nimg / 1000, "run_dir": str(self.run_dir)})
        return {"kimg": self.cur_nimg / 1000, "run_dir": str(self.run_dir), "seconds": self.total_time}

    def _tick_record(self, tick_stats: dict, dt: float, nimg: int) -> dict:
        rec = {"Progress/tick": self.cur_tick, "Progress/kimg": self.cur_nimg / 1000, "Timing/sec_per_tick": dt,
               "Timing/sec_per_kimg": dt / max(nimg / 1000, 1e-9), "Timing/images_per_sec": nimg / max(dt, 1e-9),
               "Timing/total_sec": self.total_time, "timestamp": time.time()}
        for k, v in distributed.mean_over_ranks(tick_stats, self.world_size, self.device).items():
            if not k.startswith("Augment/real_"):
                rec[k] = v
        if self.augment_pipe is not None and hasattr(self.augment_pipe, "p"):
            rec["Augment/p"] = float(self.augment_pipe.p)
        if self.device.type == "cuda":
            rec["Resources/peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        return rec

    def _tensorboard(self):
        if not self.cfg["train"]["tensorboard"] or self.rank != 0 or self.run_dir is None:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed: optional
            return None
        return SummaryWriter(str(self.run_dir))
