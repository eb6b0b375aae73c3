"""BigGAN (Brock et al. 2019) and SAGAN (Zhang et al. 2019) as one family: class-conditional ResNet G and D with
spectral norm, conditional batch norm, optional shared class embedding and hierarchical z, and self-attention at chosen
resolutions. The networks and their parameter counts match BigGAN-PyTorch's (tests/models/test_biggan.py).

`model.` keys: `ch` (channel width multiplier), `d_ch` (D's own multiplier, BigGAN-PyTorch's D_ch; 0 = `ch`), `attn_res` (resolutions, in G's and D's feature maps, that get a
self-attention block), `shared_dim` (shared class embedding width; 0 = per-layer class tables), `hier` (hierarchical z),
`z_dim`, `init` (ortho | N02 | xavier, BigGAN-PyTorch's G_init/D_init), `shared_std` (std of a normal init of G's shared
class embedding instead of `init`; 0 = `init`, as BigGAN-PyTorch), `d_embed_lr_mult` (learning-rate multiplier of D's
class projection), `g_embed_lr_mult` (learning-rate multiplier of G's class embeddings: the shared one, or the
per-class BN tables), `sn_eps`, `bn_eps`.
"""

from __future__ import annotations

import torch
from torch import nn

from ganctl.errors import UsageError
from ganctl.losses.adversarial import CLASSIC_LOSSES
from ganctl.models.biggan.discriminator import BigGANDiscriminator
from ganctl.models.biggan.generator import BigGANGenerator
from ganctl.models.biggan.layers import init_weights
from ganctl.models.family import Export, Family
from ganctl.models.layers import build_minibatch_discrimination

DEFAULTS = {
    "ch": 64,
    "d_ch": 0,  # D's width multiplier when it differs from G's (BigGAN-PyTorch's separate G_ch / D_ch); 0 = ch
    "attn_res": [],
    "shared_dim": 0,
    "hier": False,
    "z_dim": 128,
    "init": "ortho",
    # G's shared class embedding drawn from N(0, shared_std^2) instead of `init` (0 = `init`). Orthogonal init gives its
    # rows norm sqrt(shared_dim / classes) (0.67 for 36 classes in 16 dims) beside a z chunk of norm ~sqrt(chunk): the
    # class barely moves the conditional BNs until Adam has grown the table, which takes thousands of steps.
    "shared_std": 0.0,
    # D's class embedding is spectrally normalised, so its scale never reaches the score and Adam moves it by ~lr per
    # step whatever its size: dividing its init by k is exactly an lr multiplier k for the class projection alone.
    "d_embed_lr_mult": 1.0,
    # G's class embeddings (plain tables, so Adam's step does depend on a parameter group's lr) at their own rate:
    # BigGANGenerator.lr_groups.
    "g_embed_lr_mult": 1.0,
    "sn_eps": 1e-6,
    "bn_eps": 1e-5,
    "mbdisc_kernels": 0,  # minibatch discrimination on D's pooled features (Salimans et al. 2016; 0 = off)
    "mbdisc_dim": 5,
}
INITS = ("ortho", "N02", "xavier")


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    if model_cfg["init"] not in INITS:
        raise UsageError(f"config key model.init: {model_cfg['init']!r} is not one of {', '.join(INITS)}")
    if model_cfg["hier"] and num_classes and not model_cfg["shared_dim"]:
        raise UsageError("config key model.hier: a hierarchical z is concatenated to the shared class embedding; "
                         "set model.shared_dim (e.g. 128) or model.hier=false")
    if model_cfg["shared_std"] < 0:
        raise UsageError(f"config key model.shared_std: {model_cfg['shared_std']!r} must be >= 0 (0 = model.init)")
    if model_cfg["d_embed_lr_mult"] <= 0:
        raise UsageError(f"config key model.d_embed_lr_mult: {model_cfg['d_embed_lr_mult']!r} must be > 0")
    if model_cfg["g_embed_lr_mult"] <= 0:
        raise UsageError(f"config key model.g_embed_lr_mult: {model_cfg['g_embed_lr_mult']!r} must be > 0")
    attn = [int(r) for r in model_cfg["attn_res"]]
    G = BigGANGenerator(model_cfg["ch"], model_cfg["z_dim"], attn, model_cfg["shared_dim"], model_cfg["hier"],
                        img_resolution, img_channels, num_classes, model_cfg["bn_eps"], model_cfg["sn_eps"],
                        float(model_cfg["g_embed_lr_mult"]))
    D = BigGANDiscriminator(model_cfg["d_ch"] or model_cfg["ch"], attn, img_resolution, img_channels, num_classes, model_cfg["sn_eps"],
                            lambda n: build_minibatch_discrimination(model_cfg, n))
    init_weights(G, model_cfg["init"])
    init_weights(D, model_cfg["init"])
    if model_cfg["shared_std"] and G.shared is not None:
        nn.init.normal_(G.shared.weight, 0.0, float(model_cfg["shared_std"]))
    if D.embed is not None and model_cfg["d_embed_lr_mult"] != 1:
        with torch.no_grad():
            D.embed.weight.div_(float(model_cfg["d_embed_lr_mult"]))
    return G, D


# Hinge first: the loss BigGAN and SAGAN train with.
LOSSES = ("hinge",) + tuple(t for t in CLASSIC_LOSSES if t != "hinge")

FAMILY = Family(
    name="biggan", defaults=DEFAULTS, build=build, losses=LOSSES, precision="bf16", truncation="z_resample",
    uses_batchnorm=True, doc="class-conditional ResNet G/D with spectral norm and self-attention (BigGAN, SAGAN)",
    export=Export(parts=("full",)),
)
