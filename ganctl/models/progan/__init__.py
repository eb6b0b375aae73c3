"""The Progressive GAN family (Karras et al. 2018): the `model:` config keys it takes (DEFAULTS), build() -> (G, D),
and its growing schedule (the `progressive:` config section, run by ganctl.engine.schedule).

Networks as the paper and the official TensorFlow code (tkarras/progressive_growing_of_gans, networks.py) define them,
so the parameter counts at the official 1024x1024 defaults are theirs: G 23,079,115, D 23,087,249.
"""

from __future__ import annotations

from ganctl.errors import UsageError
from ganctl.losses.adversarial import CLASSIC_LOSSES
from ganctl.models.family import Export, Family, require_square_power_of_two

DEFAULTS = {
    "z_dim": 512,            # latent size; the official code uses nf(0) = min(fmap_base, fmap_max)
    "fmap_base": 8192,       # channels at resolution 2**r: min(fmap_base / 2**((r - 1) * fmap_decay), fmap_max)
    "fmap_decay": 1.0,
    "fmap_max": 512,
    "mbstd_group": 4,        # minibatch stddev group in D's 4x4 block; 0 or 1 disables it
    "embed_dim": 32,         # conditional G: label embedding width concatenated to the latent
    "normalize_latents": True,   # pixelnorm on the input latent
    "use_pixelnorm": True,   # pixelnorm after every G conv (the paper's ablation: false)
    "use_wscale": True,      # equalised learning rate (the paper's ablation: false)
    "pixelnorm_eps": 1e-8,
}

# The Wasserstein critic (with the family's gradient penalty and drift) first: the paper's loss.
LOSSES = ("wasserstein",) + tuple(t for t in CLASSIC_LOSSES if t != "wasserstein")




def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    """(G, D) for a resolved `model:` section, both at the final resolution with alpha 1 (the engine sets the stage)."""
    from ganctl.models.progan.discriminator import Discriminator
    from ganctl.models.progan.generator import Generator

    cfg = {**DEFAULTS, **{k: v for k, v in model_cfg.items() if k not in ("family", "conditional")}}
    res = require_square_power_of_two("progan", img_resolution)
    for key in ("z_dim", "fmap_base", "fmap_max", "embed_dim"):
        if int(cfg[key]) < 1:
            raise UsageError(f"config key model.{key}: must be >= 1, got {cfg[key]}")
    if cfg["fmap_decay"] < 0:
        raise UsageError(f"config key model.fmap_decay: must be >= 0, got {cfg['fmap_decay']}")
    if cfg["mbstd_group"] < 0:
        raise UsageError(f"config key model.mbstd_group: must be >= 0 (0 disables it), got {cfg['mbstd_group']}")
    fmaps = dict(fmap_base=int(cfg["fmap_base"]), fmap_decay=float(cfg["fmap_decay"]), fmap_max=int(cfg["fmap_max"]))
    G = Generator(int(cfg["z_dim"]), res, int(img_channels), int(num_classes), embed_dim=int(cfg["embed_dim"]),
                  normalize_latents=bool(cfg["normalize_latents"]), use_pixelnorm=bool(cfg["use_pixelnorm"]),
                  use_wscale=bool(cfg["use_wscale"]), pixelnorm_eps=float(cfg["pixelnorm_eps"]), **fmaps)
    D = Discriminator(res, int(img_channels), int(num_classes), mbstd_group=int(cfg["mbstd_group"]),
                      use_wscale=bool(cfg["use_wscale"]), **fmaps)
    return G, D


def _progressive_schedule(cfg, img_resolution):
    # Imported lazily: the schedule lives in the engine, which imports the model registry.
    from ganctl.engine.schedule import ProgressiveSchedule

    return ProgressiveSchedule(cfg, img_resolution)


FAMILY = Family(
    name="progan", defaults=DEFAULTS, build=build, losses=LOSSES, precision="bf16", truncation="z_scale",
    make_schedule=_progressive_schedule, uses_batchnorm=False,
    export=Export(parts=("full",)),
    doc="Progressive GAN (Karras et al. 2018): growing resolution with fade-in, pixelnorm, equalised lr, minibatch stddev",
)
