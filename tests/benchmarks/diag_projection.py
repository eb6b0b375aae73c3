#!/usr/bin/env python3
"""Where a projection-conditioned GAN loses the class: D's features, D's projection, or G (a diagnosis, not a test).

For a trained conditional run whose D ends in a projection head (score = linear(h) + <embed(c), h>, Miyato & Koyama
2018: the biggan family), on the run's labelled dataset:
  probe      accuracy on held-out real images of a linear classifier fitted (cross-entropy, on standardised h) to D's
             pooled features h of training images: whether h carries the class at all
  projection accuracy on held-out real images of D's own projection as a classifier, argmax_k <embed(k), h>: whether
             D's class term has learned to use h (the only class signal G receives)
  G          the dataset classifier's accuracy on G_ema's images (seeds 0..N-1, class seed % classes), and how much G's
             pixels move with the class at a fixed z against with z at a fixed class
High probe with a projection near chance means D's class term is the bottleneck (it has not learned from its class
gradient, which for a class-blind G is only the small class-specific part of real-minus-fake features); a projection
well above chance with G near chance means G is not following its class signal.

    python tests/benchmarks/diag_projection.py RUN_DIR DATA_PATH [--num 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganctl.config.load import validate_resolved
from ganctl.data.dataset import PreparedDataset, open_validation
from ganctl.engine import checkpoint as ckpt
from ganctl.engine.feed import to_float
from ganctl.metrics.classifier import classifier_for
from ganctl.models import build_networks
from ganctl.sampling.generate import load_generator


def pooled(D, ds, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """D's penultimate features h and the labels of the first n images of ds."""
    u8, labels = ds.get_batch(np.arange(min(n, len(ds))))
    c = torch.from_numpy(np.asarray(labels)).long()
    with torch.no_grad():
        _, h = D(to_float(torch.from_numpy(u8), "cpu"), c, return_features=True)  # as the trainer feeds D
    return h, c


def linear_probe(h_train, y_train, h_val, y_val, classes: int, steps: int = 500) -> float:
    m, s = h_train.mean(0), h_train.std(0) + 1e-6
    lin = torch.nn.Linear(h_train.shape[1], classes)
    opt = torch.optim.Adam(lin.parameters(), 1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(lin((h_train - m) / s), y_train).backward()
        opt.step()
    with torch.no_grad():
        return (lin((h_val - m) / s).argmax(1) == y_val).float().mean().item()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("data")
    ap.add_argument("--num", type=int, default=1000)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    gen = load_generator(str(a.run), "cpu")
    tensors, meta = ckpt.load_checkpoint(gen.path)
    ds_meta, classes = meta["dataset"], gen.num_classes
    _, D = build_networks(validate_resolved(meta["config"]), ds_meta["resolution"], ds_meta["channels"], classes)
    D.load_state_dict(ckpt.module_state("D", tensors))
    D.eval()
    train, val = PreparedDataset(a.data), open_validation(a.data)
    h_tr, y_tr = pooled(D, train, 4 * a.num)
    h_va, y_va = pooled(D, val if val is not None else train, a.num)
    with torch.no_grad():
        proj = (h_va @ D.embed.sn_weight().T).argmax(1)
    clf = classifier_for(a.data)
    seeds = list(range(a.num))
    g_acc = clf.accuracy(torch.cat(list(gen.iter_images(seeds))).numpy(), np.array(seeds) % classes)[0]
    z = torch.randn(8, gen.G.z_dim, generator=torch.Generator().manual_seed(0)).repeat_interleave(classes, 0)
    with torch.no_grad():
        x = gen.G(z, torch.arange(classes).repeat(8)).view(8, classes, -1)
    print(f"{gen.path.name} ({classes} classes, chance {1 / classes:.3f}):")
    probe = linear_probe(h_tr, y_tr, h_va, y_va, classes)
    print(f"  probe       {probe:.3f}  (linear classifier on D's pooled features)")
    print(f"  projection  {(proj == y_va).float().mean().item():.3f}  (D's own class term as a classifier)")
    print(f"  G           {g_acc:.3f} of real {clf.real_accuracy:.3f}; pixel std across classes {x.std(1).mean():.3f}, "
          f"across z {x.std(0).mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
