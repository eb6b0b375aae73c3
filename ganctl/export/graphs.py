"""The torch modules `ganctl export` traces: a generator part wrapped so its inputs and outputs are named tensors.

Inputs and outputs of the graphs (all with a dynamic batch axis N):

  z      float32 (N, z_dim)          the latent; ganctl draws it per seed (sampling/latents.py)
  c      int64   (N,)                class index, only for class-conditional generators
  psi    float32 ()                  truncation psi, only where the family truncates inside G (w_avg, z_scale) and the
                                     export did not fix it with --truncation; BigGAN's rule redraws z on the host
  w      float32 (N, num_ws, w_dim)  style families: mapping's output and synthesis' input
  image  float32 (N, C, H, W) in [-1, 1] (not clamped), or uint8 (N, C, H, W) in [0, 255] with --uint8

Image-to-image families (sr, pix2pix, cyclegan; `image_graph`) take `input` float32 (N, C, H, W) in [-1, 1] and
return `image` (N, C, s*H, s*W) (s: sr's scale, else 1) like every graph (ONNX names must differ, so the input is
`input`, the training batches' key), with dynamic N, H and W: H and W multiples of the network's
size multiple M (U-Net 2^depth, ResNet 4, sr 1, or its pixel-unshuffle factor), at least 2M. The graph is the
network in eval mode: dropout off and batch norm by its running statistics, i.e. `ganctl translate --dropout off
--bn running` (pix2pix's default test-time noise and per-image statistics are not in the graph). CycleGAN's graph is
G_A (A -> B) unless `--direction BtoA`.

Truncation with a fixed psi is a constant of the graph; a psi input keeps it a run-time choice. The uint8 rule is
`floor(clamp(x * 127.5 + 128, 0, 255))`, the same numbers as ganctl.sampling.latents.to_uint8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Graph:
    """What torch.onnx.export needs, plus the description written into the model's metadata."""

    module: nn.Module
    args: tuple                      # example inputs, in `input_names` order
    input_names: list[str]
    output_names: list[str]
    # input name -> {axis: name} (any size >= 1), or {axis: (name, multiple)}: a multiple of `multiple`, >= 2 multiples
    dynamic: dict = field(default_factory=dict)
    doc: dict = field(default_factory=dict)        # name -> one line for the metadata


@dataclass(frozen=True)
class Options:
    """What `ganctl export` asks of a graph."""

    part: str = "full"
    truncation_psi: float | None = None   # None: psi is an input (where the family truncates in G)
    truncation_cutoff: int | None = None
    noise_mode: str = "const"
    uint8: bool = False
    call_kwargs: dict = field(default_factory=dict)   # the family's Export.call_kwargs
    direction: str = "AtoB"   # image families with two generators (CycleGAN): which one
    channels: int = 0         # the network's image channels (its dataset's)


def uint8_image(x: torch.Tensor) -> torch.Tensor:
    return torch.floor((x * 127.5 + 128).clamp(0, 255)).to(torch.uint8)


class _Latent(nn.Module):
    """z (+ c, psi) -> G's image, or mapping's w. `psi` None means the graph takes it as an input."""

    def __init__(self, G, part: str, options: Options, conditional: bool, psi_input: bool):
        super().__init__()
        self.G, self.part, self.options = G, part, options
        self.conditional, self.psi_input = conditional, psi_input

    def forward(self, z, x1=None, x2=None):  # explicit positions (not *args): torch.export matches them to shapes
        rest = [x1, x2]
        c = rest.pop(0) if self.conditional else None
        psi = rest.pop(0) if self.psi_input else (self.options.truncation_psi if self.options.truncation_psi is not None else 1.0)
        if self.part == "mapping":
            return self.G.mapping(z, c, truncation_psi=psi, truncation_cutoff=self.options.truncation_cutoff)
        kwargs = {"truncation_psi": psi, "noise_mode": self.options.noise_mode, **self.options.call_kwargs}
        if self.options.truncation_cutoff is not None:
            kwargs["truncation_cutoff"] = self.options.truncation_cutoff
        img = self.G(z, c, **kwargs)
        return uint8_image(img) if self.options.uint8 else img


class _Synthesis(nn.Module):
    def __init__(self, G, options: Options):
        super().__init__()
        self.G, self.options = G, options

    def forward(self, w):
        img = self.G.synthesis(w, noise_mode=self.options.noise_mode, **self.options.call_kwargs)
        return uint8_image(img) if self.options.uint8 else img


def latent_graph(G, part: str, options: Options, truncation_rule: str) -> Graph:
    """The graph of a latent generator (mlp, dcgan, progan, biggan, stylegan2, ...) for `part`."""
    batch = 2  # example batch; the axis is exported as dynamic
    conditional = bool(getattr(G, "c_dim", 0))
    psi_input = truncation_rule != "z_resample" and options.truncation_psi is None
    image_doc = ("uint8 (N, C, H, W) in [0, 255]" if options.uint8
                 else "float32 (N, C, H, W), nominally [-1, 1] (not clamped)")
    if part == "synthesis":
        w = torch.randn(batch, G.num_ws, G.w_dim)
        return Graph(_Synthesis(G, options), (w,), ["w"], ["image"], {"w": {0: "N"}},
                     {"w": f"float32 (N, {G.num_ws}, {G.w_dim}): per-layer styles (the mapping part's output)",
                      "image": image_doc})
    args, names = [torch.randn(batch, G.z_dim)], ["z"]
    doc = {"z": f"float32 (N, {G.z_dim}): latent, standard normal (ganctl: RandomState(seed).randn)"}
    if conditional:
        args.append(torch.zeros(batch, dtype=torch.int64))
        names.append("c")
        doc["c"] = f"int64 (N,): class index in 0..{G.c_dim - 1}"
    if psi_input:
        args.append(torch.tensor(0.7))
        names.append("psi")
        doc["psi"] = "float32 scalar: truncation psi (1 = none)"
    out = "w" if part == "mapping" else "image"
    doc[out] = (f"float32 (N, {G.num_ws}, {G.w_dim}): truncated per-layer styles" if part == "mapping" else image_doc)
    return Graph(_Latent(G, part, options, conditional, psi_input), tuple(args), names, [out],
                 {n: {0: "N"} for n in names if n != "psi"}, doc)


class _Image(nn.Module):
    """input -> G's image (one direction of a container of generators)."""

    def __init__(self, G, options: Options):
        super().__init__()
        self.G, self.options = G, options

    def forward(self, x):
        from ganctl.sampling.conditioned import apply_generator

        img = apply_generator(self.G, x, self.options.direction)
        return uint8_image(img) if self.options.uint8 else img


def size_multiple(G) -> int:
    """What an input's H and W must be multiples of: the U-Net's 2^depth, the ResNet's 4, sr's pixel-unshuffle."""
    net = getattr(G, "G_A", G)
    return int(getattr(net, "multiple", 1)) * int(getattr(net, "unshuffle", 1))


def image_graph(G, part: str, options: Options) -> Graph:
    """The graph of an image-to-image generator (sr, pix2pix, cyclegan): `input` in, `image` out."""
    G.eval()  # dropout off, batch norm by running statistics: the graph is deterministic per image
    m = size_multiple(G)
    channels = options.channels
    example = torch.rand(2, channels, 2 * m + (0 if m > 1 else 8), 3 * m + (0 if m > 1 else 12)) * 2 - 1
    out_doc = ("uint8 (N, C, sH, sW) in [0, 255]" if options.uint8
               else "float32 (N, C, sH, sW), nominally [-1, 1] (not clamped)")
    return Graph(_Image(G, options), (example,), ["input"], ["image"],
                 {"input": {0: "N", 2: ("H", m), 3: ("W", m)}},
                 {"input": f"float32 (N, {channels}, H, W) in [-1, 1], H and W multiples of {m} (>= {2 * m})",
                  "image": f"{out_doc}; eval mode (translate --dropout off --bn running), direction "
                           f"{options.direction}"})
