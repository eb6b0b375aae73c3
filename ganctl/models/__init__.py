"""Generators and discriminators per family; `build_networks(cfg, ...)` picks the family from the config registry."""

from __future__ import annotations

import importlib


def build_networks(cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    """(G, D) for the config's model family. `num_classes` 0 means unconditional."""
    from ganctl.config.schema import MODEL_FAMILIES

    model_cfg = dict(cfg["model"])
    mod = importlib.import_module(MODEL_FAMILIES[model_cfg["family"]])
    return mod.build(model_cfg, img_resolution, img_channels, num_classes)
