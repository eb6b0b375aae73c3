"""The training loop's phases: one Adam optimizer per network (G, D), split into a main and a lazily regularised phase
where the config sets a regularisation interval, and the learning rates the schedule's stage gives them.

A network may ask for its own parameter groups (`lr_groups()`, e.g. BigGAN's class tables): a group's `lr_mult`
scales whatever lr the stage sets, at construction and at every later change (lr decay, progressive stages), and it
is saved with the optimizer's state, so a resumed run keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Phase:
    name: str  # Gmain, Greg, Gboth, Dmain, Dreg, Dboth
    module: torch.nn.Module
    opt: torch.optim.Optimizer
    interval: int
    lr_ratio: float  # lazy regularisation's lr correction interval / (interval + 1); 1 without an interval


def _scaled(lr: float, group: dict) -> float:
    return lr * group.get("lr_mult", 1.0)


def optimizer_groups(module: torch.nn.Module, lr: float) -> list[dict]:
    """Adam's parameter groups for a network: all its parameters at `lr`, or the network's own split (`lr_groups()`)
    with each group at `lr` x its `lr_mult`."""
    split = getattr(module, "lr_groups", None)
    groups = split() if split is not None else [{"params": list(module.parameters())}]
    return [dict(g, lr=_scaled(lr, g)) for g in groups]


def make_phases(optim_cfg: dict, G: torch.nn.Module, D: torch.nn.Module, lr_g: float, lr_d: float) -> list[Phase]:
    """Fresh optimizers for G and D at these learning rates (with lazy regularisation's correction); D's phases first."""
    phases = []
    for name, module, ocfg, interval, lr in (("D", D, optim_cfg["d"], optim_cfg["d_reg_interval"], lr_d),
                                              ("G", G, optim_cfg["g"], optim_cfg["g_reg_interval"], lr_g)):
        # Lazy regularisation (Karras et al. 2020): scale lr and betas so the effective step matches.
        r = 1.0 if interval is None else interval / (interval + 1)
        opt = torch.optim.Adam(optimizer_groups(module, lr * r), betas=tuple(b**r for b in ocfg["betas"]), eps=ocfg["eps"])
        if interval is None:
            phases.append(Phase(name + "both", module, opt, 1, 1.0))
        else:
            phases += [Phase(name + "main", module, opt, 1, r), Phase(name + "reg", module, opt, interval, r)]
    return phases


def set_learning_rates(phases: list[Phase], lr_g: float, lr_d: float) -> None:
    """The stage's rates into every phase's optimizer (a G phase's and a D phase's, each group at its lr_mult)."""
    for ph in phases:
        lr = (lr_g if ph.name[0] == "G" else lr_d) * ph.lr_ratio
        for group in ph.opt.param_groups:
            group["lr"] = _scaled(lr, group)
