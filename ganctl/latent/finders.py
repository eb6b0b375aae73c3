"""Finding edit directions in W: SeFa (closed form from the style weights), GANSpace (PCA of sampled w) and a
labelled boundary (InterFaceGAN: a linear SVM on w of the seeds a user scored). Each returns a `Directions`
(ganctl/latent/directions.py), the format `ganctl edit` and the explorer read.

- SeFa (Shen & Zhou 2021): A = the affine (style) weight matrices of the chosen layers stacked row-wise, each row
  scaled to unit L2 norm; the directions are the eigenvectors of A^T A by descending eigenvalue (genforce's code
  leaves numpy's eig order; we sort, as the paper means). Row normalisation makes the equalised-lr gains irrelevant,
  so the stored weights are used as they are.
- GANSpace (Harkonen et al. 2020): PCA of w (the mapping's output, before broadcast) of `num_samples` seeds; a
  component's scale is the standard deviation of the projections of fresh w on it (5,000 or fewer seeds that the
  PCA did not see), so strength 1 is one standard deviation, as GANSpace's sigma.
- Boundary (Shen et al. 2020): the top and bottom `ratio` of the scored seeds are positives and negatives (a file of
  0/1 labels uses every row), each split `split`/(1 - split) into training and validation; a soft-margin linear SVM
  (C = 1, the bias as a regularised constant feature, solved exactly by dual coordinate descent, Hsieh et al. 2008)
  gives the normal n = a / |a|, oriented toward the positives. Its validation accuracy goes into the file's meta.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ganctl.errors import UsageError
from ganctl.latent.directions import Directions
from ganctl.latent.wspace import ws_for_seeds


def layer_mask(num_ws: int, layers, k: int) -> np.ndarray:
    mask = np.zeros((k, num_ws), dtype=bool)
    mask[:, list(range(num_ws)) if layers is None else list(layers)] = True
    return mask


def style_matrix(G, layers=None) -> np.ndarray:
    """The row-normalised stacked affine weights (sum of style dims, w_dim) of the ws in `layers` (None: all)."""
    if not hasattr(G, "style_affines"):
        raise UsageError("--method sefa: this generator does not expose its style affines (G.style_affines())")
    mats = [aff.weight.detach().double().cpu() for i, aff in G.style_affines() if layers is None or i in layers]
    if not mats:
        raise UsageError(f"--layers: no style layer reads ws {list(layers)}")
    A = torch.cat(mats).numpy()
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def sefa(G, layers=None, num: int | None = None) -> Directions:
    A = style_matrix(G, layers)
    evals, evecs = np.linalg.eigh(A.T @ A)
    order = np.argsort(evals)[::-1][:num or len(evals)]
    vectors = evecs[:, order].T
    vectors *= np.where(vectors[np.arange(len(order)), np.abs(vectors).argmax(1)] < 0, -1.0, 1.0)[:, None]
    k = len(order)
    return Directions(vectors, np.ones(k), layer_mask(G.num_ws, layers, k), [f"sefa_{i}" for i in range(k)], "sefa",
                      {"layers": "all" if layers is None else list(layers), "eigenvalues": evals[order].tolist()})


def _w_rows(gen, first_seed: int, n: int, batch_size: int = 1024) -> np.ndarray:
    """w (before broadcast) of seeds first_seed .. first_seed + n - 1, float64 (n, w_dim)."""
    out = []
    for i in range(0, n, batch_size):
        seeds = range(first_seed + i, first_seed + min(i + batch_size, n))
        out.append(ws_for_seeds(gen, seeds, batch_size=batch_size)[:, 0].double().cpu().numpy())
    return np.concatenate(out)


def ganspace(gen, num_samples: int = 50_000, components: int = 80, layers=None, seed: int = 0,
             stdev_samples: int = 5000) -> Directions:
    if num_samples < 2:
        raise UsageError("--num-samples: PCA needs at least 2 samples (GANSpace uses 10^5 or more)")
    if components < 1:
        raise UsageError("--components: must be at least 1")
    G = gen.G
    w = _w_rows(gen, seed, num_samples)
    mean = w.mean(0)
    _, s, vt = np.linalg.svd(w - mean, full_matrices=False)
    k = min(components, vt.shape[0])
    vectors = vt[:k] * np.where(vt[np.arange(k), np.abs(vt[:k]).argmax(1)] < 0, -1.0, 1.0)[:, None]
    fresh = _w_rows(gen, seed + num_samples, max(2, min(stdev_samples, num_samples)))
    stdev = ((fresh - mean) @ vectors.T).std(0)
    var = s ** 2
    return Directions(vectors, stdev, layer_mask(G.num_ws, layers, k), [f"pc{i}" for i in range(k)], "ganspace",
                      {"num_samples": num_samples, "seed": seed, "layers": "all" if layers is None else list(layers),
                       "explained_variance_ratio": (var[:k] / var.sum()).tolist(), "w_mean": mean.tolist()})


def read_scores(path: str | Path) -> tuple[list[int], np.ndarray]:
    """`seed,score` rows (a header line is allowed; extra columns ignored)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--scores {path}: no such file; expected a CSV of `seed,score` rows")
    seeds, scores = [], []
    with open(path, newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
                continue
            try:
                seed, score = int(row[0]), float(row[1])
            except (ValueError, IndexError):
                if n == 1:
                    continue  # header
                raise UsageError(f"--scores {path}: line {n} is not `seed,score`: {','.join(row)[:60]}") from None
            if seed < 0 or not math.isfinite(score):
                raise UsageError(f"--scores {path}: line {n}: seed must be >= 0 and score finite")
            seeds.append(seed)
            scores.append(score)
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--scores {path}: a seed appears twice")
    return seeds, np.asarray(scores, dtype=np.float64)


def linear_svm(X: np.ndarray, y: np.ndarray, C: float = 1.0, tol: float = 1e-4, max_epochs: int = 2000,
               seed: int = 0) -> tuple[np.ndarray, float, np.ndarray]:
    """Soft-margin linear SVM (hinge loss) by dual coordinate descent; returns (a, b, alpha) with
    a = sum alpha_i y_i x_i over the features and b over the constant feature 1 appended to X."""
    Xa = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    q = (Xa ** 2).sum(1)
    alpha = np.zeros(len(X))
    wv = np.zeros(Xa.shape[1])
    rng = np.random.RandomState(seed)
    for _ in range(max_epochs):
        worst = 0.0
        for i in rng.permutation(len(X)):
            g = y[i] * Xa[i].dot(wv) - 1
            pg = g if 0 < alpha[i] < C else (min(g, 0.0) if alpha[i] == 0 else max(g, 0.0))
            worst = max(worst, abs(pg))
            if pg != 0:
                old = alpha[i]
                alpha[i] = min(max(old - g / q[i], 0.0), C)
                wv += (alpha[i] - old) * y[i] * Xa[i]
        if worst < tol:
            break
    return wv[:-1], float(wv[-1]), alpha


def boundary(gen, scores_csv: str | Path, ratio: float = 0.02, split: float = 0.7, seed: int = 0,
             name: str = "boundary", layers=None) -> Directions:
    if not 0 < ratio <= 0.5:
        raise UsageError(f"--ratio {ratio}: the share of top (and of bottom) scores to use must be in (0, 0.5]")
    if not 0 < split < 1:
        raise UsageError(f"--split {split}: the training share must be in (0, 1)")
    seeds, scores = read_scores(scores_csv)
    labels_given = set(np.unique(scores)) <= {0.0, 1.0}
    order = np.argsort(scores, kind="stable")
    if labels_given:
        pos, neg = order[scores[order] == 1], order[scores[order] == 0]
    else:
        n = min(int(len(scores) * ratio), len(scores) // 2)
        pos, neg = order[::-1][:n], order[:n]
    rng = np.random.RandomState(seed)
    pos, neg = rng.permutation(pos), rng.permutation(neg)
    ntp, ntn = int(len(pos) * split), int(len(neg) * split)
    if min(ntp, ntn) < 1 or len(pos) - ntp < 1 or len(neg) - ntn < 1:
        raise UsageError(f"--scores {scores_csv}: {len(pos)} positives and {len(neg)} negatives are too few to train and "
                         f"validate; score more seeds or raise --ratio (InterFaceGAN scores ~500,000 seeds at 0.02)")
    w = _w_rows_for(gen, seeds)
    tr = np.concatenate([pos[:ntp], neg[:ntn]])
    va = np.concatenate([pos[ntp:], neg[ntn:]])
    y = np.zeros(len(scores))
    y[pos], y[neg] = 1.0, -1.0
    a, b, _ = linear_svm(w[tr], y[tr])
    norm = np.linalg.norm(a)
    if norm == 0:
        raise UsageError(f"--scores {scores_csv}: the classifier found no direction (are the labels all alike?)")
    acc = lambda idx: float((np.sign(w[idx] @ a + b) == y[idx]).mean())  # noqa: E731
    meta = {"scores": Path(scores_csv).name, "ratio": ratio, "split": split, "labels": labels_given,
            "train": len(tr), "validation": len(va), "train_accuracy": acc(tr), "validation_accuracy": acc(va),
            "bias": b / norm, "layers": "all" if layers is None else list(layers)}
    return Directions((a / norm)[None], np.ones(1), layer_mask(gen.G.num_ws, layers, 1), [name], "boundary", meta)


def _w_rows_for(gen, seeds) -> np.ndarray:
    return ws_for_seeds(gen, seeds)[:, 0].double().cpu().numpy()
