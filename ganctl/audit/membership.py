"""`ganctl audit privacy`: membership inference against a trained generator, as the published attacks do it.

Candidates are M images of the training set (members) and M images the run never saw (--heldout, non-members). Each
attack gives every candidate a score, higher = "was trained on"; the audit reports ROC AUC of members vs non-members
with a seeded bootstrap 95% interval, and the TPR at low FPR (1% and 0.1%; Carlini et al. 2022: an attack that is right
about a few members with confidence matters even when the AUC is near 0.5).

- Full black-box (GAN-Leaks, Chen et al. 2020): generate N images (seeds 0..N-1); score = minus the L2 distance (pixels,
  [0, 1] scale) from the candidate to its nearest generated image. A generator that copies training images puts
  members at distance ~0. The "generated" side may also be a prepared dataset (e.g. one written by `sample
  --export-dataset`): audit exactly the images you plan to release.
- White-box (LOGAN, Hayes et al. 2019): score = D's output on the candidate (with its label for conditional D). LOGAN's
  public script counts the wrong label; this ranks by D's raw score and computes the AUC directly.

AUC ~0.5 (its interval covering 0.5): the attack cannot tell members from non-members, no measurable leakage at this
sample size. Well above 0.5: the model's outputs (black-box) or D (white-box) reveal which images were trained on.
The nearest-neighbour findings of `ganctl nearest` (pixel space) on the same generated images are attached.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError

LOW_FPR = (0.01, 0.001)


def roc_auc(scores: np.ndarray, is_member: np.ndarray) -> float:
    """P(score of a random member > score of a random non-member), ties counted half (Mann-Whitney U / (n1 n0))."""
    from scipy.stats import rankdata

    pos = is_member.astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def tpr_at_fpr(scores: np.ndarray, is_member: np.ndarray, fpr: float) -> float:
    """The fraction of members scored above the threshold that lets at most `fpr` of non-members through."""
    pos = is_member.astype(bool)
    neg = np.sort(scores[~pos])[::-1]
    allowed = int(math.floor(fpr * len(neg)))  # non-members allowed strictly above the threshold
    thr = neg[allowed] if allowed < len(neg) else -np.inf
    return float((scores[pos] > thr).mean())


def attack_record(scores: np.ndarray, is_member: np.ndarray, bootstrap: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(is_member), np.flatnonzero(~is_member.astype(bool))
    boots = []
    for _ in range(bootstrap):  # resample members and non-members separately: the interval keeps both group sizes
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        boots.append(roc_auc(scores[idx], is_member[idx]))
    lo, hi = (np.percentile(boots, [2.5, 97.5]).tolist() if boots else (None, None))
    return {"auc": roc_auc(scores, is_member), "auc_ci95": [lo, hi],
            **{f"tpr_at_fpr_{f:g}": tpr_at_fpr(scores, is_member, f) for f in LOW_FPR},
            "member_score_mean": float(scores[is_member.astype(bool)].mean()),
            "nonmember_score_mean": float(scores[~is_member.astype(bool)].mean())}


def verdict(rec: dict) -> str:
    lo, hi = rec["auc_ci95"]
    if lo is not None and lo > 0.6:
        return "leaks: members are clearly distinguishable"
    if lo is not None and lo > 0.5:
        return "weak but measurable leakage"
    return "no measurable leakage at this sample size (AUC interval covers 0.5 or lies below)"


def _candidates(path: str, num: int, seed: int, what: str):
    from ganctl.data.dataset import PreparedDataset

    ds = PreparedDataset(path)
    if len(ds) < 2:
        raise UsageError(f"{what} {path}: needs at least 2 images")
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:num])
    imgs, labels = ds.get_batch(idx)
    return ds, imgs, labels


def _load_D(source: str, device):
    """D of a ganctl checkpoint, in eval mode (None for foreign networks, which carry no D)."""
    from ganctl import interop
    from ganctl.config.load import validate_resolved
    from ganctl.engine import checkpoint as ckpt
    from ganctl.models import build_networks
    from ganctl.sampling.generate import resolve_checkpoint

    path = resolve_checkpoint(source)
    if interop.is_foreign(path):
        return None
    tensors, meta = ckpt.load_checkpoint(path)
    state = ckpt.module_state("D", tensors)
    if not state:
        return None
    cfg = validate_resolved(meta["config"])
    ds = meta["dataset"]
    num_classes = len(ds["label_names"]) if cfg["model"]["conditional"] else 0
    _, D = build_networks(cfg, ds["resolution"], ds["channels"], num_classes)
    D.load_state_dict(state)
    return D.to(device).eval(), num_classes


def audit_privacy(source: str, train: str, heldout: str, num_generated: int = 2000, candidates: int = 500,
                  bootstrap: int = 1000, seed: int = 0, truncation_psi: float = 1.0, device: str = "cpu",
                  emit=lambda e: None) -> dict:
    import torch

    from ganctl.device import resolve_device
    from ganctl.metrics.nearest import find_nearest, knn, to_record
    from ganctl.metrics.sources import resolve_source

    if num_generated < 1 or candidates < 2 or bootstrap < 0:
        raise UsageError("--num must be >= 1, --candidates >= 2 and --bootstrap >= 0")
    dev = resolve_device(device)
    tr_ds, mem_x, mem_y = _candidates(train, candidates, seed, "--train")
    ho_ds, non_x, non_y = _candidates(heldout, candidates, seed + 1, "--heldout")
    if Path(tr_ds.path).resolve() == Path(ho_ds.path).resolve():
        raise UsageError("--heldout: is the same dataset as --train; give images the run never trained on (e.g. the "
                         "test split: prepare-data SOURCE DEST --split test)")
    if mem_x.shape[1:] != non_x.shape[1:]:
        raise UsageError(f"--heldout {heldout}: images are {'x'.join(map(str, non_x.shape[1:]))}, the training images "
                         f"{'x'.join(map(str, mem_x.shape[1:]))}; prepare both the same way")
    cand = np.concatenate([mem_x, non_x])
    cand_y = np.concatenate([mem_y, non_y])
    is_member = np.concatenate([np.ones(len(mem_x), bool), np.zeros(len(non_x), bool)])

    from ganctl.metrics.cas import _is_dataset

    D = None
    if _is_dataset(source):
        from ganctl.data.dataset import PreparedDataset

        gds = PreparedDataset(source)
        n = min(num_generated, len(gds))
        fakes, _ = gds.get_batch(np.arange(n))
        fakes = torch.from_numpy(np.ascontiguousarray(fakes))
        described = f"dataset {source}"
    else:
        from ganctl.sampling.generate import load_generator

        gen = load_generator(source, dev)
        emit({"type": "message", "text": f"generating {num_generated} images"})
        fakes = torch.cat(list(gen.iter_images(range(num_generated), truncation_psi, None, 256)))
        described = str(gen.path)
        D = _load_D(source, dev)  # (D, num_classes) or None
    if tuple(fakes.shape[1:]) != tuple(cand.shape[1:]):
        raise UsageError(f"--train {train}: images are {'x'.join(map(str, cand.shape[1:]))}, generated ones "
                         f"{'x'.join(map(str, fakes.shape[1:]))}; audit with the data the run was trained on")

    # Full black-box: distance of each candidate to its nearest generated image, RMS on the [0, 1] scale.
    q = torch.from_numpy(cand).reshape(len(cand), -1).float().div(255)
    ref = fakes.reshape(len(fakes), -1).float().div(255)
    d, _ = knn(q.to(dev), [(s, ref[s:s + 2048]) for s in range(0, len(ref), 2048)], 1)
    dist = (d[:, 0] / math.sqrt(q.shape[1])).cpu().numpy()
    out = {"generated_from": described, "num_generated": int(len(fakes)), "members": int(is_member.sum()),
           "nonmembers": int((~is_member).sum()), "train": str(train), "heldout": str(heldout), "seed": seed,
           "bootstrap": bootstrap, "attacks": {}}
    bb = attack_record(-dist, is_member, bootstrap, seed)
    bb["member_nearest_distance_median"] = float(np.median(dist[is_member]))
    bb["nonmember_nearest_distance_median"] = float(np.median(dist[~is_member]))
    bb["verdict"] = verdict(bb)
    out["attacks"]["black_box"] = bb

    if D is not None:
        D, num_classes = D
        with torch.no_grad():
            scores = []
            for s in range(0, len(cand), 256):
                x = torch.from_numpy(cand[s:s + 256]).to(dev).float().div(127.5).sub(1)
                c = torch.from_numpy(cand_y[s:s + 256]).to(dev) if num_classes else None
                scores.append(D(x, c).float().flatten().cpu())
        wb = attack_record(torch.cat(scores).numpy().astype(np.float64), is_member, bootstrap, seed)
        wb["verdict"] = verdict(wb)
        out["attacks"]["white_box"] = wb
    else:
        out["attacks"]["white_box"] = None
        out["white_box_note"] = "no discriminator in this source (a dataset or a foreign network): white-box skipped"

    # What `ganctl nearest` finds on the same generated images (pixel space), against the training set.
    n_near = min(len(fakes), 256)
    near = find_nearest(fakes[:n_near], resolve_source(train, allow_stats=False, num=None), spaces=("pixel",),
                        device=dev)
    rec = to_record(near, list(range(n_near)))
    out["nearest"] = {"checked": n_near, "near_copies": len(rec["near_copies"]), "near_copy_seeds": rec["near_copies"][:20],
                      "pixel": rec["spaces"]["pixel"]}
    return out
