"""The super-resolution family (`model.family=sr`): an image-conditioned family (models/family.py) whose G maps an LR
image to its `scale`-times larger HR version. One family, several networks, chosen by `model.generator`
(rrdbnet, msrresnet, srvgg) and `model.discriminator` (vgg, unet), with BasicSR's names and parameter counts."""

from __future__ import annotations

from ganctl.models.family import Export, Family, image_export_graph

def _degradation_defaults() -> dict:
    from ganctl.data.degradations import DEFAULT_PARAMS  # numpy only: no torch at import

    return {k: list(v) if isinstance(v, list) else v for k, v in DEFAULT_PARAMS.items()}


DEFAULTS = {
    "scale": 4,
    "generator": "rrdbnet",      # rrdbnet (ESRGAN, Real-ESRGAN) | msrresnet (SRGAN) | srvgg (realesr-general)
    "num_feat": 64,
    "num_block": 23,             # RRDB blocks (rrdbnet) or residual blocks (msrresnet)
    "num_grow_ch": 32,           # rrdbnet dense-block growth
    "num_conv": 32,              # srvgg body convs
    "act_type": "prelu",         # srvgg activation
    "discriminator": "vgg",      # vgg (SRGAN/ESRGAN, one logit, input gt_size) | unet (Real-ESRGAN, per-pixel, SN)
    "d_num_feat": 64,
    "gt_size": 128,              # HR patch size; the LR input is gt_size / scale
    "use_hflip": True,
    "use_rot": True,
    "degradation": "bicubic",    # how LR inputs are made from HR patches: bicubic | realesrgan (models/sr/batches.py)
    # Real-ESRGAN's second-order pipeline settings (used with degradation=realesrgan); published defaults.
    "degradation_params": _degradation_defaults(),
    "gt_usm": False,             # Real-ESRGAN: sharpen HR patches (USM, data/usm.py), make the LR from the sharpened copy
    # BasicSR's learning-rate schedules in images (models/sr/schedule.py): constant | multistep | cosine_restart
    "lr_scheme": "constant",
    "lr_milestones_kimg": [],    # multistep: x lr_gamma at each (BasicSR milestones x batch / 1000)
    "lr_gamma": 0.5,
    "lr_periods_kimg": [],       # cosine_restart: cosine periods, each restarting at lr_restart_weights[i] x the rate
    "lr_restart_weights": [],
    "lr_eta_min": 0.0,
}

GENERATORS = ("rrdbnet", "msrresnet", "srvgg")
DISCRIMINATORS = ("vgg", "unet")


def build_generator(m: dict, img_channels: int):
    from ganctl.models.sr import generators as g

    kind = m["generator"]
    if kind == "rrdbnet":
        return g.RRDBNet(img_channels, img_channels, m["scale"], m["num_feat"], m["num_block"], m["num_grow_ch"])
    if kind == "msrresnet":
        return g.MSRResNet(img_channels, img_channels, m["num_feat"], m["num_block"], m["scale"])
    if kind == "srvgg":
        return g.SRVGGNetCompact(img_channels, img_channels, m["num_feat"], m["num_conv"], m["scale"], m["act_type"])
    raise ValueError(kind)


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    from ganctl.errors import UsageError
    from ganctl.models.sr import discriminators as d

    m = model_cfg
    if m["generator"] not in GENERATORS:
        raise UsageError(f"config key model.generator: {m['generator']!r} is not one of {', '.join(GENERATORS)}")
    if m["discriminator"] not in DISCRIMINATORS:
        raise UsageError(f"config key model.discriminator: {m['discriminator']!r} is not one of {', '.join(DISCRIMINATORS)}")
    try:
        G = build_generator(m, img_channels)
        if m["discriminator"] == "vgg":
            D = d.VGGStyleDiscriminator(img_channels, m["d_num_feat"], m["gt_size"])
        else:
            D = d.UNetDiscriminatorSN(img_channels, m["d_num_feat"])
    except ValueError as e:
        raise UsageError(f"config key model: {e}") from None
    return G, D


def _make_schedule(cfg, img_resolution):
    from ganctl.models.sr.schedule import make_schedule

    return make_schedule(cfg, img_resolution)


def _make_batches(cfg, dataset):
    from ganctl.models.sr.batches import make_batches

    return make_batches(cfg, dataset)


FAMILY = Family(
    name="sr", defaults=DEFAULTS, build=build, losses=("sr",), precision="bf16", truncation="z_scale",
    uses_batchnorm=True,  # the VGG-style D
    conditioning="image", data="paired", make_batches=_make_batches, make_schedule=_make_schedule,
    phase_order=("G", "D"),  # BasicSR updates G, then D on the same outputs
    export=Export(graph=image_export_graph),  # image (N, C, H, W) -> image (N, C, scale*H, scale*W)
    extra={"command": "upscale"},  # the command that applies it (sampling refuses it with this hint)
    doc="super-resolution: RRDBNet / MSRResNet / SRVGGNetCompact G, VGG-style or U-Net D (BasicSR, Real-ESRGAN)",
)
