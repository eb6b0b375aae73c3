"""StyleGAN2's mapping network: z (+ class embedding) -> w, the running mean w_avg, and truncation toward it; and
StyleGenerator, the mapping + synthesis wiring that StyleGAN2's and StyleGAN3's generators share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganctl.models.layers import psi_is_one
from ganctl.models.stylegan2.layers import FullyConnectedLayer, normalize_2nd_moment


def one_hot(c: torch.Tensor | None, c_dim: int, batch: int, device) -> torch.Tensor | None:
    """Class indices (N,) int64 -> float one-hot (N, c_dim); None for unconditional models."""
    if c_dim == 0:
        return None
    if c is None:
        raise ValueError(f"this network is class-conditional ({c_dim} classes): pass class indices c")
    if c.ndim == 2 and c.shape[1] == c_dim and c.is_floating_point():  # already one-hot / soft labels
        return c.to(device=device, dtype=torch.float32)
    c = c.to(device=device, dtype=torch.int64).reshape(-1)
    if c.shape[0] != batch:
        raise ValueError(f"got {c.shape[0]} class labels for a batch of {batch}")
    return F.one_hot(c, c_dim).to(torch.float32)


class MappingNetwork(nn.Module):
    """num_layers equalised-lr FC layers (lrelu, lr multiplier 0.01) from the normalised latent to w.

    With z_dim 0 and num_ws None it is the discriminator's class -> cmap embedding (NVlabs' projection D).
    """

    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, lr_multiplier=0.01, w_avg_beta=0.998):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = w_dim if c_dim > 0 else 0
        self.embed = FullyConnectedLayer(c_dim, embed_features) if c_dim > 0 else None
        features = [z_dim + embed_features] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            FullyConnectedLayer(features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            for i in range(num_layers))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi=1.0, truncation_cutoff=None, update_emas=False):
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            batch = z.shape[0] if z is not None else c.shape[0]
            device = z.device if z is not None else c.device
            parts.append(normalize_2nd_moment(self.embed(one_hot(c, self.c_dim, batch, device))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)

        if update_emas and self.num_ws is not None and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if not psi_is_one(truncation_psi):
            cutoff = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            x = torch.cat([self.w_avg.lerp(x[:, :cutoff], truncation_psi), x[:, cutoff:]], dim=1)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class StyleGenerator(nn.Module):
    """Mapping + a synthesis network (ws (N, num_ws, w_dim) -> images): the seam sampling, projection and the latent
    tools use (z_dim, c_dim, w_dim, num_ws, w_avg, mapping(...), synthesis(ws, ...)). StyleGAN2's and StyleGAN3's
    Generator subclass it, naming their `synthesis_class` and default mapping depth. Synthesis is built first, so seeded
    initialisation draws in NVlabs' order (synthesis, then mapping) and state-dict keys match theirs."""

    synthesis_class: type[nn.Module]
    default_mapping_layers = 8

    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_layers=None, mapping_lr_mult=0.01,
                 w_avg_beta=0.998, **synthesis_kwargs):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = self.synthesis_class(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        layers = self.default_mapping_layers if mapping_layers is None else mapping_layers
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=layers,
                                      lr_multiplier=mapping_lr_mult, w_avg_beta=w_avg_beta)

    @property
    def w_avg(self) -> torch.Tensor:
        """Running mean of w (a buffer of the mapping network: state_dict key `mapping.w_avg`)."""
        return self.mapping.w_avg

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const", update_emas=False,
                **synthesis_kwargs):
        """z (N, z_dim) [+ class c] -> images float32 (N, C, H, W), nominally in [-1, 1] (not clamped)."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, update_emas=update_emas, **synthesis_kwargs)
