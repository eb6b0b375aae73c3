"""Differentially private training of D (DP-SGD through opacus); G is private by post-processing.

Only D ever sees a real image, so only D's update needs the mechanism (Xie et al. 2018, DPGAN; opacus' DCGAN example):
per-sample gradients of D's loss (opacus' GradSampleModule hooks: the real and the fake term of sample i are summed and
clipped together, to `privacy.max_grad_norm`), Gaussian noise of std noise_multiplier * max_grad_norm added once to
their sum, and opacus' accountant counting one step of sampling rate q = batch / dataset size per D update. G is trained
only through D's output, so G, G_ema and every sample carry D's guarantee (post-processing).

Clipping and noise are done here rather than by opacus' DPOptimizer for two reasons: the noise comes from a generator
seeded by (seed, step, phase), so a resumed run adds the same noise as an uninterrupted one (ganctl's exact resume); and
under torchrun each rank clips its own samples and only rank 0 adds the noise, so the all-reduced sum the engine
already does is exactly the single-process DP-SGD step on the global batch (one accountant step per global batch,
q = global batch / N, the same number on every rank).

What the guarantee assumes, stated in the README: the accountant's analysis is for Poisson sampling with rate q, while
the feed draws fixed-size batches from a seeded shuffle (the usual approximation, as in most DP-GAN code); and the
noise seed is secret. Logged statistics of real batches (stats.jsonl's Scores/real, reals.png, metrics against real
data) are not covered: only the networks and what they generate are.

`check(cfg, D)` refuses, at config time, what breaks per-sample independence or the per-sample gradients: batch norm
and minibatch layers in D, gradient penalties (double backward), ADA (its p is a statistic of real batches), feature
matching (G would read real features directly), fp16 loss scaling, torch.compile, growing schedules; the
Trainer refuses batch chunking (train.batch_gpu below a rank's share).
"""

from __future__ import annotations

import math
import warnings

import torch

from ganctl.errors import UsageError

ACCOUNTANTS = ("rdp", "prv", "gdp")


def enabled(cfg: dict) -> bool:
    p = cfg.get("privacy") or {}
    return p.get("epsilon") is not None or p.get("noise_multiplier") is not None


def require_opacus():
    try:
        import opacus
    except ImportError:
        raise UsageError("config key privacy: differentially private training needs opacus; "
                         "pip install 'ganctl[privacy]'") from None
    return opacus


def check(cfg: dict, D: torch.nn.Module) -> None:
    """Refuse a private config that cannot be trained privately, each with its fix (D may be on the meta device)."""
    if not enabled(cfg):
        return
    p = cfg["privacy"]
    if p["epsilon"] is not None and p["epsilon"] <= 0:
        raise UsageError(f"config key privacy.epsilon: {p['epsilon']} must be > 0 (e.g. privacy.epsilon=10)")
    if not 0 < p["delta"] < 1:
        raise UsageError(f"config key privacy.delta: {p['delta']} must be in (0, 1); use less than 1/dataset size, "
                         f"e.g. privacy.delta=1e-5")
    if p["max_grad_norm"] <= 0:
        raise UsageError(f"config key privacy.max_grad_norm: {p['max_grad_norm']} must be > 0 (e.g. 1.0)")
    if p["noise_multiplier"] is not None and p["noise_multiplier"] < 0:
        raise UsageError(f"config key privacy.noise_multiplier: {p['noise_multiplier']} must be >= 0")
    if p["accountant"] not in ACCOUNTANTS:
        raise UsageError(f"config key privacy.accountant: {p['accountant']!r} is not one of {', '.join(ACCOUNTANTS)}")
    if cfg["train"]["real_labels"] != "dataset":
        raise UsageError("config key train.real_labels: a class-balanced feed draws a rare class's images more often than "
                         "the sampling rate the privacy accountant assumes; set train.real_labels=dataset")
    for m in D.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            raise UsageError("config key privacy: D has batch norm, which mixes samples and cannot be trained with "
                             "per-sample clipping; set model.d_norm=layer (group norm) or use preset dp-cgan-fashion-mnist")
    from ganctl.models import get_family
    from ganctl.models.layers import MinibatchDiscrimination, MinibatchStdDev

    for m in D.modules():
        if isinstance(m, (MinibatchStdDev, MinibatchDiscrimination)):
            key = "model.mbstd_group=0" if isinstance(m, MinibatchStdDev) else "model.mbdisc_kernels=0"
            raise UsageError(f"config key privacy: D's {type(m).__name__} mixes the samples of a batch, so one "
                             f"image's influence is not bounded by clipping; set {key}")
    loss, t = cfg["loss"], cfg["train"]
    refusals = [
        (loss.get("r1_gamma", 0) > 0, "loss.r1_gamma", "the R1 penalty needs double backward, which per-sample "
                                                      "gradients do not support; set loss.r1_gamma=0"),
        (loss["type"] in ("wasserstein", "stylegan2"), "loss.type", "its gradient penalty / regularisers need "
                                                                     "double backward; use loss.type=nonsaturating or hinge"),
        (loss.get("feature_matching", 0) > 0, "loss.feature_matching", "G would read D's features of real images "
                                                                       "directly; set loss.feature_matching=0"),
        (cfg["optim"]["d_reg_interval"] is not None, "optim.d_reg_interval", "lazy D regularisation is not private; "
                                                                             "unset it"),
        (cfg["augment"]["kind"] == "ada", "augment.kind", "ADA's p is a statistic of real batches; use "
                                                         "augment.kind=diffaugment or none"),
        (t["precision"] == "fp16", "train.precision", "fp16 loss scaling skips steps the accountant would still "
                                                      "count; use train.precision=fp32"),
        (t["compile"] != "off", "train.compile", "compiled D bypasses opacus' per-sample hooks; set train.compile=off"),
        (get_family(cfg["model"]["family"]).has_schedule, "model.family", "a growing schedule changes the batch and D between "
                                                             "phases; use a family without a schedule, e.g. model.family=dcgan"),
    ]
    for bad, key, why in refusals:
        if bad:
            raise UsageError(f"config key {key}: not allowed with privacy.*: {why}")
    require_opacus()


def _accountant(name: str):
    from opacus.accountants import create_accountant

    # RDP at small sampling rates often peaks at opacus' largest order: its epsilon is then an upper bound (safe),
    # only less tight; not worth a warning on every tick.
    warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")

    return create_accountant(mechanism=name)


def epsilon_after(steps: int, noise_multiplier: float, sample_rate: float, delta: float, accountant: str) -> float:
    """The epsilon spent by `steps` DP-SGD steps (inf without noise, 0 before the first)."""
    if steps <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    acc = _accountant(accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta=delta))


def steps_within(epsilon: float, noise_multiplier: float, sample_rate: float, delta: float, accountant: str) -> int:
    """The most steps whose spent epsilon stays <= `epsilon` (epsilon grows with steps: exponential then binary search)."""
    if epsilon_after(1, noise_multiplier, sample_rate, delta, accountant) > epsilon:
        return 0
    lo, hi = 1, 2
    while epsilon_after(hi, noise_multiplier, sample_rate, delta, accountant) <= epsilon:
        lo, hi = hi, hi * 2
        if hi > 1 << 40:
            return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if epsilon_after(mid, noise_multiplier, sample_rate, delta, accountant) <= epsilon:
            lo = mid
        else:
            hi = mid
    return lo


class PrivateDiscriminator:
    """D's DP-SGD: per-sample gradient hooks on D, clip + noise (`privatize`), the accountant, the budget."""

    def __init__(self, cfg: dict, D: torch.nn.Module, dataset_size: int, world_size: int, rank: int,
                 batch_gpu: int | None = None):
        require_opacus()
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")  # see _accountant
        if batch_gpu is not None and batch_gpu * world_size != cfg["train"]["batch"]:
            raise UsageError(f"config key train.batch_gpu: {batch_gpu} splits each process's share of the batch into "
                             f"chunks, and per-sample clipping needs the whole share in one pass; unset train.batch_gpu "
                             f"or set it to train.batch / processes")
        from opacus import GradSampleModule

        p, t = cfg["privacy"], cfg["train"]
        self.delta, self.max_grad_norm, self.accountant_name = p["delta"], p["max_grad_norm"], p["accountant"]
        self.epsilon_budget = p["epsilon"]
        self.rank, self.world_size = rank, world_size
        self.batch = t["batch"]
        if self.batch > dataset_size:
            raise UsageError(f"config key train.batch: {self.batch} is larger than the dataset ({dataset_size} images)")
        self.sample_rate = self.batch / dataset_size
        if p["noise_multiplier"] is not None:
            self.noise_multiplier = float(p["noise_multiplier"])
        else:
            # Noise for the whole planned run (train.kimg) to end exactly at the budget. A checkpoint keeps the
            # multiplier, so a resume that changes train.kimg does not change the mechanism mid-run.
            from opacus.accountants.utils import get_noise_multiplier

            steps = max(1, int(round(t["kimg"] * 1000)) // self.batch)
            self.noise_multiplier = float(get_noise_multiplier(target_epsilon=self.epsilon_budget, target_delta=self.delta,
                                                               sample_rate=self.sample_rate, steps=steps,
                                                               accountant=self.accountant_name))
        # opacus' full backward hooks forbid in-place ops on a hooked layer's output (LeakyReLU(inplace=True)):
        # the same maths, out of place.
        for m in D.modules():
            if getattr(m, "inplace", False):
                m.inplace = False
        # Hooks on D's layers: the wrapper is not used for calls, D stays the module the loss and checkpoints see.
        # "sum": grad_sample[i] is sample i's share of the gradient of the (gain-scaled) loss as backpropagated.
        self._gsm = GradSampleModule(D, batch_first=True, loss_reduction="sum", strict=True)
        # Neither D's real nor its (detached) fake input requires grad, which torch reports on every D step; expected.
        warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed")
        self.accountant = _accountant(self.accountant_name)
        self._budget_steps: int | None = None

    def hooks(self, on: bool) -> None:
        """Per-sample capture only in D's phases: in G's phase D's layers still backpropagate (to G) and opacus' backward
        hooks would look for activations they never stored."""
        if on:
            self._gsm.enable_hooks()
        else:
            self._gsm.disable_hooks()

    # -- the mechanism ---------------------------------------------------------------------------------------------
    @property
    def dp_steps(self) -> int:
        return int(sum(n for _, _, n in self.accountant.history))

    @torch.no_grad()
    def privatize(self, D: torch.nn.Module, noise_seed: int) -> None:
        """Replace D's gradient by the DP-SGD one. The engine's loss backpropagated mean(loss) * gain over this rank's
        share with gain = 1 / world_size, so sample i's own gradient is grad_sample[i] * global batch; p.grad becomes
        (sum_i clip(g_i) + N(0, (sigma C)^2)) / global batch on rank 0 (no noise on the others), and the engine's
        all-reduce sum then gives every rank the single-process step."""
        params = [p for p in D.parameters() if p.requires_grad and getattr(p, "grad_sample", None) is not None]
        missing = [p for p in D.parameters() if p.requires_grad and getattr(p, "grad_sample", None) is None]
        if missing:
            # A parameter without per-sample gradients would be updated without clipping: never step like that.
            raise RuntimeError(f"{len(missing)} parameters of D have no per-sample gradient; opacus cannot privatise "
                               f"this discriminator")
        if any(isinstance(p.grad_sample, list) for p in params):
            raise RuntimeError("D ran several backward passes in one DP step; per-sample gradients must come from one")
        grads = [p.grad_sample for p in params]
        n = grads[0].shape[0]
        per_sample = [g.reshape(n, -1) * self.batch for g in grads]
        norms = torch.cat(per_sample, dim=1).norm(dim=1)
        factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        gen = torch.Generator(device="cpu").manual_seed(noise_seed)
        std = self.noise_multiplier * self.max_grad_norm
        for p, g in zip(params, per_sample):
            summed = (g * factor[:, None]).sum(0).view_as(p)
            if self.rank == 0 and std > 0:
                summed = summed + (torch.randn(p.shape, generator=gen) * std).to(summed.device)
            p.grad = (summed / self.batch).to(p.dtype)
            p.grad_sample = None
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        self.last_clip_fraction = float((norms > self.max_grad_norm).float().mean())

    # -- the budget ----------------------------------------------------------------------------------------------
    def epsilon(self) -> float:
        return epsilon_after(self.dp_steps, self.noise_multiplier, self.sample_rate, self.delta, self.accountant_name)

    def budget_steps(self) -> int | None:
        """D steps the budget allows in total (None: no budget, only reporting)."""
        if self.epsilon_budget is None:
            return None
        if self._budget_steps is None:
            self._budget_steps = steps_within(self.epsilon_budget, self.noise_multiplier, self.sample_rate, self.delta,
                                              self.accountant_name)
        return self._budget_steps

    def budget_nimg(self, d_steps: int) -> int | None:
        """cur_nimg at which the run must stop: whole training steps (d_steps D updates each) within the budget."""
        steps = self.budget_steps()
        return None if steps is None else (steps // d_steps) * d_steps * self.batch

    # -- reporting and resume ------------------------------------------------------------------------------------
    def tick_fields(self) -> dict:
        out = {"Privacy/epsilon": self.epsilon(), "Privacy/delta": self.delta, "Privacy/dp_steps": self.dp_steps,
               "Privacy/noise_multiplier": self.noise_multiplier}
        if hasattr(self, "last_clip_fraction"):
            out["Privacy/clipped_fraction"] = self.last_clip_fraction
        return out

    def state(self) -> dict:
        return {"epsilon": self.epsilon(), "delta": self.delta, "epsilon_budget": self.epsilon_budget,
                "noise_multiplier": self.noise_multiplier, "max_grad_norm": self.max_grad_norm,
                "sample_rate": self.sample_rate, "accountant": self.accountant_name, "dp_steps": self.dp_steps,
                "history": [list(h) for h in self.accountant.history]}

    def load(self, state: dict | None, path) -> None:
        if state is None:
            raise UsageError(f"{path}: this checkpoint was trained without privacy.*; a private run cannot continue "
                             f"from it (start a new run, or resume without privacy settings)")
        self.noise_multiplier = float(state["noise_multiplier"])
        self.accountant.history = [tuple(h) for h in state["history"]]
        self._budget_steps = None
