"""The StyleGAN3 family (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), configurations -t and -r:
the `model:` keys it takes (DEFAULTS) and build() -> (G, D).

G follows NVlabs' networks_stylegan3 (so parameter counts equal theirs and their pickles map key for key); D is
ganctl's StyleGAN2 discriminator, as in NVlabs' training setup. `config: r` is -t with 1x1 convolutions, radially
symmetric downsampling filters and G's channel_base / channel_max doubled (NVlabs' train.py does the doubling; D
keeps the configured values). The loss is StyleGAN2's without path-length and style-mixing regularisation; -r
presets blur D's inputs early in training (loss.blur_init_sigma / blur_fade_kimg).
"""

from __future__ import annotations

from ganctl.errors import UsageError
from ganctl.models.family import Export, Family, require_square_power_of_two
from ganctl.models.stylegan2 import build_discriminator, check_common, conv_clamp_of

CONFIGS = ("t", "r")

DEFAULTS = {
    "config": "t",           # t: translation equivariant (3x3 convs); r: also rotation (1x1 convs, radial filters)
    "z_dim": 512,
    "w_dim": 512,
    "mapping_layers": 2,
    "mapping_lr_mult": 0.01,
    "w_avg_beta": 0.998,
    "channel_base": 32768,   # G channels = rint(min(channel_base / 2 / cutoff, channel_max)); -r doubles both for G
    "channel_max": 512,
    "num_layers": 14,        # synthesis layers besides the Fourier input and ToRGB (num_ws = num_layers + 2)
    "num_critical": 2,       # critically sampled layers at the end
    "margin_size": 10,       # extra pixels around the image in the feature maps
    "num_fp16_res": 4,       # layers whose sampling rate x 2^num_fp16_res > resolution compute in fp16 on CUDA
    "conv_clamp": 256,
    "magnitude_ema_beta": 0.999,  # NVlabs' train.py sets 0.5 ** (batch / 20000); the presets do the same
    "mbstd_group": 4,
    "mbstd_channels": 1,
    "d_architecture": "resnet",
    "d_cmap_layers": 8,
}


def check_resolution(height: int, width: int | None = None) -> int:
    return require_square_power_of_two("stylegan3", height, width)


def generator_kwargs(cfg: dict) -> dict:
    """Generator(...) keyword arguments for a resolved `model:` section (besides z/c/w dims and image shape)."""
    r = cfg["config"] == "r"
    return dict(mapping_layers=int(cfg["mapping_layers"]), mapping_lr_mult=float(cfg["mapping_lr_mult"]),
                w_avg_beta=float(cfg["w_avg_beta"]),
                channel_base=int(cfg["channel_base"]) * (2 if r else 1),
                channel_max=int(cfg["channel_max"]) * (2 if r else 1),
                num_layers=int(cfg["num_layers"]), num_critical=int(cfg["num_critical"]),
                margin_size=int(cfg["margin_size"]), num_fp16_res=int(cfg["num_fp16_res"]),
                conv_clamp=conv_clamp_of(cfg),
                conv_kernel=1 if r else 3, use_radial_filters=r, magnitude_ema_beta=float(cfg["magnitude_ema_beta"]))


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    """(G, D) for a resolved `model:` section. `num_classes` 0 makes both unconditional."""
    from ganctl.models.stylegan3.synthesis import Generator

    cfg = {**DEFAULTS, **{k: v for k, v in model_cfg.items() if k != "family"}}
    check_resolution(int(img_resolution))
    if cfg["config"] not in CONFIGS:
        raise UsageError(f"config key model.config: {cfg['config']!r} is not one of {', '.join(CONFIGS)} "
                         "(t: StyleGAN3-T, r: StyleGAN3-R)")
    check_common(cfg, ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "num_layers"))
    if not 0 <= int(cfg["num_critical"]) < int(cfg["num_layers"]):
        raise UsageError(f"config key model.num_critical: must be in [0, model.num_layers), got {cfg['num_critical']}")
    if not 0 < float(cfg["magnitude_ema_beta"]) < 1:
        raise UsageError(f"config key model.magnitude_ema_beta: must be in (0, 1), got {cfg['magnitude_ema_beta']}")
    G = Generator(int(cfg["z_dim"]), int(num_classes), int(cfg["w_dim"]), int(img_resolution), int(img_channels),
                  **generator_kwargs(cfg))
    return G, build_discriminator(cfg, img_resolution, img_channels, num_classes)


FAMILY = Family(
    name="stylegan3", defaults=DEFAULTS, build=build, losses=("stylegan2",), precision="fp32", truncation="w_avg",
    doc="StyleGAN3 (Karras et al. 2021): alias-free synthesis (Fourier input, filtered lrelu), configs t and r; "
        "StyleGAN2 D",
    # The fused modulated conv groups by batch; ONNX Conv's group is a constant, so graphs use the unfused form.
    export=Export(parts=("full", "mapping", "synthesis"), call_kwargs={"fused_modconv": False}),
)
