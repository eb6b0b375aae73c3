"""Mode collapse from features: how spread out G's samples are compared with real images, and how many near-duplicates.

Protocol. Features are one vector per image (Inception pool3, or raw pixels when the detector is unavailable: the
finding says which). Diversity is the mean pairwise Euclidean distance over all pairs i < j; the generated value is
compared with the same measure on as many real images (ratio 1 = as varied as the data). A near-duplicate pair is a
pair closer than the 1st percentile of the real pairwise distances, so by construction 1% of real pairs are
"near-duplicates"; the birthday-paradox reading (Arora & Zhang, 2017) is that a generator whose samples repeat far
more often than that covers far fewer modes than the data. For conditional models both numbers are computed within
each class (samples of one class vs real images of that class), since a generator that ignores z but not the label
still varies across classes.

Limits: N samples see only collapse that affects a share of the output on the order of 1/N; a diverse generator of
bad images passes (that is FID's job); pixel distances reward noise, so a noisy generator looks diverse in pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.diagnose.findings import Finding

DUPLICATE_PERCENTILE = 1.0  # real pairs below this percentile of real distances count as near-duplicates
SEVERE_RATIO, WARN_RATIO = 0.25, 0.6
SEVERE_DUP, WARN_DUP = 0.5, 0.1  # share of generated pairs that are near-duplicates (reals: 0.01 by construction)

ADVICE = ["use the best checkpoint (`--checkpoint best`) if an earlier one was more varied",
          "add minibatch standard deviation to D (model.mbstd_group) or R1 (loss.r1_gamma)",
          "enable augmentation (augment.kind=ada or diffaugment) when the dataset is small",
          "lower D's learning rate (optim.d.lr) or G's, and train with a larger batch"]


def pair_distances(feats: torch.Tensor) -> torch.Tensor:
    """Distances of all pairs i < j (float64, 1-D)."""
    f = torch.as_tensor(feats).double().reshape(len(feats), -1)
    d = torch.cdist(f, f)
    iu = torch.triu_indices(len(f), len(f), offset=1)
    return d[iu[0], iu[1]]


def _measure(gen: torch.Tensor, real: torch.Tensor) -> dict | None:
    if len(gen) < 2 or len(real) < 2:
        return None
    dg, dr = pair_distances(gen), pair_distances(real)
    tau = float(np.percentile(dr.numpy(), DUPLICATE_PERCENTILE))
    return {"n_generated": len(gen), "n_real": len(real), "diversity_generated": float(dg.mean()),
            "diversity_real": float(dr.mean()), "ratio": float(dg.mean() / max(float(dr.mean()), 1e-12)),
            "duplicate_threshold": tau, "duplicate_share_generated": float((dg < tau).double().mean()),
            "duplicate_share_real": float((dr < tau).double().mean())}


def _severity(m: dict) -> str:
    if m["ratio"] < SEVERE_RATIO or m["duplicate_share_generated"] >= SEVERE_DUP:
        return "severe"
    if m["ratio"] < WARN_RATIO or m["duplicate_share_generated"] >= WARN_DUP:
        return "warning"
    return "ok"


def collapse_findings(gen: torch.Tensor, real: torch.Tensor, *, gen_labels=None, real_labels=None, label_names=(),
                      feature_name: str = "Inception pool3") -> list[Finding]:
    """Findings on mode collapse. With labels (conditional models) the measure is per class and the worst class decides."""
    gen, real = torch.as_tensor(gen), torch.as_tensor(real)
    if gen_labels is None or real_labels is None:
        groups = {"all": (gen, real)}
    else:
        gl, rl = np.asarray(gen_labels), np.asarray(real_labels)
        groups = {int(c): (gen[torch.from_numpy(gl == c)], real[torch.from_numpy(rl == c)]) for c in sorted(set(gl.tolist()))}
    per = {k: m for k, (g, r) in groups.items() if (m := _measure(g, r)) is not None}
    if not per:
        return [Finding("mode-collapse", "info", f"too few samples per group to measure diversity ({feature_name})",
                        {"features": feature_name})]
    name = (lambda k: "all samples" if k == "all" else f"class {k}" + (f" ({label_names[k]})" if k < len(label_names) else ""))
    worst_key = min(per, key=lambda k: per[k]["ratio"])
    w = per[worst_key]
    sev = max((_severity(m) for m in per.values()), key=["ok", "warning", "severe"].index)
    evidence = {"features": feature_name, "worst_group": name(worst_key), **w}
    if len(per) > 1:
        evidence["per_class"] = {str(k): {"ratio": round(m["ratio"], 4), "duplicate_share": round(m["duplicate_share_generated"], 4)}
                                 for k, m in per.items()}
        evidence["classes_collapsed"] = [str(k) for k, m in per.items() if _severity(m) == "severe"]
    scope = f"{name(worst_key)}: " if len(per) > 1 else ""
    summary = (f"{scope}generated samples are {w['ratio']:.2f}x as spread out as real images "
               f"(mean pairwise {feature_name} distance {w['diversity_generated']:.4g} vs {w['diversity_real']:.4g}); "
               f"{100 * w['duplicate_share_generated']:.1f}% of generated pairs are near-duplicates vs "
               f"{100 * w['duplicate_share_real']:.1f}% of real pairs (N={w['n_generated']})")
    if sev == "severe":
        summary = "mode collapse: " + summary
    elif sev == "warning":
        summary = "low diversity: " + summary
    return [Finding("mode-collapse", "info" if sev == "ok" else sev, summary, evidence, ADVICE if sev != "ok" else [])]
