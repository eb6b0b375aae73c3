"""The classic GAN losses: non-saturating, hinge, Wasserstein (+ gradient penalty), least squares; plus R1 and
feature matching as options that combine with any of them, and BigGAN's orthogonal regularisation of G (hinge and
non-saturating).

Feature matching (Salimans et al. 2016) adds `loss.feature_matching` x a distance between the batch means of D's
penultimate features (what D returns with `return_features=True`) on real and generated images to G's loss:
  `loss.feature_matching_norm: l2` (default) the paper's ||E f(x) - E f(G(z))||^2, averaged over features;
  `loss.feature_matching_norm: l1` the mean absolute difference, as the authors' CIFAR code computes it.
G keeps its adversarial term too; the authors' semi-supervised CIFAR setting trains G on feature matching alone.

`accumulate_gradients(phase, ...)` computes the phase's loss, multiplies by `gain` (the lazy-regularisation interval
or 1) and calls backward, leaving gradients in G or D. Randomness (GP interpolation weights) comes from torch's global
RNG, which the engine seeds per step so that resumed runs repeat exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The loss types this module implements; families built for them list these in their FAMILY.losses.
CLASSIC_LOSSES = ("nonsaturating", "hinge", "wasserstein", "lsgan")

_COMMON = {"r1_gamma": 0.0, "feature_matching": 0.0, "feature_matching_norm": "l2", "label_smoothing": 0.0}
DEFAULTS_BY_TYPE = {
    # ortho_reg: strength s of BigGAN's orthogonal regularisation in loss form, s/2 * sum_W ||W W^T * (1 - I)||_F^2 over
    # G's 2+-dim weights (each reshaped to [out, -1]). Its gradient 2 s (W W^T * (1 - I)) W is BigGAN-PyTorch's G_ortho
    # update with the same number; the paper's R_beta = beta * ||...||^2 is ortho_reg = 2 * beta.
    "nonsaturating": {**_COMMON, "ortho_reg": 0.0},
    "lsgan": dict(_COMMON),
    "hinge": {**_COMMON, "ortho_reg": 0.0},
    "wasserstein": {**_COMMON, "gp_weight": 10.0, "drift": 0.001},
}


class AdversarialLoss(nn.Module):
    def __init__(self, G, D, cfg: dict, device, augment_pipe=None):
        super().__init__()
        self.G, self.D = [G], [D]  # lists: keep the networks out of this module's state_dict
        self.cfg = cfg
        self.type = cfg["type"]
        self.__dict__["augment_pipe"] = augment_pipe  # owned and saved by the engine, not part of this state_dict
        self.device = device
        self.fast = None  # compiled callables for the first-order passes (use_compiled)

    def use_compiled(self, wrap) -> None:
        """Run G and D's first-order passes through wrap(module), e.g. torch.compile.

        The gradient penalty and R1 differentiate D twice, which compiled graphs do not support: they keep eager D.
        """
        self.fast = [wrap(self.G[0]), wrap(self.D[0])]

    # -- helpers -------------------------------------------------------------------------------------------
    def _run_G(self, z, c):
        return (self.fast[0] if self.fast else self.G[0])(z, c)

    def _run_D(self, img, c, return_features=False, fast=True):
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        D = self.fast[1] if fast and self.fast else self.D[0]
        return D(img, c, return_features=return_features)

    def _g_adv(self, logits):
        if self.type == "nonsaturating":
            return F.softplus(-logits)
        if self.type == "lsgan":
            return (logits - 1).square()
        return -logits  # hinge and wasserstein: G maximises D's score

    def _d_adv(self, real_logits, fake_logits):
        smooth = self.cfg["label_smoothing"]
        if self.type == "nonsaturating":
            # One-sided label smoothing (Salimans et al. 2016): real targets 1 - smooth.
            real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 1 - smooth), reduction="none")
            return real + F.softplus(fake_logits)
        if self.type == "lsgan":
            return (real_logits - (1 - smooth)).square() + fake_logits.square()
        if self.type == "hinge":
            return F.relu(1 - real_logits) + F.relu(1 + fake_logits)
        return fake_logits - real_logits  # wasserstein critic

    # -- phases --------------------------------------------------------------------------------------------
    def accumulate_gradients(self, phase, real_img, real_c, gen_z, gen_c, gain, cur_nimg) -> dict:
        stats = {}
        fm = self.cfg["feature_matching"]
        if phase in ("Gmain", "Gboth"):
            fake = self._run_G(gen_z, gen_c)
            if fm > 0:
                logits, f_fake = self._run_D(fake, gen_c, return_features=True)
                with torch.no_grad():
                    _, f_real = self._run_D(real_img, real_c, return_features=True)
                # Feature matching (Salimans et al. 2016): match D's mean penultimate features of real and fake.
                diff = f_fake.mean(0) - f_real.mean(0)
                fm_loss = diff.abs().mean() if self.cfg["feature_matching_norm"] == "l1" else diff.square().mean()
                stats["Loss/G/feature_matching"] = fm_loss.item()
            else:
                logits = self._run_D(fake, gen_c)
                fm_loss = 0.0
            adv = self._g_adv(logits).mean()
            stats["Loss/G/loss"] = adv.item()
            ortho = self.cfg.get("ortho_reg", 0.0)
            reg = 0.0
            if ortho > 0:
                reg = ortho / 2 * orthogonal_penalty(self.G[0])
                stats["Loss/G/ortho"] = reg.item()
            ((adv + fm * fm_loss + reg) * gain).backward()

        if phase in ("Dmain", "Dboth"):
            with torch.no_grad():
                fake = self._run_G(gen_z, gen_c)
            fake_logits = self._run_D(fake, gen_c)
            real_logits = self._run_D(real_img, real_c)
            loss = self._d_adv(real_logits, fake_logits).mean()
            stats["Loss/D/loss"] = loss.item()
            stats["Scores/real"] = real_logits.mean().item()
            stats["Scores/fake"] = fake_logits.mean().item()
            stats["Augment/real_sign_sum"] = real_logits.sign().sum().item()
            stats["Augment/real_count"] = float(real_logits.numel())
            if self.type == "wasserstein":
                drift = self.cfg["drift"] * real_logits.square().mean()
                gp = self._gradient_penalty(real_img, fake, real_c)
                stats["Loss/D/gp"] = gp.item()
                loss = loss + drift + self.cfg["gp_weight"] * gp
            (loss * gain).backward()

        r1_gamma = self.cfg["r1_gamma"]
        if r1_gamma > 0 and phase in ("Dreg", "Dboth"):
            real = real_img.detach().requires_grad_(True)
            logits = self._run_D(real, real_c, fast=False)
            (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
            penalty = grad.square().flatten(1).sum(1).mean()
            stats["Loss/D/r1"] = penalty.item()
            (penalty * (r1_gamma / 2) * gain).backward()
        return stats

    def _gradient_penalty(self, real, fake, c):
        """WGAN-GP (Gulrajani et al. 2017): (||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake."""
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
        logits = self._run_D(x_hat, c, fast=False)
        (grad,) = torch.autograd.grad(logits.sum(), x_hat, create_graph=True)
        return (grad.flatten(1).norm(2, dim=1) - 1).square().mean()


def orthogonal_penalty(G) -> torch.Tensor:
    """sum over G's regularised weights W (reshaped [out, -1]) of ||W W^T * (1 - I)||_F^2 (Brock et al. 2019, eq. 3).

    A generator may name its regularised weights with `ortho_parameters()` (BigGAN leaves out its shared class
    embedding); otherwise every parameter of 2+ dims counts.
    """
    params = G.ortho_parameters() if hasattr(G, "ortho_parameters") else [p for p in G.parameters() if p.ndim >= 2]
    total = 0.0
    for p in params:
        W = p.flatten(1)
        with torch.autocast(device_type=W.device.type, enabled=False):  # a sum of squares: keep it in fp32
            gram = W.float() @ W.float().t()
            total = total + (gram - torch.diag_embed(torch.diagonal(gram))).square().sum()
    return total
