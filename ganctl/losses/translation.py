"""The losses of the translation families (FACTS.md, "Image-to-image translation"), through the image-conditioned
contract: `accumulate_gradients(phase, batch, gain, cur_nimg)` with batch {"input", "target"} or {"A", "B"} in [-1, 1].

pix2pix: D: 0.5 (BCE(D(A, G(A)), 0) + BCE(D(A, B), 1)); G: BCE(D(A, G(A)), 1) + lambda_L1 |G(A) - B|_1. The reference
computes G(A) once and reuses it for both updates; the engine's phases are separate passes (G's parameters do not
require grad during D's phase), so G runs once per phase: with dropout and batch norm, the two passes see different
dropout masks (a documented difference, not a bug: pix2pix's dropout is its noise).

CycleGAN: G (both D frozen): LSGAN MSE(D_A(G_A(A)), 1) + MSE(D_B(G_B(B)), 1) + cycle lambda_A |G_B(G_A(A)) - A| +
lambda_B |G_A(G_B(B)) - B| + identity lambda_identity (lambda_B |G_A(B) - B| + lambda_A |G_B(A) - A|). D: for each,
0.5 (MSE(D(real), 1) + MSE(D(pool(fake)), 0)), the fakes being those of the G phase just before (kept per chunk).

The history pool (Shrivastava et al. 2017; the reference's ImagePool): while it holds fewer than pool_size images, a
new fake is stored and returned; once full, with probability 0.5 a random stored image is returned and replaced by the
new one, else the new one is returned. Its images and fill count are buffers of this module, so the checkpoint carries
them; its draws come from a generator seeded by (pool_seed, cur_nimg, call number within the step), so a resumed run
makes the same draws as the uninterrupted one.
"""

from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F
from torch import nn

DEFAULTS_BY_TYPE = {
    "pix2pix": {"lambda_L1": 100.0},
    "cyclegan": {"lambda_A": 10.0, "lambda_B": 10.0, "lambda_identity": 0.5, "pool_size": 50, "pool_seed": 0},
}
DEFAULTS = DEFAULTS_BY_TYPE["pix2pix"]


def _bce(logits, target: float):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _mse(pred, target: float):
    return F.mse_loss(pred, torch.full_like(pred, target))


class Pix2PixLoss(nn.Module):
    def __init__(self, G, D, cfg: dict, device, augment_pipe=None):
        super().__init__()
        self.G, self.D = [G], [D]  # lists: keep the networks out of this module's state_dict
        self.cfg = cfg

    def accumulate_gradients(self, phase, batch: dict, gain, cur_nimg) -> dict:
        G, D = self.G[0], self.D[0]
        real_A, real_B = batch["input"], batch["target"]
        stats = {}
        if phase in ("Gmain", "Gboth"):
            fake = G(real_A)
            adv = _bce(D(fake, real_A), 1.0)
            l1 = F.l1_loss(fake, real_B)
            stats["Loss/G/loss"], stats["Loss/G/L1"] = adv.item(), l1.item()
            ((adv + self.cfg["lambda_L1"] * l1) * gain).backward()
        if phase in ("Dmain", "Dboth"):
            with torch.no_grad():
                fake = G(real_A)
            fake_logits, real_logits = D(fake, real_A), D(real_B, real_A)
            loss = 0.5 * (_bce(fake_logits, 0.0) + _bce(real_logits, 1.0))
            stats["Loss/D/loss"] = loss.item()
            stats["Scores/real"], stats["Scores/fake"] = real_logits.mean().item(), fake_logits.mean().item()
            (loss * gain).backward()
        return stats


class ImagePool(nn.Module):
    def __init__(self, size: int, channels: int, resolution: int):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, channels, resolution, resolution))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return fakes
        out = []
        for img in fakes:
            n = int(self.count)
            if n < self.size:
                self.images[n] = img
                self.count += 1
                out.append(img)
                continue
            # one uniform draw per image, and the slot it would use, always drawn: the stream does not branch
            p = float(torch.rand((), generator=gen))
            slot = int(torch.randint(0, self.size, (), generator=gen))
            if p > 0.5:
                old = self.images[slot].clone()
                self.images[slot] = img
                out.append(old)
            else:
                out.append(img)
        return torch.stack(out)


class CycleGANLoss(nn.Module):
    def __init__(self, G, D, cfg: dict, device, augment_pipe=None):
        super().__init__()
        self.G, self.D = [G], [D]
        self.cfg = cfg
        res, ch = G.img_resolution, G.img_channels
        self.pool_A = ImagePool(cfg["pool_size"], ch, res)  # fakes of domain A (G_B's outputs), judged by D_B
        self.pool_B = ImagePool(cfg["pool_size"], ch, res)
        self._fakes: deque = deque()  # (fake_A, fake_B) per chunk, from the G phase to the D phase of one step
        self._calls = (-1, 0)

    def _generator(self, cur_nimg: int) -> torch.Generator:
        step, k = self._calls
        k = k + 1 if step == cur_nimg else 0
        self._calls = (cur_nimg, k)
        g = torch.Generator()
        g.manual_seed((int(self.cfg["pool_seed"]) * 1_000_003 + int(cur_nimg) * 4099 + k) % (2**63))
        return g

    def accumulate_gradients(self, phase, batch: dict, gain, cur_nimg) -> dict:
        G, D = self.G[0], self.D[0]
        real_A, real_B = batch["A"], batch["B"]
        c = self.cfg
        stats = {}
        if phase in ("Gmain", "Gboth"):
            fake_B, fake_A = G.G_A(real_A), G.G_B(real_B)
            rec_A, rec_B = G.G_B(fake_B), G.G_A(fake_A)
            loss_G_A, loss_G_B = _mse(D.D_A(fake_B), 1.0), _mse(D.D_B(fake_A), 1.0)
            cyc_A, cyc_B = F.l1_loss(rec_A, real_A) * c["lambda_A"], F.l1_loss(rec_B, real_B) * c["lambda_B"]
            loss = loss_G_A + loss_G_B + cyc_A + cyc_B
            if c["lambda_identity"] > 0:
                idt_A = F.l1_loss(G.G_A(real_B), real_B) * c["lambda_B"] * c["lambda_identity"]
                idt_B = F.l1_loss(G.G_B(real_A), real_A) * c["lambda_A"] * c["lambda_identity"]
                loss = loss + idt_A + idt_B
                stats["Loss/G/identity"] = (idt_A + idt_B).item()
            stats["Loss/G/loss"] = (loss_G_A + loss_G_B).item()
            stats["Loss/G/cycle"] = (cyc_A + cyc_B).item()
            self._fakes.append((fake_A.detach(), fake_B.detach()))
            (loss * gain).backward()
        if phase in ("Dmain", "Dboth"):
            if self._fakes:
                fake_A, fake_B = self._fakes.popleft()
            else:  # a D phase without the G phase before it (the CUDA batch probe): fresh fakes
                with torch.no_grad():
                    fake_A, fake_B = G.G_B(real_B), G.G_A(real_A)
            gen = self._generator(cur_nimg)
            fake_B, fake_A = self.pool_B.query(fake_B, gen), self.pool_A.query(fake_A, gen)
            real_sB, fake_sB = D.D_A(real_B), D.D_A(fake_B)
            loss_D_A = 0.5 * (_mse(real_sB, 1.0) + _mse(fake_sB, 0.0))
            loss_D_B = 0.5 * (_mse(D.D_B(real_A), 1.0) + _mse(D.D_B(fake_A), 0.0))
            stats["Loss/D/loss"] = (loss_D_A + loss_D_B).item()
            stats["Scores/real"], stats["Scores/fake"] = real_sB.mean().item(), fake_sB.mean().item()
            ((loss_D_A + loss_D_B) * gain).backward()
        return stats
