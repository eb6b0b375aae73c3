"""Differentiable augmentation of D's inputs for small datasets: ADA (adaptive p) and DiffAugment (fixed policy).

Both are nn.Modules applied to real and fake images alike inside the loss, so D never sees un-augmented data and G
receives gradients through the transforms. `build_augment(cfg)` picks one from the config's `augment` section.
"""

from __future__ import annotations


def build_augment(cfg: dict, channels: int):
    kind = cfg["kind"]
    if kind == "none":
        return None
    if kind == "ada":
        from ganctl.augment.ada import AdaptiveAugment

        return AdaptiveAugment(channels, p=cfg["p"], target=cfg["target"], ada_kimg=cfg["ada_kimg"], interval=cfg["interval"])
    from ganctl.augment.diffaugment import DiffAugment

    return DiffAugment(cfg["policy"])
