"""Instability and divergence from a run's history: stats.jsonl (one record per tick) and metrics.jsonl.

Protocol. Spikes: a tick value more than SPIKE_Z robust standard deviations (1.4826 x median absolute deviation of
the preceding WINDOW ticks) away from their median, for every loss and D score series. Non-finite: any NaN/inf value.
Gradient-penalty blow-up: the mean of the last quarter of a penalty series (R1, GP) more than BLOWUP_FACTOR times the
median of its first half. Metric regression: the latest value of a metric worse than its best by more than `margin`
(relative), naming the checkpoint saved at the best evaluation.

Limits: ticks average many steps, so a one-step spike can hide inside a tick; a run of fewer than MIN_TICKS ticks is
too short to judge; a GAN's losses do not fall monotonically, so only sudden changes are reported, not trends.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ganctl.diagnose.findings import Finding

# psnr/ssim/l1: image-to-image runs, G_ema against the val targets (engine/pair_metrics.py)
HIGHER_IS_BETTER = {"fid": False, "kid": False, "is": True, "class_acc": True, "psnr": True, "ssim": True, "l1": False}
SPIKE_Z, WINDOW, MIN_TICKS = 8.0, 20, 6
BLOWUP_FACTOR = 10.0
PENALTY_KEYS = ("Loss/D/gp", "Loss/D/r1", "Loss/r1_penalty")


def is_better(metric: str, new: float, old: float | None) -> bool:
    """Lower FID/KID/L1 is better, higher IS, class_acc, PSNR and SSIM are better; anything beats no value, nothing non-finite beats anything."""
    if not math.isfinite(new):
        return False
    if old is None or not math.isfinite(old):
        return True
    return new > old if HIGHER_IS_BETTER[metric] else new < old


def read_jsonl(path: Path) -> list[dict]:
    """Records of a .jsonl file; a torn last line (a kill mid-write) is skipped."""
    out = []
    if not Path(path).is_file():
        return out
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _series(stats: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r.get("Progress/kimg", i), r[key]) for i, r in enumerate(stats) if isinstance(r.get(key), (int, float))]
    return np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)


def _watched_keys(stats: list[dict]) -> list[str]:
    keys = sorted({k for r in stats for k in r if k.startswith(("Loss/", "Scores/"))})
    return keys


def stats_findings(stats: list[dict]) -> list[Finding]:
    findings: list[Finding] = []
    keys = _watched_keys(stats)
    bad = [(k, float(x), float(v)) for k in keys for x, v in zip(*_series(stats, k)) if not math.isfinite(v)]
    if bad:
        k, x, v = bad[0]
        findings.append(Finding("non-finite", "severe", f"{len(bad)} non-finite tick value(s); first: {k} = {v} at kimg {x:.3f}",
                                {"count": len(bad), "first": {"key": k, "kimg": x, "value": str(v)}},
                                ["resume from the last finite checkpoint with a lower learning rate (optim.g.lr, optim.d.lr)",
                                 "use train.precision=fp32 if mixed precision is on", "add R1 (loss.r1_gamma) to steady D"]))
    if len(stats) < MIN_TICKS:
        findings.append(Finding("instability", "info", f"only {len(stats)} ticks in stats.jsonl; too short to judge spikes "
                                f"(need {MIN_TICKS})", {"ticks": len(stats)}))
        return findings
    spikes = []
    for k in keys:
        x, v = _series(stats, k)
        for i in range(MIN_TICKS - 1, len(v)):
            past = v[max(0, i - WINDOW):i]
            past = past[np.isfinite(past)]
            if len(past) < MIN_TICKS - 1 or not math.isfinite(v[i]):
                continue
            med = float(np.median(past))
            mad = 1.4826 * float(np.median(np.abs(past - med)))
            scale = max(mad, 1e-3 * max(abs(med), 1e-3))
            z = (v[i] - med) / scale
            if abs(z) > SPIKE_Z:
                spikes.append({"key": k, "kimg": float(x[i]), "value": float(v[i]), "median_before": med, "robust_z": round(float(z), 1)})
    if spikes:
        top = max(spikes, key=lambda s: abs(s["robust_z"]))
        last_kimg = float(_series(stats, keys[0])[0][-1]) if keys else 0.0
        recent = [s for s in spikes if s["kimg"] >= last_kimg - 1e-9]
        sev = "severe" if recent or len(spikes) >= 5 else "warning"
        findings.append(Finding("instability", sev,
                                f"{len(spikes)} spike(s) in the loss/score curves; largest: {top['key']} = {top['value']:.4g} at kimg "
                                f"{top['kimg']:.3f} ({top['robust_z']:+.1f} robust sd from the median {top['median_before']:.4g} "
                                f"of the {WINDOW} ticks before)", {"spikes": spikes[:20], "count": len(spikes)},
                                ["lower the learning rates (optim.d.lr first)", "add or raise R1 (loss.r1_gamma)",
                                 "use the best or an earlier checkpoint (`--checkpoint best`)"]))
    for k in keys:
        if k not in PENALTY_KEYS:
            continue
        x, v = _series(stats, k)
        v = v[np.isfinite(v)]
        if len(v) < MIN_TICKS:
            continue
        early, late = float(np.median(v[: len(v) // 2])), float(np.mean(v[-max(1, len(v) // 4):]))
        if late > BLOWUP_FACTOR * max(early, 1e-8) and late > 1e-3:
            findings.append(Finding("gp-blowup", "severe", f"{k} grew from a median {early:.4g} (first half) to {late:.4g} "
                                    f"(last quarter), {late / max(early, 1e-12):.0f}x", {"key": k, "early_median": early, "late_mean": late},
                                    ["lower D's learning rate (optim.d.lr)", "raise the penalty weight (loss.r1_gamma / loss.gp_weight)",
                                     "resume from an earlier checkpoint"]))
    return findings


def best_record(records: list[dict], metric: str) -> dict | None:
    best = None
    for r in records:
        if r.get("metric") == metric and is_better(metric, float(r["value"]), None if best is None else float(best["value"])):
            best = r
    return best


def metric_findings(records: list[dict], margin: float = 0.1, checkpoint_for=None) -> list[Finding]:
    """Per metric: the latest value worse than the best by more than `margin` (relative) is severe.

    `checkpoint_for(kimg)` names the checkpoint saved at that evaluation (or None when it was pruned)."""
    findings = []
    for metric in sorted({r["metric"] for r in records if r.get("metric") in HIGHER_IS_BETTER}):
        rs = [r for r in records if r["metric"] == metric]
        best, last = best_record(rs, metric), rs[-1]
        if best is None:
            findings.append(Finding("metric-regression", "severe", f"{metric}: no finite value in {len(rs)} evaluations",
                                    {"metric": metric, "evaluations": len(rs)}))
            continue
        b, v = float(best["value"]), float(last["value"])
        worse = (b - v) if HIGHER_IS_BETTER[metric] else (v - b)
        rel = worse / max(abs(b), 1e-12) if math.isfinite(v) else math.inf
        ckpt = checkpoint_for(best["kimg"]) if checkpoint_for else None
        ev = {"metric": metric, "best": b, "best_kimg": best["kimg"], "latest": v, "latest_kimg": last["kimg"],
              "relative_worsening": rel if math.isfinite(rel) else "inf", "margin": margin, "best_checkpoint": ckpt,
              "evaluations": len(rs)}
        if rel > margin:
            where = f"; the best checkpoint is {ckpt}" if ckpt else ""
            findings.append(Finding("metric-regression", "severe",
                                    f"{metric} worsened from its best {b:.4g} (kimg {best['kimg']:.3f}) to {v:.4g} (kimg {last['kimg']:.3f}), "
                                    f"{100 * rel:.0f}% worse (margin {100 * margin:.0f}%){where}", ev,
                                    ["use the best checkpoint: `--checkpoint best`", "stop earlier, or lower the learning rates",
                                     "enable augmentation (augment.kind=ada) if D is overfitting a small dataset"]))
        else:
            findings.append(Finding("metric-regression", "ok" if rel <= 0 else "info",
                                    f"{metric}: latest {v:.4g} (kimg {last['kimg']:.3f}), best {b:.4g} (kimg {best['kimg']:.3f})", ev))
    return findings
