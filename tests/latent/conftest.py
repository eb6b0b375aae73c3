"""Shared fixtures for the latent tools: a seeded, untrained stylegan-tiny generator built in memory (fast, for the
formula tests) wrapped like a loaded checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


class Loaded:
    """What ganctl.sampling.generate.LoadedGenerator gives the latent tools: G, device, classes, family."""

    def __init__(self, G):
        self.G, self.device, self.num_classes, self.family = G, torch.device("cpu"), 0, "stylegan2"
        self.path = Path("seeded-G")

    def _check_class(self, class_idx):
        assert class_idx is None


@pytest.fixture(scope="module")
def tiny_G():
    from ganctl.models.stylegan2.synthesis import Generator

    torch.manual_seed(0)
    G = Generator(16, 0, 16, 16, 1, mapping_layers=2, channel_base=256, channel_max=16, num_fp16_res=0)
    with torch.no_grad():  # a non-zero w_avg and noise strengths, as a trained network has
        G.mapping.w_avg.normal_()
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def tiny_gen(tiny_G):
    return Loaded(tiny_G)
