"""StyleGAN2's mapping network: z (+ class embedding) -> w, the running mean w_avg, and truncation toward it."""

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
