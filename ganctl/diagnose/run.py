"""`ganctl diagnose RUN`: read a run directory, generate fixed-seed samples from a checkpoint, run every check.

Features for the collapse check: the FID Inception detector (pool3, pytorch-fid preprocessing) when its weights are
found locally, else raw pixels; the finding names which. Real images: `num` images spread evenly over the training
dataset (and as many from its held-out split for the overfitting check). Generated images: seeds 0..num-1 under the
per-seed rule every command uses (class seed % classes for conditional models), from G_ema.

Conditional runs also get the conditioning check (diagnose/conditioning.py): the same generated images labelled by
the dataset's own classifier (ganctl.metrics.classifier; trained on first use, `classifier_steps` steps, and cached
under $GANCTL_CACHE/classifiers or ~/.cache/ganctl/classifiers by the dataset's sha256).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganctl.diagnose.conditioning import conditioning_findings
from ganctl.diagnose.diversity import collapse_findings
from ganctl.diagnose.findings import Finding, worst
from ganctl.diagnose.history import metric_findings, read_jsonl, stats_findings
from ganctl.diagnose.overfit import d_scores, overfit_findings
from ganctl.engine import checkpoint as ckpt
from ganctl.engine import rundir
from ganctl.errors import UsageError

FEATURES = ("auto", "inception", "pixel")


def _detector_weights(features: str, weights: str | None) -> Path | None:
    """The weights file to use, or None for pixel features. `auto` never downloads: it uses a file already here."""
    from ganctl.metrics.weights import candidate_paths, resolve_weights

    if features == "pixel":
        return None
    if features == "inception" or weights:
        return resolve_weights(weights)
    return next((p for p in candidate_paths() if p.is_file()), None)


def _pixel_features(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(u8, np.float32).reshape(len(u8), -1) / 255.0)


def _inception_features(gen, ds, idx, num, weights_path, device) -> tuple[torch.Tensor, torch.Tensor]:
    from ganctl.metrics.compute import precision
    from ganctl.metrics.features import extract
    from ganctl.metrics.inception import build_inception
    from ganctl.metrics.protocols import get_protocol
    from ganctl.metrics.sources import Source

    model = build_inception(weights_path, device)
    proto = get_protocol("pytorch-fid")
    with precision(device, tf32=False):
        g = extract(Source("G_ema", "generator", generator=gen, num=num), model, proto, device, workers=0, keep_pool=True,
                    progress=False)
        r = extract(Source(str(ds.path), "dataset", items=list(map(int, idx))), model, proto, device, workers=0,
                    keep_pool=True, progress=False)
    return g.pool3, r.pool3


def _checkpoint_namer(run: Path):
    def at(kimg: float) -> str | None:
        p = run / rundir.CHECKPOINTS / ckpt.checkpoint_name(int(round(kimg * 1000)))
        best = ckpt.best_checkpoint(run / rundir.CHECKPOINTS)
        if best is not None and best.name == p.name:
            return f"{p} (checkpoints/best)"
        return str(p) if p.is_file() else None
    return at


def _conditioning(gen, data_path: str, num: int, steps: int | None) -> list[Finding]:
    """Class accuracy of seeds 0..num-1 (class seed % classes) under the dataset's classifier vs its class-balanced
    held-out accuracy (every class asked for equally often on both sides)."""
    from ganctl.metrics.classifier import DEFAULT_STEPS, classifier_for

    if steps is not None and steps < 1:
        raise UsageError("--classifier-steps: use at least 1 (the default, 1000, takes well under a CPU-minute at 32x32)")
    clf = classifier_for(data_path, steps=steps or DEFAULT_STEPS)
    if clf.num_classes != gen.num_classes:
        return [Finding("conditioning", "info", f"the dataset has {clf.num_classes} classes but G has {gen.num_classes}; "
                        "class accuracy not measured", {"data": data_path})]
    seeds = list(range(num))
    gen_u8 = torch.cat(list(gen.iter_images(seeds))).numpy()
    acc, per, _ = clf.accuracy(gen_u8, np.array(seeds) % gen.num_classes)
    return conditioning_findings(acc, per, clf.real_balanced_accuracy, clf.real_per_class, num=num, label_names=gen.label_names,
                                 held_out=clf.meta["held_out"]["source"])


def diagnose_run(run_dir: str, *, checkpoint: str | None = None, num: int = 256, features: str = "auto",
                 weights: str | None = None, device: str = "auto", margin: float = 0.1,
                 classifier_steps: int | None = None) -> dict:
    """Every finding for the run, most severe first, plus what was looked at."""
    from ganctl.config.load import validate_resolved
    from ganctl.data.dataset import PreparedDataset, open_validation
    from ganctl.device import resolve_device
    from ganctl.errors import DataError
    from ganctl.models import build_networks
    from ganctl.sampling.generate import load_generator

    if features not in FEATURES:
        raise UsageError(f"--features {features}: use one of {', '.join(FEATURES)}")
    if num < 4:
        raise UsageError("--num: use at least 4 samples (256+ for a meaningful diversity estimate)")
    run = Path(run_dir)
    cfg = validate_resolved(rundir.read_config(run))
    dev = resolve_device(device)
    findings: list[Finding] = []
    findings += stats_findings(read_jsonl(run / rundir.STATS))
    findings += metric_findings(read_jsonl(run / rundir.METRICS), margin=margin, checkpoint_for=_checkpoint_namer(run))

    gen = load_generator(str(run), dev, which=checkpoint or "latest")
    try:
        ds = PreparedDataset(cfg["data"]["path"])
    except DataError as e:
        ds = None
        findings.append(Finding("mode-collapse", "info", f"training dataset unavailable ({e.message}); "
                                "collapse and overfitting checks skipped", {"data": cfg["data"]["path"]}))
    used = "none"
    if ds is not None:
        n = min(num, len(ds))
        idx = np.unique(np.linspace(0, len(ds) - 1, n).round().astype(np.int64))
        real_u8, real_labels = ds.get_batch(idx)
        seeds = list(range(len(idx)))
        wpath = _detector_weights(features, weights)
        if wpath is not None:
            gen_f, real_f = _inception_features(gen, ds, idx, len(seeds), wpath, dev)
            used = "Inception pool3"
        else:
            gen_u8 = torch.cat(list(gen.iter_images(seeds))).numpy()
            gen_f, real_f = _pixel_features(gen_u8), _pixel_features(real_u8)
            used = "pixels (no Inception weights found locally; pass --weights for detector features)"
        kw = {}
        if gen.num_classes:
            kw = {"gen_labels": np.array(seeds) % gen.num_classes, "real_labels": real_labels, "label_names": gen.label_names}
        findings += collapse_findings(gen_f, real_f, feature_name=used.split(" (")[0], **kw)
        if gen.num_classes:
            findings += _conditioning(gen, cfg["data"]["path"], len(seeds), classifier_steps)

        tensors, meta = ckpt.load_checkpoint(gen.path)
        _, D = build_networks(cfg, ds.resolution, ds.channels, gen.num_classes)
        D.load_state_dict(ckpt.module_state("D", tensors))
        D.to(dev).eval().requires_grad_(False)
        val = open_validation(cfg["data"]["path"])
        lab = real_labels if gen.num_classes else None
        train_s = d_scores(D, real_u8, lab, dev)
        val_s = None
        if val is not None:
            v_u8, v_lab = val.get_batch(np.arange(min(len(val), len(idx))))
            val_s = d_scores(D, v_u8, v_lab if gen.num_classes else None, dev)
        findings += overfit_findings(cfg["loss"]["type"], train_s, val_s)
    order = ["severe", "warning", "info", "ok"]
    findings.sort(key=lambda f: order.index(f.severity))
    return {"run": str(run), "checkpoint": str(gen.path), "features": used, "num": num,
            "worst": worst(findings), "findings": [f.to_dict() for f in findings]}


def render_text(result: dict) -> str:
    lines = [f"diagnosis of {result['run']} ({Path(result['checkpoint']).name}; features: {result['features']})"]
    for f in result["findings"]:
        lines.append(Finding(**f).text())
    lines.append(f"worst severity: {result['worst']}")
    return "\n".join(lines)
