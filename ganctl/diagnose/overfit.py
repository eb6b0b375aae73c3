"""Discriminator overfitting: E[sign(D(real))] on training images and D's accuracy gap to a held-out split.

Protocol. D is loaded from the checkpoint and run in eval mode, without augmentation, on N training images and (when
the dataset was prepared with `--val-fraction`) N held-out images it never saw. r = E[sign(D(x))] is the overfitting
heuristic ADA adjusts its augmentation strength by (Karras et al. 2020: 0 = no overfitting, 1 = complete; ADA
targets 0.6); accuracy is the share of real images D scores above 0 ("real"). A D that memorised its training set
scores training images as real far more often than unseen ones of the same distribution: that gap is the direct
measure and decides the severity when a split exists; without one, r above 0.6 is a warning (a hint: a D that
wins on every image, memorised or not, also has r near 1).

Limits: a threshold at 0 means something only for logistic (non-saturating, StyleGAN2) and hinge losses; for
Wasserstein and least-squares D's output has no decision threshold there, so only the mean-score gap is reported.
ADA trains D on augmented images, so its r during training (Augment/p rising) and this un-augmented r differ.
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.diagnose.findings import Finding

SIGN_LOSSES = ("nonsaturating", "hinge", "stylegan2")
WARN_R = 0.6  # ADA's target for r: above it ADA would add augmentation
WARN_GAP, SEVERE_GAP = 0.1, 0.25
ADVICE = ["enable augmentation: augment.kind=ada (adaptive, target r=0.6) or augment.kind=diffaugment",
          "add R1 (loss.r1_gamma) or raise it; lower D's learning rate (optim.d.lr)",
          "use more training images, or the best checkpoint (`--checkpoint best`) from before D overfitted"]


@torch.no_grad()
def d_scores(D, images_u8: np.ndarray, labels: np.ndarray | None, device, batch: int = 64) -> torch.Tensor:
    """D's raw outputs for uint8 (N, C, H, W) images in [-1, 1] scaling, as training feeds them."""
    out = []
    for i in range(0, len(images_u8), batch):
        x = torch.from_numpy(np.ascontiguousarray(images_u8[i:i + batch])).to(device).float() / 127.5 - 1
        c = None if labels is None else torch.from_numpy(np.asarray(labels[i:i + batch])).to(device)
        out.append(D(x, c).float().reshape(-1).cpu())
    return torch.cat(out)


def overfit_findings(loss_type: str, train_scores: torch.Tensor, val_scores: torch.Tensor | None) -> list[Finding]:
    ev: dict = {"loss": loss_type, "n_train": len(train_scores), "mean_score_train": float(train_scores.mean())}
    if val_scores is not None:
        ev.update(n_val=len(val_scores), mean_score_val=float(val_scores.mean()))
    if loss_type not in SIGN_LOSSES:
        extra = (f"; mean D(real) train {ev['mean_score_train']:.4g} vs held-out {ev['mean_score_val']:.4g}"
                 if val_scores is not None else "")
        return [Finding("d-overfitting", "info", f"E[sign(D(real))] is not meaningful for loss.type={loss_type} (D's output "
                        f"has no decision threshold at 0){extra}", ev)]
    r = float(train_scores.sign().mean())
    acc_t = float((train_scores > 0).float().mean())
    ev.update(sign_train=r, accuracy_train=acc_t)
    # r alone cannot tell memorisation from a D that simply wins on everything: without a held-out split it is a hint
    # (warning at most); with one, the accuracy gap decides.
    sev = "warning" if r > WARN_R else "ok"
    text = f"E[sign(D(real))] on training images = {r:.3f} (ADA targets 0.6; 1 = D calls every training image real)"
    if val_scores is not None:
        acc_v = float((val_scores > 0).float().mean())
        gap = acc_t - acc_v
        ev.update(sign_val=float(val_scores.sign().mean()), accuracy_val=acc_v, accuracy_gap=gap)
        text += f"; D accuracy on reals: training {100 * acc_t:.1f}% vs held-out {100 * acc_v:.1f}% (gap {100 * gap:+.1f} points)"
        sev = "severe" if gap > SEVERE_GAP else "warning" if gap > WARN_GAP else "ok"
    else:
        text += "; no held-out split to compare (prepare the dataset with --val-fraction 0.05)"
    if sev != "ok":
        text = "discriminator overfitting: " + text
    return [Finding("d-overfitting", "info" if sev == "ok" else sev, text, ev, ADVICE if sev != "ok" else [])]
