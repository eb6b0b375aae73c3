"""The StyleGAN2 family (Karras et al. 2020): the `model:` config keys it takes (DEFAULTS) and build() -> (G, D).

Architecture as users know it from NVlabs' code (skip G, resnet D, config F at 1024 with channel_base 32768), so the
parameter counts equal theirs and their weights map onto these modules one to one.
"""

from __future__ import annotations


from ganctl.errors import UsageError
from ganctl.models.family import Export, Family, require_square_power_of_two

DEFAULTS = {
    "z_dim": 512,
    "w_dim": 512,
    "mapping_layers": 8,
    "mapping_lr_mult": 0.01,
    "w_avg_beta": 0.998,
    "channel_base": 32768,   # channels at resolution r = min(channel_base // r, channel_max)
    "channel_max": 512,
    "num_fp16_res": 4,       # top resolutions computed in fp16 on CUDA (always fp32 on CPU)
    "conv_clamp": 256,       # activation clamp (None: off); keeps fp16 layers from overflowing
    "fused_modconv": True,   # grouped-conv modulation at inference; False: always modulate activations
    "mbstd_group": 4,
    "mbstd_channels": 1,
    "d_architecture": "resnet",  # resnet | orig (no residual skips; NVlabs' cifar setting)
    "d_cmap_layers": 8,      # conditional D: depth of its class -> projection-vector mapping
}


def check_resolution(height: int, width: int | None = None) -> int:
    """The square power-of-two resolution StyleGAN2 needs, or a UsageError saying how to get one."""
    return require_square_power_of_two("stylegan2", height, width)


def check_common(cfg: dict, positive_keys) -> None:
    """The checks StyleGAN2 and StyleGAN3 share: positive sizes, D's architecture, the minibatch-stddev channels."""
    from ganctl.models.stylegan2.discriminator import ARCHITECTURES

    for key in positive_keys:
        if int(cfg[key]) < 1:
            raise UsageError(f"config key model.{key}: must be >= 1, got {cfg[key]}")
    if cfg["d_architecture"] not in ARCHITECTURES:
        raise UsageError(f"config key model.d_architecture: {cfg['d_architecture']!r} is not one of "
                         f"{', '.join(ARCHITECTURES)}")
    c4 = min(int(cfg["channel_base"]) // 4, int(cfg["channel_max"]))
    if cfg["mbstd_channels"] < 0 or (cfg["mbstd_channels"] and c4 % cfg["mbstd_channels"]):
        raise UsageError(f"config key model.mbstd_channels: must divide the 4x4 channel count {c4}, "
                         f"got {cfg['mbstd_channels']}")


def conv_clamp_of(cfg: dict):
    """model.conv_clamp as the layers take it: None when unset or <= 0 (no clamping)."""
    return cfg["conv_clamp"] if cfg["conv_clamp"] and cfg["conv_clamp"] > 0 else None


def build_discriminator(cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    """StyleGAN2's D for a resolved `model:` section (StyleGAN3 trains with the same D, at the configured channels)."""
    from ganctl.models.stylegan2.discriminator import Discriminator

    return Discriminator(int(num_classes), int(img_resolution), int(img_channels), mbstd_group=int(cfg["mbstd_group"]),
                         mbstd_channels=int(cfg["mbstd_channels"]), architecture=cfg["d_architecture"],
                         cmap_layers=int(cfg["d_cmap_layers"]), mapping_lr_mult=float(cfg["mapping_lr_mult"]),
                         channel_base=int(cfg["channel_base"]), channel_max=int(cfg["channel_max"]),
                         num_fp16_res=int(cfg["num_fp16_res"]), conv_clamp=conv_clamp_of(cfg))


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    """(G, D) for a resolved `model:` section. `num_classes` 0 makes both unconditional."""
    from ganctl.models.stylegan2.synthesis import Generator

    cfg = {**DEFAULTS, **{k: v for k, v in model_cfg.items() if k != "family"}}
    check_resolution(int(img_resolution))
    check_common(cfg, ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max"))
    G = Generator(int(cfg["z_dim"]), int(num_classes), int(cfg["w_dim"]), int(img_resolution), int(img_channels),
                  mapping_layers=int(cfg["mapping_layers"]), mapping_lr_mult=float(cfg["mapping_lr_mult"]),
                  w_avg_beta=float(cfg["w_avg_beta"]), fused_modconv=bool(cfg["fused_modconv"]),
                  channel_base=int(cfg["channel_base"]), channel_max=int(cfg["channel_max"]),
                  num_fp16_res=int(cfg["num_fp16_res"]), conv_clamp=conv_clamp_of(cfg))
    return G, build_discriminator(cfg, img_resolution, img_channels, num_classes)


FAMILY = Family(
    name="stylegan2", defaults=DEFAULTS, build=build, losses=("stylegan2",), precision="fp32", truncation="w_avg",
    doc="StyleGAN2 (Karras et al. 2020): mapping network, modulated convolutions, skip G, resnet D",
    # The fused modulated conv groups by batch; ONNX Conv's group is a constant, so graphs use the unfused form.
    export=Export(parts=("full", "mapping", "synthesis"), call_kwargs={"fused_modconv": False}),
)
