"""StyleGAN2's training objective: non-saturating logistic loss, R1 on reals, path-length regularisation with its
running mean, style-mixing regularisation, and the lazy-regularisation phases the engine schedules.

Phases (NVlabs' names): 'Gmain' / 'Dmain' are the adversarial terms, 'Greg' / 'Dreg' the regularisers alone (the engine
runs them every g_reg_interval / d_reg_interval steps with gain = interval), 'Gboth' / 'Dboth' both at once when
there is no interval. The running path-length mean `pl_mean` is a buffer of this module, so `state_dict()` carries it
into checkpoints. All randomness comes from torch's global RNGs, which the engine seeds and saves.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULTS = {
    "r1_gamma": 10.0,
    "pl_weight": 2.0,
    "pl_decay": 0.01,
    "pl_batch_shrink": 2,
    "style_mixing_prob": 0.9,
    # StyleGAN3-R blurs every image D sees with a Gaussian whose sigma fades linearly from blur_init_sigma to 0 over
    # the first blur_fade_kimg (NVlabs: 10 and batch * 200 / 32): it keeps early D from latching onto aliasing.
    "blur_init_sigma": 0.0,
    "blur_fade_kimg": 0.0,
}

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Stop a module's parameters from collecting gradients (D during G phases), restoring each flag afterwards."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def blur_sigma_at(cur_nimg: int, init_sigma: float, fade_kimg: float) -> float:
    """The D-input blur sigma at `cur_nimg`: init_sigma fading linearly to 0 over fade_kimg (0 disables)."""
    if fade_kimg <= 0 or init_sigma <= 0:
        return 0.0
    return max(1 - cur_nimg / (fade_kimg * 1e3), 0) * init_sigma


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian of radius floor(3 sigma), normalised, same size out (NVlabs' run_D blur)."""
    from ganctl import ops

    radius = int(np.floor(sigma * 3))
    if radius <= 0:
        return img
    f = torch.arange(-radius, radius + 1, device=img.device, dtype=torch.float32).div(sigma).square().neg().exp2()
    return ops.filter2d(img, f / f.sum())


class StyleGAN2Loss(nn.Module):
    def __init__(self, G, D, cfg: dict, device=None, augment_pipe=None):
        super().__init__()
        cfg = {**DEFAULTS, **{k: v for k, v in cfg.items() if k != "type"}}
        # Plain attributes, not submodules: G and D are saved by the engine, this module's state is pl_mean only.
        self.__dict__["G"], self.__dict__["D"] = G, D
        self.__dict__["augment_pipe"] = augment_pipe  # the engine owns and saves it (ADA's p)
        self.device = torch.device(device) if device is not None else next(G.parameters()).device
        self.r1_gamma = float(cfg["r1_gamma"])
        self.pl_weight = float(cfg["pl_weight"])
        self.pl_decay = float(cfg["pl_decay"])
        self.pl_batch_shrink = max(int(cfg["pl_batch_shrink"]), 1)
        self.style_mixing_prob = float(cfg["style_mixing_prob"])
        self.blur_init_sigma = float(cfg["blur_init_sigma"])
        self.blur_fade_kimg = float(cfg["blur_fade_kimg"])
        self.blur_sigma = 0.0  # this step's sigma, set from cur_nimg by accumulate_gradients
        self.register_buffer("pl_mean", torch.zeros([], device=self.device))
        self.__dict__["fast"] = None  # compiled callables for the first-order passes (use_compiled)

    def use_compiled(self, wrap) -> None:
        """Run the first-order passes (Gmain, Dmain) through wrap(module), e.g. torch.compile.

        R1 and path-length regularisation differentiate their graphs twice, which compiled graphs do not support,
        so the regularisation passes keep the eager modules; they share the same parameters and buffers.
        """
        self.__dict__["fast"] = {"mapping": wrap(self.G.mapping), "synthesis": wrap(self.G.synthesis), "D": wrap(self.D)}

    # ------------------------------------------------------------------------------------------------------------

    def run_G(self, z, c, update_emas=False, fast=False):
        G = self.G
        mapping, synthesis = (self.fast["mapping"], self.fast["synthesis"]) if fast and self.fast else (G.mapping, G.synthesis)
        ws = mapping(z, c, update_emas=update_emas)
        if self.style_mixing_prob > 0 and ws.shape[1] > 1:
            # Drawn on the CPU RNG: the same decisions on every device, and no device sync to read them.
            cutoff = int(torch.randint(1, ws.shape[1], ()))
            if float(torch.rand(())) < self.style_mixing_prob:
                ws2 = mapping(torch.randn_like(z), c, update_emas=False)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        img = synthesis(ws, noise_mode="random", update_emas=update_emas)
        return img, ws

    def run_D(self, img, c, fast=False):
        if self.blur_sigma > 0:
            img = gaussian_blur(img, self.blur_sigma)
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return (self.fast["D"] if fast and self.fast else self.D)(img, c)

    # ------------------------------------------------------------------------------------------------------------

    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg=0) -> dict:
        """Run `phase`'s forward passes and backward (loss * gain) into G's or D's .grad; returns float stats."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        if phase == "Greg" and self.pl_weight == 0:
            return {}
        if phase == "Dreg" and self.r1_gamma == 0:
            return {}
        self.blur_sigma = blur_sigma_at(cur_nimg, self.blur_init_sigma, self.blur_fade_kimg)
        do_Gmain = phase in ("Gmain", "Gboth")
        do_Gpl = phase in ("Greg", "Gboth") and self.pl_weight != 0
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Dr1 = phase in ("Dreg", "Dboth") and self.r1_gamma != 0
        stats: dict[str, float] = {}

        if do_Gmain or do_Gpl:
            with frozen(self.D):
                if do_Gmain:
                    gen_img, _ = self.run_G(gen_z, gen_c, update_emas=True, fast=True)
                    gen_logits = self.run_D(gen_img, gen_c, fast=True)
                    loss_G = F.softplus(-gen_logits)  # -log(sigmoid(D(G(z))))
                    loss_G.mean().mul(gain).backward()
                    stats["Loss/scores/fake"] = float(gen_logits.detach().mean())
                    stats["Loss/G/loss"] = float(loss_G.detach().mean())
                if do_Gpl:
                    stats.update(self._path_length(gen_z, gen_c, gain))

        if do_Dmain:
            with torch.no_grad():
                gen_img, _ = self.run_G(gen_z, gen_c, update_emas=False, fast=True)
            gen_logits = self.run_D(gen_img, gen_c, fast=True)
            loss_Dgen = F.softplus(gen_logits)  # -log(1 - sigmoid(D(G(z))))
            loss_Dgen.mean().mul(gain).backward()
            stats["Loss/scores/fake"] = float(gen_logits.detach().mean())
            stats["Loss/D/loss_fake"] = float(loss_Dgen.detach().mean())

        if do_Dmain or do_Dr1:
            real_img_tmp = real_img.detach().requires_grad_(do_Dr1)
            real_logits = self.run_D(real_img_tmp, real_c, fast=not do_Dr1)
            loss = real_logits.new_zeros([real_logits.shape[0], 1])
            if do_Dmain:
                loss_Dreal = F.softplus(-real_logits)
                loss = loss + loss_Dreal
                stats["Loss/scores/real"] = float(real_logits.detach().mean())
                # For ADA's controller: sign(D(real)) summed over the chunk (the engine accumulates it).
                stats["Augment/real_sign_sum"] = float(real_logits.detach().sign().sum())
                stats["Augment/real_count"] = float(real_logits.numel())
                stats["Loss/D/loss"] = stats["Loss/D/loss_fake"] + float(loss_Dreal.detach().mean())
            if do_Dr1:
                (r1_grads,) = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real_img_tmp],
                                                  create_graph=True, only_inputs=True)
                r1_penalty = r1_grads.square().sum(dim=[1, 2, 3])
                loss = loss + (r1_penalty * (self.r1_gamma / 2)).unsqueeze(1)
                stats["Loss/r1_penalty"] = float(r1_penalty.detach().mean())
            loss.mean().mul(gain).backward()
        return stats

    def _path_length(self, gen_z, gen_c, gain) -> dict:
        """||J_w^T y||: image change per unit w change along random image-space directions, pulled to its mean."""
        batch = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
        gen_img, gen_ws = self.run_G(gen_z[:batch], gen_c[:batch] if gen_c is not None else None)
        pl_noise = torch.randn_like(gen_img) / np.sqrt(gen_img.shape[2] * gen_img.shape[3])
        (pl_grads,) = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws], create_graph=True,
                                          only_inputs=True)
        pl_lengths = pl_grads.square().sum(dim=2).mean(dim=1).sqrt()
        pl_mean = self.pl_mean.lerp(pl_lengths.mean().detach(), self.pl_decay)
        self.pl_mean.copy_(pl_mean)
        pl_penalty = (pl_lengths - pl_mean).square()
        (pl_penalty * self.pl_weight).mean().mul(gain).backward()
        return {"Loss/pl_penalty": float(pl_penalty.detach().mean()), "Loss/pl_mean": float(pl_mean)}
