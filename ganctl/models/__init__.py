"""Generators and discriminators per family. Each family module declares a `FAMILY` (see family.py); this package
holds the registry of names and builds networks for a config.

The registry maps names to module paths, so listing the names (config choices, `--help`) imports no torch.
"""

from __future__ import annotations

import importlib

FAMILY_MODULES = {
    "mlp": "ganctl.models.mlp",
    "dcgan": "ganctl.models.dcgan",
    "stylegan2": "ganctl.models.stylegan2",
    "stylegan3": "ganctl.models.stylegan3",
    "progan": "ganctl.models.progan",
    "biggan": "ganctl.models.biggan",
    "sr": "ganctl.models.sr",
    "pix2pix": "ganctl.models.translation.pix2pix",
    "cyclegan": "ganctl.models.translation.cyclegan",
}


def get_family(name: str):
    """The `Family` declaration of a registered family (imports its module)."""
    return importlib.import_module(FAMILY_MODULES[name]).FAMILY


def build_networks(cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    """(G, D) for the config's model family. `num_classes` 0 means unconditional."""
    model_cfg = dict(cfg["model"])
    return get_family(model_cfg["family"]).build(model_cfg, img_resolution, img_channels, num_classes)
