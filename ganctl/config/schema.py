"""The config schema: every key ganctl understands, its default, and how its value is checked.

Sections `model` and `loss` are open-ended by design: their allowed keys come from the chosen model family's declaration
(`FAMILY.defaults`, see ganctl/models/family.py) and the loss type's DEFAULTS, so a new family plugs in by registering
in `ganctl.models.FAMILY_MODULES`, without touching this file.
"""

from __future__ import annotations

import importlib

from ganctl.models import FAMILY_MODULES, get_family

# Loss type -> "module:Class"; the module has DEFAULTS, the class implements accumulate_gradients(phase, ...).
LOSS_TYPES = {
    "nonsaturating": "ganctl.losses.adversarial:AdversarialLoss",
    "hinge": "ganctl.losses.adversarial:AdversarialLoss",
    "wasserstein": "ganctl.losses.adversarial:AdversarialLoss",
    "lsgan": "ganctl.losses.adversarial:AdversarialLoss",
    "stylegan2": "ganctl.losses.stylegan2:StyleGAN2Loss",
    "sr": "ganctl.losses.sr:SRLoss",
    "pix2pix": "ganctl.losses.translation:Pix2PixLoss",
    "cyclegan": "ganctl.losses.translation:CycleGANLoss",
}

# `None` as a default means "unset"; ANY_TYPE lists keys whose value may be of any of several types.
BASE_DEFAULTS: dict = {
    "description": "",
    "model": {"family": "dcgan"},
    "loss": {"type": "nonsaturating"},
    "optim": {
        "g": {"lr": 0.0002, "betas": [0.5, 0.999], "eps": 1e-8},
        "d": {"lr": 0.0002, "betas": [0.5, 0.999], "eps": 1e-8},
        "d_steps": 1,
        "g_reg_interval": None,
        "d_reg_interval": None,
    },
    "train": {
        "batch": 64,
        "batch_gpu": None,
        "kimg": 100.0,
        "tick_kimg": 4.0,
        "snapshot_ticks": 10,
        "snapshot_minutes": None,  # also checkpoint by wall time (preemptible machines); None: ticks only
        "image_snapshot_ticks": 10,
        "keep_checkpoints": 5,
        "ema_kimg": 10.0,
        "ema_rampup": None,
        "ema_beta": None,        # fixed per-step G_ema decay (ProGAN 0.999); overrides ema_kimg when set
        "ema_start_kimg": 0.0,   # G_ema copies G until here (BigGAN starts its EMA late)
        "seed": 0,
        "workers": 2,
        "device": "auto",
        "mirror": False,
        "grid_size": 64,
        "nonfinite": "stop",
        "precision": "auto",
        "threads": None,
        "compile": "off",
        "channels_last": False,
        "tensorboard": True,
        "metrics": [],             # quality metrics during training: any of fid, kid, is, class_acc, psnr, ssim, l1 (engine/metric_eval.py)
        "metric_ticks": 10,        # evaluate every this many ticks, and at the end
        "metric_num": 5000,        # generated (and real) images per evaluation
        "stop_on": "none",         # stop the run when a live check finds severe collapse or divergence
        "energy": None,            # energy/carbon per tick (codecarbon): None/true on, false off, {country: ISO3}
        "classifier_steps": 1000,  # class_acc: training steps of the dataset's own classifier (metrics/classifier.py; cached)
        "gen_labels": "dataset",   # conditional G's training labels: drawn as the dataset's labels fall, or uniform over classes
        "real_labels": "dataset",  # real images: the dataset's shuffle, or class-balanced (uniform over classes; engine/feed.py)
        # Families on the constant schedule: both rates constant for lr_constant_kimg, then linearly to 0 over
        # lr_decay_kimg (0: constant forever). Families with their own schedule (progan, sr, pix2pix, cyclegan) refuse it.
        "lr_constant_kimg": 0.0,
        "lr_decay_kimg": 0.0,
    },
    "data": {"path": None, "desc": None},
    # The growing-resolution schedule of families that have one (ProGAN); see ganctl/engine/schedule.py.
    "progressive": {
        "start_res": 4,          # the first resolution trained
        "phase_kimg": 600.0,     # images shown at each resolution once it is fully faded in (stabilise)
        "fade_kimg": 600.0,      # images over which the next resolution fades in (transition)
        "batch": {},             # per-resolution global batch, e.g. {4: 128, 8: 128, 16: 128, 32: 64}; missing: train.batch
        "batch_gpu": {},         # per-resolution batch_gpu; missing: train.batch_gpu
        "lr": {},                # per-resolution learning rate of G and D; missing: optim.g.lr / optim.d.lr
        "reset_optimizers": True,  # fresh Adam state at every phase boundary (the official code's setting)
    },
    # Differentially private training of D (ganctl/engine/privacy.py); off while epsilon and noise_multiplier are unset.
    "privacy": {
        "epsilon": None,           # the budget: noise is set to spend it over train.kimg, and the run stops there
        "delta": 1e-5,             # keep below 1 / dataset size
        "max_grad_norm": 1.0,      # per-sample clipping norm of D's gradient
        "noise_multiplier": None,  # fixed noise instead of one derived from epsilon (epsilon, if set, still stops the run)
        "accountant": "rdp",       # opacus accountant: rdp | prv | gdp
    },
    "augment": {"kind": "none", "p": 0.0, "target": 0.6, "ada_kimg": 500.0, "interval": 4,
                "policy": "color,translation,cutout"},
}

CHOICES = {
    ("train", "device"): ("auto", "cpu", "cuda"),
    ("train", "nonfinite"): ("stop", "skip"),
    ("train", "precision"): ("auto", "fp32", "bf16", "fp16"),
    ("train", "compile"): ("off", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    ("model", "family"): tuple(FAMILY_MODULES),
    ("loss", "type"): tuple(LOSS_TYPES),
    ("loss", "feature_matching_norm"): ("l2", "l1"),  # see ganctl/losses/adversarial.py
    ("augment", "kind"): ("none", "ada", "diffaugment"),
    ("train", "stop_on"): ("none", "collapse", "divergence"),
    ("train", "gen_labels"): ("dataset", "uniform"),
    ("train", "real_labels"): ("dataset", "uniform"),
    ("privacy", "accountant"): ("rdp", "prv", "gdp"),
}

# Keys whose unset (None) default still has a type to check against.
TYPED_NONE = {
    ("optim", "g_reg_interval"): int,
    ("optim", "d_reg_interval"): int,
    ("train", "batch_gpu"): int,
    ("train", "threads"): int,
    ("train", "snapshot_minutes"): float,
    ("train", "ema_rampup"): float,
    ("train", "ema_beta"): float,
    ("data", "path"): str,
    ("data", "desc"): str,
    ("privacy", "epsilon"): float,
    ("privacy", "noise_multiplier"): float,
}

# Sections whose values are maps keyed by resolution (a power of two >= 4), and the type of their values.
RESOLUTION_MAPS = {("progressive", "batch"): int, ("progressive", "batch_gpu"): int, ("progressive", "lr"): float}

# Keys `ganctl resume` may change: they cannot change what the run computes.
RESUME_SAFE = {("train", "kimg"), ("train", "device"), ("train", "workers"), ("train", "threads"), ("train", "snapshot_ticks"),
               ("train", "image_snapshot_ticks"), ("train", "keep_checkpoints"), ("train", "tensorboard"),
               ("train", "tick_kimg"), ("train", "compile"), ("train", "channels_last"),
               # Watching a run: evaluations read G_ema and never touch the RNG streams or weights training uses.
               ("train", "metrics"), ("train", "metric_ticks"), ("train", "metric_num"), ("train", "stop_on"),
               ("train", "snapshot_minutes"), ("train", "energy"), ("train", "classifier_steps")}


def family_defaults(family: str) -> dict:
    return dict(get_family(family).defaults)


def loss_defaults(loss_type: str) -> dict:
    module, _ = LOSS_TYPES[loss_type].split(":")
    mod = importlib.import_module(module)
    d = getattr(mod, "DEFAULTS_BY_TYPE", None)
    return dict(d[loss_type]) if d else dict(mod.DEFAULTS)


def loss_class(loss_type: str):
    module, cls = LOSS_TYPES[loss_type].split(":")
    return getattr(importlib.import_module(module), cls)
