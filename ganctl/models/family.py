"""The family contract: what every model family declares, in one place, so the config layer and the engine ask the
family instead of testing its name.

A family is a module under `ganctl/models/` with a module-level `FAMILY = Family(...)`. The registry of names lives in
`ganctl.models.FAMILY_MODULES`; `ganctl.models.get_family(name)` imports the module and returns its declaration.

What a generator is conditioned on (`conditioning`):
  "latent"  G(z, c): a latent z and, with model.conditional, a class c. The engine draws z and c per (seed, step,
            phase) and calls `loss.accumulate_gradients(phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg)`.
  "image"   G maps an input image batch to an output image batch (super-resolution, pix2pix, CycleGAN). The family's
            `make_batches(cfg, dataset) -> BatchSource` turns the dataset into training batches, and the engine calls
            `loss.accumulate_gradients(phase, batch, gain, cur_nimg)` with `batch` a dict of float tensors in [-1, 1].

What the data is (`data`): "images" (one set, labelled or not), "paired" (input/target pairs: prepared pairs, or pairs
made on the fly from targets by a degradation, as super-resolution does; batch keys "input" and "target"), "unpaired"
(two domains; batch keys "A" and "B"). `make_batches` refuses, with a UsageError, a dataset it cannot use; latent
families only read "images" datasets. Both are checked at config time, before the run directory exists.

A BatchSource has one method, `load(seed, start, count, rank=0, world_size=1) -> dict[str, uint8 NCHW tensor]`: the
global batch of `count` stream positions from `start`, this rank's share of it (positions start + rank * count //
world_size onward). It is a pure function of (seed, stream position): crops, flips, degradations and pairing draws
are all seeded from (seed, position), so a resumed run reads what an uninterrupted one does and N processes read what
one does. The engine splits each rank's share into batch_gpu chunks by slicing every tensor of the dict.

Several networks: G (and D) may be a container module holding several networks (CycleGAN's G_A and G_B): one optimizer
per phase over all their parameters, G_ema a copy of the whole container. Applying a generator is
`sampling.conditioned.apply_generator(G, x, direction)`: `G.translate(x, direction)` when the container has it, else
`G(x)`. Phases run in `phase_order` (pix2pix and ESRGAN update D then G; CycleGAN G then D); optim.d_steps still
applies. State a loss keeps (an image pool) lives in its buffers, so the checkpoint carries it.

Training grids of image families are rows of [input resized to the target size | G_ema(input) | target] for fixed
stream positions under a fixed seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ganctl.errors import UsageError

# What `train.precision=auto` means on CUDA for a family (CPU is always fp32):
#   "bf16"   autocast the whole step in bfloat16
#   "fp32"   plain fp32, the family manages any reduced precision itself (StyleGAN2's fp16 top layers)
PRECISIONS = ("bf16", "fp32")

# How `--truncation PSI` acts, a pure function of the seed in every case:
#   "w_avg"       lerp(w_avg, w, psi) in a style network's W space (optionally only for the first `cutoff` layers)
#   "z_scale"     z * psi: move z toward the prior's mean
#   "z_resample"  redraw z components outside [-psi, psi] (a truncated normal; BigGAN's rule)
TRUNCATIONS = ("w_avg", "z_scale", "z_resample")

# The parts of a generator `ganctl export` can write as a graph of its own (ganctl/export/):
#   "full"       z (+ c, psi) -> image
#   "mapping"    z (+ c, psi) -> w (N, num_ws, w_dim), truncated     (style families: G.mapping)
#   "synthesis"  w -> image                                          (style families: G.synthesis)
EXPORT_PARTS = ("full", "mapping", "synthesis")


@dataclass(frozen=True)
class Export:
    """How a family's generator becomes an ONNX graph (`ganctl export --format onnx`).

    `graph`: None for latent generators called as G(z, c, truncation_psi=..., truncation_cutoff=..., noise_mode=...)
    (ganctl.export.graphs builds the wrapper); a family whose generator takes something else (an image) gives its own
    `graph(G, part, options) -> ganctl.export.graphs.Graph`. A family without an `Export` is refused by `export`.
    `call_kwargs` pick the formulation a static graph can hold (e.g. StyleGAN2's unfused modulated conv: the fused one
    groups the conv by batch, and ONNX's Conv takes its group count as a constant).
    """

    parts: tuple[str, ...] = ("full",)
    graph: Callable | None = None
    call_kwargs: dict = field(default_factory=dict)  # extra keywords for G(...) and G.synthesis(...) while exporting
    # image families holding two generators (CycleGAN): the `--direction`s it exports (the first is the default)
    directions: tuple[str, ...] = ("AtoB",)

    def __post_init__(self):
        bad = [p for p in self.parts if p not in EXPORT_PARTS]
        if bad or "full" not in self.parts:
            raise ValueError(f"Export.parts {self.parts!r}: must include 'full' and be among {EXPORT_PARTS}")


def image_export_graph(G, part: str, options):
    """Export.graph of the image-to-image families: `input` in, `image` out (ganctl.export.graphs.image_graph; imported
    here on use, so declaring a family does not import torch)."""
    from ganctl.export.graphs import image_graph

    return image_graph(G, part, options)


CONDITIONINGS = ("latent", "image")
DATA_KINDS = ("images", "paired", "unpaired")
PHASES = ("D", "G")


@dataclass(frozen=True)
class Family:
    name: str
    defaults: dict                       # the `model:` keys it takes, with their defaults
    build: Callable                      # build(model_cfg, img_resolution, img_channels, num_classes) -> (G, D)
    losses: tuple[str, ...]              # loss.type values it trains with; the first is its natural one
    precision: str = "bf16"              # train.precision=auto on CUDA (see PRECISIONS)
    truncation: str = "z_scale"          # see TRUNCATIONS
    # make_schedule(cfg, img_resolution) -> ganctl.engine.schedule.Schedule; None: the constant schedule. A family with
    # a schedule gives G and D a `set_stage(resolution, alpha)` method that the engine calls when the stage moves.
    make_schedule: Callable | None = None
    uses_batchnorm: bool = False         # G or D hold BatchNorm layers (cross-replica BN applies under torchrun)
    export: Export | None = None         # how `ganctl export` writes its generator (None: it cannot)
    conditioning: str = "latent"         # see CONDITIONINGS and the module docstring
    data: str = "images"                 # see DATA_KINDS
    make_batches: Callable | None = None  # image families: make_batches(cfg, dataset) -> BatchSource
    phase_order: tuple[str, ...] = ("D", "G")
    doc: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"family {self.name}: precision {self.precision!r} not in {PRECISIONS}")
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"family {self.name}: truncation {self.truncation!r} not in {TRUNCATIONS}")
        if not self.losses:
            raise ValueError(f"family {self.name}: declares no losses")
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(f"family {self.name}: conditioning {self.conditioning!r} not in {CONDITIONINGS}")
        if self.data not in DATA_KINDS:
            raise ValueError(f"family {self.name}: data {self.data!r} not in {DATA_KINDS}")
        if sorted(self.phase_order) != sorted(PHASES):
            raise ValueError(f"family {self.name}: phase_order {self.phase_order!r} must order {PHASES}")
        if (self.conditioning == "image") != (self.make_batches is not None):
            raise ValueError(f"family {self.name}: image-conditioned families (and only they) declare make_batches")

    @property
    def image_conditioned(self) -> bool:
        return self.conditioning == "image"

    @property
    def has_schedule(self) -> bool:
        return self.make_schedule is not None


def require_square_power_of_two(family: str, height: int, width: int | None = None) -> int:
    """The square power-of-two resolution (>= 4) that growing and style families need, or a UsageError saying how to
    prepare the data to get one."""
    height = int(height)
    width = height if width is None else int(width)
    if height != width:
        raise UsageError(f"{family}: images are {width}x{height}; the model needs square images: "
                         "prepare the dataset with `--resolution N` (center-crop/pad to NxN)")
    if height < 4 or height & (height - 1):
        nxt = 2 ** math.ceil(math.log2(max(height, 4)))
        raise UsageError(f"{family}: resolution {height} is not a power of two >= 4; prepare the dataset with "
                         f"`--resolution {nxt}` (pads or resizes to {nxt}x{nxt})")
    return height
