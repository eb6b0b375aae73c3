"""The pix2pix family (`model.family=pix2pix`; Isola et al. 2017): a U-Net (or ResNet) G maps an input image to its
translation, a PatchGAN D judges (input, image) pairs. Trained on paired datasets (`prepare-data --pairs/--aligned`)
with the `pix2pix` loss (vanilla GAN + 100 x L1), D then G each step, under the reference's constant-then-linear-decay
learning rate (models/translation/schedule.py)."""

from __future__ import annotations

import torch

from ganctl.models.family import Export, Family, image_export_graph
from ganctl.models.translation import networks as nets

DEFAULTS = {
    "generator": "unet_256",     # unet_256 | unet_128 | unet_64 | unet_32 | resnet_9blocks | resnet_6blocks
    "ngf": 64,
    "ndf": 64,
    "n_layers_D": 3,             # 3 = the 70x70 PatchGAN
    "norm": "batch",             # batch | instance | none
    "dropout": True,             # dropout 0.5 in G (pix2pix's noise)
    "init_gain": 0.02,
    "lr_constant_kimg": 0.0,     # the reference: n_epochs x dataset size at the constant rate ...
    "lr_decay_kimg": 0.0,        # ... then n_epochs_decay x dataset size of linear decay to 0 (0: constant forever)
}


class PairDiscriminator(nets.PatchDiscriminator):
    """PatchGAN on cat(input, image): D(image, input). Same state_dict keys as the reference's NLayerDiscriminator."""

    conditioned_on_input = True

    def forward(self, img, cond):
        return self.model(torch.cat([cond, img], 1))


def check_model(m: dict) -> None:
    from ganctl.errors import UsageError

    if m["generator"] not in nets.GENERATORS:
        raise UsageError(f"config key model.generator: {m['generator']!r} is not one of {', '.join(nets.GENERATORS)}")
    if m["norm"] not in nets.NORMS:
        raise UsageError(f"config key model.norm: {m['norm']!r} is not one of {', '.join(nets.NORMS)}")


def multiple_of(generator: str) -> int:
    return 2 ** nets.GENERATORS[generator] if generator.startswith("unet") else 4


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    m = model_cfg
    check_model(m)
    G = nets.build_generator(m["generator"], img_channels, img_channels, m["ngf"], m["norm"], m["dropout"])
    D = PairDiscriminator(2 * img_channels, m["ndf"], m["n_layers_D"], m["norm"])
    return nets.init_weights(G, m["init_gain"]), nets.init_weights(D, m["init_gain"])


def _make_batches(cfg, dataset):
    from ganctl.models.translation.batches import make_paired

    check_model(cfg["model"])
    return make_paired(cfg, dataset, multiple_of(cfg["model"]["generator"]))


def _make_schedule(cfg, img_resolution):
    from ganctl.models.translation.schedule import make_schedule

    return make_schedule(cfg, img_resolution)


FAMILY = Family(
    name="pix2pix", defaults=DEFAULTS, build=build, losses=("pix2pix",), precision="bf16", truncation="z_scale",
    make_schedule=_make_schedule, uses_batchnorm=True,
    conditioning="image", data="paired", make_batches=_make_batches, phase_order=("D", "G"),
    export=Export(graph=image_export_graph),  # eval mode: dropout off, running BN statistics (export/graphs.py)
    extra={"command": "translate"},
    doc="image-to-image translation on pairs: U-Net G, PatchGAN D on (input, output), GAN + 100 L1 (Isola et al. 2017)",
)
