"""Test helper: small ganctl checkpoints of every family, built directly (no training), for export and serving tests.

Weights are the family's own initialisation under a fixed seed, perturbed where an untrained network would hide a
bug (batch-norm running statistics, StyleGAN2's w_avg and noise strengths, StyleGAN3's input transform and input
gains, DCGAN's tiny initial weights), so the graphs have something to get wrong.
"""

from __future__ import annotations

from pathlib import Path

import torch

# name -> (preset, overrides, resolution, channels, classes)
TINY = {
    "mlp": ("vanilla-mnist", ["model.hidden=[32,32]", "model.d_hidden=[16]"], 16, 1, 0),
    "cgan": ("cgan-fashion-mnist", ["model.g_channels=8", "model.d_channels=8"], 32, 1, 10),
    "wgan-gp": ("wgan-gp-64", ["model.g_channels=4", "model.d_channels=4", "model.z_dim=16"], 32, 3, 0),
    "progan": ("progan-tiny", ["model.fmap_base=32", "model.fmap_max=16"], 16, 1, 0),
    "biggan": ("biggan-tiny", [], 32, 1, 10),
    "stylegan2": ("stylegan-tiny", ["model.channel_base=128", "model.channel_max=16"], 16, 1, 0),
    "stylegan3": ("stylegan3-tiny", ["model.channel_base=256", "model.channel_max=16", "model.num_layers=4",
                                     "model.margin_size=2", "model.z_dim=16", "model.w_dim=16"], 16, 1, 0),
    # image-to-image families (resolution: the training images' size; the graphs take other sizes too)
    "sr": ("sr-tiny", ["model.num_feat=8", "model.num_conv=2"], 32, 3, 0),
    "pix2pix": ("pix2pix-tiny", ["model.ngf=4", "model.ndf=4"], 32, 3, 0),
    "cyclegan": ("cyclegan-tiny", ["model.ngf=4", "model.ndf=4"], 32, 3, 0),
}


def make_checkpoint(dest: Path, name: str, seed: int = 0) -> Path:
    """A ganctl checkpoint holding G_ema of the TINY network `name` (what `load_generator` reads)."""
    from ganctl.config import resolve_config
    from ganctl.engine import checkpoint as ckpt
    from ganctl.models import build_networks

    preset, overrides, res, ch, classes = TINY[name]
    cfg = resolve_config(preset, None, overrides)
    torch.manual_seed(seed)
    G, _ = build_networks(cfg, res, ch, classes)
    with torch.no_grad():
        for key, t in G.state_dict().items():
            if key.endswith("running_mean") or key.endswith("w_avg"):
                t.normal_(0, 0.3)
            elif key.endswith("running_var"):
                t.uniform_(0.5, 2.0)
            elif key.endswith("noise_strength"):
                t.fill_(0.1)
            elif key.endswith("magnitude_ema"):
                t.uniform_(0.3, 3.0)
            elif key.endswith("input.affine.bias"):
                # StyleGAN3's input affine starts as the identity transform; a rotation and a translation per w
                # exercise the Fourier features' transform in the graph.
                t.copy_(torch.tensor([0.8, 0.5, 0.3, -0.2]))
            elif cfg["model"]["family"] in ("dcgan", "pix2pix", "cyclegan") and t.ndim >= 2 and t.is_floating_point():
                # DCGAN's N(0, 0.02) init leaves an untrained G's images nearly constant in z; He-scaled weights
                # make every seed's image its own, so a parity test compares real differences.
                t.mul_((2.0 / (t.numel() / t.shape[1])) ** 0.5 / t.std())
    tensors = {f"G_ema/{k}": v for k, v in G.state_dict().items()}
    meta = {"config": cfg, "dataset": {"name": f"tiny{res}", "resolution": res, "channels": ch,
                                       "label_names": [str(i) for i in range(classes or 10)], "count": 0},
            "counters": {"cur_nimg": 0}}
    dest.mkdir(parents=True, exist_ok=True)
    return ckpt.save_checkpoint(dest / f"{name}.safetensors", tensors, meta)
