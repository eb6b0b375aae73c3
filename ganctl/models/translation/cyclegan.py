"""The CycleGAN family (`model.family=cyclegan`; Zhu et al. 2017): two generators, G_A: A -> B and G_B: B -> A
(ResNet, instance norm, reflection padding), and two PatchGAN discriminators, D_A on domain B (it judges G_A's outputs,
the reference's naming) and D_B on domain A. G and D are containers of both, so one optimizer per phase covers both,
as the reference chains their parameters. Trained on unpaired datasets (`prepare-data --unpaired`) with the `cyclegan`
loss (LSGAN, cycle 10, identity 0.5, the 50-image history pool), G then D each step."""

from __future__ import annotations

from torch import nn

from ganctl.models.family import Export, Family, image_export_graph
from ganctl.models.translation import networks as nets
from ganctl.models.translation.pix2pix import check_model, multiple_of

DEFAULTS = {
    "generator": "resnet_9blocks",
    "ngf": 64,
    "ndf": 64,
    "n_layers_D": 3,
    "norm": "instance",
    "dropout": False,            # the reference's --no_dropout default for CycleGAN
    "init_gain": 0.02,
    "lr_constant_kimg": 0.0,
    "lr_decay_kimg": 0.0,
}


class CycleGenerators(nn.Module):
    """G_A: A -> B and G_B: B -> A. `translate(x, direction)` is what `translate` and training grids call."""

    def __init__(self, G_A: nn.Module, G_B: nn.Module):
        super().__init__()
        self.G_A, self.G_B = G_A, G_B

    def translate(self, x, direction: str = "AtoB"):
        return self.G_A(x) if direction == "AtoB" else self.G_B(x)

    def forward(self, x):
        return self.G_A(x)


class CycleDiscriminators(nn.Module):
    """D_A judges domain B (real B vs G_A's outputs), D_B judges domain A, as in the reference code."""

    def __init__(self, D_A: nn.Module, D_B: nn.Module):
        super().__init__()
        self.D_A, self.D_B = D_A, D_B

    def forward(self, img):
        return self.D_A(img)


def build(model_cfg: dict, img_resolution: int, img_channels: int, num_classes: int):
    m = model_cfg
    check_model(m)

    def g():
        return nets.init_weights(nets.build_generator(m["generator"], img_channels, img_channels, m["ngf"], m["norm"], m["dropout"]),
                                 m["init_gain"])

    def d():
        return nets.init_weights(nets.PatchDiscriminator(img_channels, m["ndf"], m["n_layers_D"], m["norm"]), m["init_gain"])

    G_A, G_B = g(), g()
    D_A, D_B = d(), d()
    G, D = CycleGenerators(G_A, G_B), CycleDiscriminators(D_A, D_B)
    G.img_resolution = D.img_resolution = int(img_resolution)  # the loss sizes its image pools from these
    G.img_channels = int(img_channels)
    return G, D


def _make_batches(cfg, dataset):
    from ganctl.models.translation.batches import make_unpaired

    check_model(cfg["model"])
    return make_unpaired(cfg, dataset, multiple_of(cfg["model"]["generator"]))


def _make_schedule(cfg, img_resolution):
    from ganctl.models.translation.schedule import make_schedule

    return make_schedule(cfg, img_resolution)


FAMILY = Family(
    name="cyclegan", defaults=DEFAULTS, build=build, losses=("cyclegan",), precision="bf16", truncation="z_scale",
    make_schedule=_make_schedule, uses_batchnorm=False,  # instance norm by default; norm=batch under torchrun is per process
    conditioning="image", data="unpaired", make_batches=_make_batches, phase_order=("G", "D"),
    export=Export(graph=image_export_graph, directions=("AtoB", "BtoA")),  # G_A by default, G_B with --direction BtoA
    extra={"command": "translate"},
    doc="unpaired translation: two ResNet G, two PatchGAN D, LSGAN + cycle + identity, 50-image pool (Zhu et al. 2017)",
)
