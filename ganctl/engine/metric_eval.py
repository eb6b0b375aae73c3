"""Quality metrics while a run trains: FID/KID/IS/class_acc of G_ema against the training data, the best value, live warnings.

The numbers are the CLI's: the same detector, preprocessing protocols (FID: pytorch-fid; KID and IS: torch-fidelity,
the defaults of `ganctl fid/kid/is`), feature extraction and distance code (ganctl.metrics), the same per-seed images
(seeds 0..metric_num-1, class seed % classes) and the same real side (the first metric_num images of the dataset).
So an evaluation at kimg K equals `ganctl fid DATA RUN --checkpoint <state at K> --num metric_num` (KID: with
--subset-size min(1000, metric_num)). The real side's statistics (FID) and features (KID) are computed once per run
and cached in RUN/metrics-cache/, keyed by dataset, N, protocol and detector weights.

Under torchrun every rank generates and extracts its shard (the same sharding as the CLI); rank 0 computes the
values, appends them to RUN/metrics.jsonl and broadcasts them, so every rank returns the same records. An evaluation
restores the torch RNG states it found, so adding metrics to a run (or to a resume) never changes its training maths.

psnr, ssim, l1 (image-to-image families with paired data): G_ema's outputs for the val split's inputs against their
targets (DEST/val/, the family's BatchSource under a fixed seed), computed as `ganctl compare` does (engine/pair_metrics.py).
FID/KID/IS of an image-to-image family (paired or unpaired): G_ema's outputs for the val split's inputs are the
generated side and the val split's target-domain images the real side (no seeds, no training images), so a value
equals `ganctl fid TRANSLATED TARGETS --num metric_num` on those images written as PNGs.

class_acc (conditional runs): the share of G_ema's images for seeds 0..metric_num-1 (class seed % classes) that the
dataset's own classifier (ganctl.metrics.classifier, trained on first use with train.classifier_steps steps and
cached by the dataset's sha256 under $GANCTL_CACHE/classifiers) calls their requested class; the record also holds
the classifier's accuracy on held-out real images. It is `ganctl diagnose RUN --num metric_num`'s conditioning number.
Rank 0 computes it (no collective op runs inside it).

After each evaluation the cheap checks of ganctl.diagnose run on what is already at hand (the generated and real
features, stats.jsonl, metrics.jsonl): `live_findings()` returns the severe ones, `stop_reason()` says whether
train.stop_on asks to stop.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ganctl.diagnose.diversity import collapse_findings
from ganctl.diagnose.findings import Finding
from ganctl.diagnose.history import HIGHER_IS_BETTER, best_record, is_better, metric_findings, read_jsonl, stats_findings
from ganctl.engine import pair_metrics, rundir
from ganctl.engine.distributed import dist_info
from ganctl.errors import UsageError

# The CLI's default protocol per metric (ganctl/cli/cmd_metrics.py), so the values compare with `ganctl fid/kid/is`.
PROTOCOL = {"fid": "pytorch-fid", "kid": "torch-fidelity", "is": "torch-fidelity"}
CACHE_DIR = "metrics-cache"
KID_SUBSETS, KID_SUBSET_SIZE, IS_SPLITS = 100, 1000, 10
CLASS_ACC = "class_acc"  # not an Inception metric: the dataset's own classifier (metrics/classifier.py)
COLLAPSE_N = 500  # samples the live collapse check compares (pairwise distances: N^2 / 2 pairs)
STOP_AFTER = 2  # consecutive evaluations with the same severe finding before train.stop_on stops the run
STOP_CHECKS = {"collapse": ("mode-collapse",), "divergence": ("non-finite", "instability", "gp-blowup", "metric-regression")}


@contextmanager
def _rng_preserved(device: torch.device):
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)


def _json_floats(xs) -> list:
    """Rounded floats with NaN (a class without images) as null: NaN is not JSON."""
    return [None if math.isnan(a) else round(a, 4) for a in xs]


def _broadcast(obj):
    """rank 0's `obj` on every rank (no-op outside torch.distributed)."""
    if dist_info()[1] == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class TrainingMetrics:
    """Metric evaluations for one run. Construct at training start: missing detector weights fail here, not hours later."""

    def __init__(self, cfg: dict, dataset, run_dir: Path | None, device: torch.device, *, weights: str | None = None):
        t = cfg["train"]
        self.cfg, self.ds, self.device = cfg, dataset, torch.device(device)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.metrics = list(t["metrics"] or [])
        for m in self.metrics:
            if m not in HIGHER_IS_BETTER:
                raise UsageError(f"config key train.metrics: {m!r} is not one of {', '.join(HIGHER_IS_BETTER)}")
        if len(set(self.metrics)) != len(self.metrics):
            raise UsageError(f"config key train.metrics: {self.metrics} names a metric twice")
        self.ticks, self.num, self.stop_on = int(t["metric_ticks"]), int(t["metric_num"]), t["stop_on"]
        if self.ticks < 1:
            raise UsageError("config key train.metric_ticks: must be at least 1")
        lowest = IS_SPLITS if "is" in self.metrics else 2
        if self.num < lowest:
            raise UsageError(f"config key train.metric_num: {self.num} is too few; use at least {lowest} (5000+ for stable values)")
        if self.stop_on != "none" and not self.metrics:
            raise UsageError(f"config key train.stop_on={self.stop_on}: the live checks run at metric evaluations; "
                             "also set train.metrics (e.g. train.metrics=[fid])")
        self.conditional = bool(cfg["model"].get("conditional")) and dataset.num_classes > 0
        if CLASS_ACC in self.metrics and not self.conditional:
            raise UsageError("config key train.metrics: class_acc needs a conditional model on a labelled dataset "
                             "(model.conditional=true); drop class_acc for unconditional runs")
        self.inception_metrics = [m for m in self.metrics if m in PROTOCOL]
        self.pair_metrics = pair_metrics.wanted(cfg)
        from ganctl.models import get_family

        self.family = get_family(cfg["model"]["family"])
        # Image-to-image families are measured on the val split (engine/pair_metrics.py), not on seeds.
        self.held_out = self.family.image_conditioned
        self._val_batch = None  # the validation pairs (uint8), read once on first use
        self.classifier = None
        self.weights_arg = weights
        self.weights_path: Path | None = None
        self.weights_sha256: str | None = None
        self.batch_size = 100 if self.device.type == "cuda" else 25  # detector batch; the values do not depend on it
        self.channels_last = self.device.type == "cuda"  # as the CLI runs the detector (metrics/compute.py)
        self._model = None
        self._real: dict[str, dict] = {}
        self.history = read_jsonl(self.run_dir / rundir.METRICS) if self.run_dir is not None else []
        self.findings: list[Finding] = []
        self._streak: dict[str, int] = {}  # check -> consecutive evaluations with a severe finding
        self.improved = False
        self.check_ready()

    @property
    def enabled(self) -> bool:
        return bool(self.metrics)

    @property
    def primary(self) -> str | None:
        """The metric that decides the best checkpoint: the first one listed."""
        return self.metrics[0] if self.metrics else None

    @staticmethod
    def find_weights(cfg: dict, weights: str | None = None) -> Path | None:
        """The detector weights file train.metrics needs (None when it lists no Inception metric); UsageError (one line:
        what to pass) when there is none."""
        from ganctl.metrics.weights import ENV_WEIGHTS, resolve_weights

        if not any(m in PROTOCOL for m in cfg["train"]["metrics"] or []):
            return None
        try:
            return resolve_weights(weights)
        except UsageError as e:
            raise UsageError(f"train.metrics={list(cfg['train']['metrics'])} needs the Inception detector and cannot start: "
                             f"{e.message}. Set {ENV_WEIGHTS}=PATH, or drop train.metrics") from None

    def check_ready(self) -> None:
        """Find and load the detector now; UsageError (one line: what to pass) when its weights are missing or bad.
        class_acc: the dataset's classifier is loaded from its cache or trained now (rank 0)."""
        if CLASS_ACC in self.metrics and dist_info()[0] == 0:
            from ganctl.metrics.classifier import classifier_for

            self.classifier = classifier_for(self.ds.path, steps=int(self.cfg["train"]["classifier_steps"]))
        if not self.inception_metrics:
            return
        from ganctl.metrics.inception import build_inception
        from ganctl.metrics.weights import ENV_WEIGHTS, resolve_weights, sha256_file

        try:
            self.weights_path = resolve_weights(self.weights_arg)
            self._model = build_inception(self.weights_path, self.device)
            if self.channels_last:
                self._model = self._model.to(memory_format=torch.channels_last)
        except UsageError as e:
            raise UsageError(f"train.metrics={self.metrics} needs the Inception detector and cannot start: {e.message}. "
                             f"Set {ENV_WEIGHTS}=PATH (or pass --weights where the command has it), or drop train.metrics") from None
        self.weights_sha256 = sha256_file(self.weights_path)

    def due(self, cur_tick: int, done: bool) -> bool:
        """Whether this tick is a metric tick (every train.metric_ticks ticks, and the last one)."""
        return self.enabled and (done or cur_tick % self.ticks == 0)

    # -- sources ---------------------------------------------------------------------------------------------
    def _held_out_batch(self) -> dict:
        """The val split's uint8 input/target images, read once (every rank: the Inception metrics shard them)."""
        if self._val_batch is None:
            self._val_batch = pair_metrics.val_batch(self.cfg, self.family, self.ds, self.num)
        return self._val_batch

    def _generator_source(self, G_ema, kimg: float):
        from ganctl.metrics.sources import Source
        from ganctl.sampling.generate import LoadedGenerator

        if self.held_out:
            outputs, _ = pair_metrics.translate(G_ema, self._held_out_batch(), self.device)
            return Source(f"G_ema(val inputs) at kimg {kimg:.3f}", "generator",
                          generator=pair_metrics.HeldOutImages(outputs), num=len(outputs))
        meta = {"config": self.cfg, "dataset": {"label_names": self.ds.label_names if self.conditional else []}}
        gen = LoadedGenerator(G_ema, meta, self.device, None)
        return Source(f"G_ema at kimg {kimg:.3f}", "generator", generator=gen, num=self.num)

    def _real_source(self):
        from ganctl.metrics.sources import Source, resolve_source

        if self.held_out:
            from ganctl.sampling.conditioned import TARGET_KEYS, pick

            targets = pick(self._held_out_batch(), TARGET_KEYS)
            return Source("val targets", "generator", generator=pair_metrics.HeldOutImages(targets), num=len(targets))
        return resolve_source(str(self.ds.path), allow_stats=False, num=self.num)

    def _cache_key(self, protocol: str) -> str:
        ident = self.ds.manifest.get("manifest_sha256") or f"{self.ds.path.resolve()}:{self.ds.path.stat().st_size}"
        side = ["val-targets", pair_metrics.VAL_SEED, bool(self.cfg["train"]["mirror"])] if self.held_out else []
        raw = json.dumps([ident, self.num, protocol, self.weights_sha256] + side)
        return f"{protocol}-n{self.num}-{hashlib.sha256(raw.encode()).hexdigest()[:16]}"

    def _real_features(self, protocol: str, want_stats: bool, want_pool: bool) -> dict:
        """{'n', 'mu', 'sigma', 'pool3'} of the real side; from memory, RUN/metrics-cache/, or extracted (all ranks)."""
        from ganctl.metrics.features import extract
        from ganctl.metrics.protocols import get_protocol
        from ganctl.metrics.stats import load_stats, save_stats

        key = self._cache_key(protocol)
        have = self._real.get(protocol, {})
        cache = self.run_dir / CACHE_DIR if self.run_dir is not None else None
        if dist_info()[0] == 0 and cache is not None:
            if want_stats and "mu" not in have and (cache / f"fid-{key}.npz").is_file():
                mu, sigma, n, _ = load_stats(cache / f"fid-{key}.npz")
                have.update(mu=mu, sigma=sigma, n=n)
            if "pool3" not in have and (cache / f"pool3-{key}.npy").is_file():  # also feeds the live collapse check
                have["pool3"] = torch.from_numpy(np.load(cache / f"pool3-{key}.npy", allow_pickle=False))
                have["n"] = len(have["pool3"])
        need = _broadcast((want_stats and "mu" not in have) or (want_pool and "pool3" not in have))
        if need:
            ex = extract(self._real_source(), self._model, get_protocol(protocol), self.device, batch_size=self.batch_size,
                         channels_last=self.channels_last, workers=0, stream_stats=want_stats, keep_pool=True, progress=False, label="reals")
            have["n"], have["pool3"] = ex.n, ex.pool3
            if want_stats:
                have["mu"], have["sigma"] = ex.stats.finalize()
            if dist_info()[0] == 0 and cache is not None:
                cache.mkdir(exist_ok=True)
                if want_stats:
                    save_stats(cache / f"fid-{key}.npz", have["mu"], have["sigma"], n=ex.n, protocol=protocol)
                tmp = cache / f"pool3-{key}.tmp.npy"
                np.save(tmp, ex.pool3.numpy() if want_pool else ex.pool3[:COLLAPSE_N].numpy())
                tmp.replace(cache / f"pool3-{key}.npy")
        self._real[protocol] = have
        return have

    # -- evaluation ------------------------------------------------------------------------------------------
    def evaluate(self, G_ema: torch.nn.Module, cur_nimg: int) -> list[dict]:
        """Compute every configured metric now; rank 0 appends one line per metric to RUN/metrics.jsonl. Call on all ranks."""
        if not self.enabled:
            return []
        from ganctl.metrics import distance
        from ganctl.metrics.compute import precision
        from ganctl.metrics.features import extract
        from ganctl.metrics.protocols import get_protocol

        kimg = cur_nimg / 1000
        rank, world = dist_info()
        records, gen_pool, real_pool = [], None, None
        with _rng_preserved(self.device), precision(self.device, tf32=False):
            for protocol in dict.fromkeys(PROTOCOL[m] for m in self.inception_metrics):
                t0 = time.perf_counter()
                mine = [m for m in self.inception_metrics if PROTOCOL[m] == protocol]
                ex = extract(self._generator_source(G_ema, kimg), self._model, get_protocol(protocol), self.device,
                             batch_size=self.batch_size, channels_last=self.channels_last, workers=0,
                             stream_stats="fid" in mine, keep_pool=True,
                             want_logits="is" in mine, progress=False, label="G_ema")
                real = None
                if "fid" in mine or "kid" in mine:
                    real = self._real_features(protocol, want_stats="fid" in mine, want_pool="kid" in mine)
                gen_pool, real_pool = ex.pool3, (real or {}).get("pool3", real_pool)
                shared = time.perf_counter() - t0
                for m in mine:
                    t1 = time.perf_counter()
                    rec = {"kimg": kimg, "metric": m, "num": ex.n, "protocol": protocol, "weights_sha256": self.weights_sha256}
                    if self.held_out:
                        rec.update(split="val", val_seed=pair_metrics.VAL_SEED)
                    if rank == 0:
                        if m == "fid":
                            mu, sigma = ex.stats.finalize()
                            rec["value"] = distance.frechet_distance(mu, sigma, real["mu"], real["sigma"])
                            rec["num_real"] = real["n"]
                        elif m == "kid":
                            size = min(KID_SUBSET_SIZE, ex.n, len(real["pool3"]))
                            rec["value"], rec["std"] = distance.kernel_inception_distance(
                                ex.pool3, real["pool3"], subsets=KID_SUBSETS, subset_size=size)
                            rec.update(num_real=len(real["pool3"]), subsets=KID_SUBSETS, subset_size=size)
                        else:
                            rec["value"], rec["std"] = distance.inception_score(ex.logits, splits=IS_SPLITS)
                            rec["splits"] = IS_SPLITS
                    rec.update(tf32=False, world_size=world, seconds=round(shared + time.perf_counter() - t1, 3))
                    records.append(rec)
                    shared = 0.0
            if CLASS_ACC in self.metrics:
                records.append(self._class_acc(G_ema, kimg, world))
            if self.pair_metrics:
                records += self._pair_records(G_ema, kimg, world)
        records = _broadcast(records)
        # Evaluations at or after this point are from a run that was killed and resumed from an earlier checkpoint:
        # they are being redone, so they no longer count for `best`.
        self.history = [r for r in self.history if r.get("kimg", 0) < kimg - 1e-9]
        prev_best = self.best()
        if rank == 0 and self.run_dir is not None:
            for rec in records:
                rundir.append_jsonl(self.run_dir / rundir.METRICS, rec)
        self.history += records
        now = self.best()
        # Rank 0 holds the run's whole history (metrics.jsonl); its view decides for every rank.
        self.improved = _broadcast(now is not None and (prev_best is None or now[2] != prev_best[2]))
        self.findings = _broadcast(self._live_checks(gen_pool, real_pool) if rank == 0 else None)
        severe = {f.check for f in self.findings if f.severe}
        self._streak = {c: (self._streak.get(c, 0) + 1 if c in severe else 0) for c in severe | set(self._streak)}
        return records

    def _class_acc(self, G_ema, kimg: float, world: int) -> dict:
        rec = {"kimg": kimg, "metric": CLASS_ACC, "num": self.num}
        if dist_info()[0] == 0:
            t0 = time.perf_counter()
            gen = self._generator_source(G_ema, kimg).generator
            seeds = list(range(self.num))
            images = torch.cat(list(gen.iter_images(seeds))).numpy()
            acc, per, _ = self.classifier.accuracy(images, np.array(seeds) % self.ds.num_classes)
            rec.update(value=acc, per_class=_json_floats(per), real_value=self.classifier.real_balanced_accuracy,
                       real_per_class=_json_floats(self.classifier.real_per_class),
                       held_out=self.classifier.meta["held_out"]["source"], classifier=self.classifier.meta["path"])
            rec.update(world_size=world, seconds=round(time.perf_counter() - t0, 3))
        return rec

    def _pair_records(self, G_ema, kimg: float, world: int) -> list[dict]:
        """psnr/ssim/l1 of G_ema's outputs for the val split's inputs against their targets (engine/pair_metrics.py),
        as `ganctl compare` computes them. Rank 0 computes them (no collective op runs inside)."""
        if dist_info()[0] != 0:
            return [{"kimg": kimg, "metric": m} for m in self.pair_metrics]
        t0 = time.perf_counter()
        outputs, targets = pair_metrics.translate(G_ema, self._held_out_batch(), self.device)
        values = pair_metrics.measure(outputs, targets, self.pair_metrics)
        seconds = round(time.perf_counter() - t0, 3)
        return [{"kimg": kimg, "metric": m, "value": values[m], "num": len(targets), "split": "val",
                 "val_seed": pair_metrics.VAL_SEED, "convention": pair_metrics.convention(), "world_size": world,
                 "seconds": seconds if i == 0 else 0.0} for i, m in enumerate(self.pair_metrics)]

    def best(self) -> tuple[str, float, float] | None:
        """(metric, value, kimg) of the best evaluation of the primary metric so far (this run's metrics.jsonl included)."""
        if not self.enabled:
            return None
        rec = best_record(self.history, self.primary)
        return None if rec is None else (self.primary, float(rec["value"]), float(rec["kimg"]))

    def is_better(self, metric: str, new: float, old: float | None) -> bool:
        return is_better(metric, new, old)

    @staticmethod
    def stats_fields(records: list[dict]) -> dict:
        """`Metrics/<name>` values for the tick record / TensorBoard."""
        return {f"Metrics/{r['metric']}": r["value"] for r in records}

    # -- live checks -----------------------------------------------------------------------------------------
    def _live_checks(self, gen_pool, real_pool) -> list[Finding]:
        out: list[Finding] = []
        if gen_pool is not None and real_pool is not None:
            n = min(COLLAPSE_N, len(gen_pool), len(real_pool))
            kw = {}
            if self.conditional:
                kw = {"gen_labels": np.arange(n) % self.ds.num_classes, "real_labels": self.ds.labels[:n],
                      "label_names": self.ds.label_names}
            out += collapse_findings(gen_pool[:n], real_pool[:n], feature_name="Inception pool3", **kw)
        last = next((r for r in reversed(self.history) if r.get("metric") == CLASS_ACC), None)
        if last is not None and "per_class" in last:
            from ganctl.diagnose.conditioning import conditioning_findings

            nan = float("nan")
            gen_per = [nan if a is None else a for a in last["per_class"]]
            real_per = [nan if a is None else a for a in last["real_per_class"]]
            out += conditioning_findings(last["value"], gen_per, last["real_value"], real_per, num=last["num"],
                                         label_names=self.ds.label_names, held_out=last["held_out"])
        out += metric_findings(self.history, checkpoint_for=self._checkpoint_at)
        if self.run_dir is not None:
            out += stats_findings(read_jsonl(self.run_dir / rundir.STATS))
        return out

    def _checkpoint_at(self, kimg: float) -> str | None:
        if self.run_dir is None:
            return None
        from ganctl.engine import checkpoint as ckpt

        p = self.run_dir / rundir.CHECKPOINTS / ckpt.checkpoint_name(int(round(kimg * 1000)))
        return str(p) if p.is_file() else None

    def live_findings(self) -> list[Finding]:
        """The severe findings of the last evaluation: one warning line each for the tick output."""
        return [f for f in self.findings if f.severe]

    def stop_reason(self) -> str | None:
        """A one-line reason to stop, or None: train.stop_on names a check that was severe at STOP_AFTER consecutive
        evaluations (one is not enough: an early, still noisy generator is rightly "low in diversity" once)."""
        checks = STOP_CHECKS.get(self.stop_on, ())
        hit = [f for f in self.live_findings() if f.check in checks and self._streak.get(f.check, 0) >= STOP_AFTER]
        return (f"train.stop_on={self.stop_on}: {hit[0].line()} (severe at {STOP_AFTER} evaluations in a row)"
                if hit else None)
