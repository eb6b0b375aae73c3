"""Pair metrics while an image-to-image run trains (train.metrics psnr, ssim, l1): G_ema's outputs for the dataset's
held-out split (DEST/val/, `prepare-data --val-fraction F`) against their targets, with `ganctl compare`'s code and
conventions (metrics/pairs.py: BasicSR's PSNR/SSIM on 8-bit images; RGB, no border crop, as `compare`'s defaults).

The validation pairs are the family's own BatchSource over the val split, read at stream positions
[0, min(train.metric_num, len(val))) under the fixed seed VAL_SEED: SR trained from HR images gets the val HR crops
degraded exactly as in training, prepared pairs give the val pairs. So every evaluation of a run (and of any run on
the same data and model keys) measures the same pairs, and writing G_ema's outputs and the targets as PNGs and running
`ganctl compare TARGETS OUTPUTS` gives the same numbers.

Only families whose data is "paired" have a target per input; the engine asks the family declaration, never its name.

FID/KID/IS on an image-to-image run (paired or unpaired data) compare distributions instead of pairs: G_ema's outputs
for the val split's inputs (stream positions [0, n) under VAL_SEED: the A domain of unpaired data) against the val
split's target-domain images at the same positions (the targets; the B domain), n = min(train.metric_num, the val
images of each side). Both sides reach the Inception code of metric_eval.py as in-memory `HeldOutImages`, so the
values equal `ganctl fid TRANSLATED TARGETS` on the same images written as PNGs.
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.errors import UsageError

PAIR_METRICS = ("psnr", "ssim", "l1")
VAL_SEED = 0x7A1D  # fixed: the validation pairs do not depend on the run's training seed
CROP_BORDER, Y_CHANNEL = 0, False  # `ganctl compare`'s defaults
DISTRIBUTION_METRICS = ("fid", "kid", "is")  # on image families: G_ema(val inputs) vs the val targets


def wanted(cfg: dict) -> list[str]:
    return [m for m in cfg["train"]["metrics"] or [] if m in PAIR_METRICS]


def check(cfg: dict, family, dataset) -> None:
    """Refuse pair metrics (one line) for a family without targets, or a dataset without a val split, and FID/KID/IS
    of an image-to-image family without a val split; before the run directory exists."""
    pairs = wanted(cfg)
    mine = pairs + ([m for m in cfg["train"]["metrics"] or [] if m in DISTRIBUTION_METRICS] if family.image_conditioned else [])
    if not mine:
        return
    names = ", ".join(mine)
    if family.data != "paired" and pairs:
        raise UsageError(f"config key train.metrics: {', '.join(pairs)}: an output measured against its target; model.family="
                         f"{family.name} has no targets ({family.data} data): remove them")
    if _open_val(dataset) is None:
        raise UsageError(f"config key train.metrics: {names}: measured on the dataset's validation split, and "
                         f"{dataset.path} has none; prepare it with `ganctl prepare-data ... --val-fraction 0.05`, "
                         f"or remove them")


def _open_val(dataset):
    from ganctl.data.dataset import open_validation

    return open_validation(dataset.path)


def held_out_count(family, val, num: int) -> int:
    """How many val stream positions are measured: at most `num`, and no more than either side holds, so every image
    of a side is a distinct held-out image (unpaired domains have sizes of their own)."""
    sizes = [val.count("A"), val.count("B")] if family.data == "unpaired" else [len(val)]
    return min([int(num)] + sizes)


def val_batch(cfg: dict, family, dataset, num: int) -> dict:
    """The validation pairs as uint8 NCHW tensors {"input": ..., "target": ...} (or the family's key names)."""
    val = _open_val(dataset)
    source = family.make_batches(cfg, val)  # refuses (UsageError) a val split the family cannot read, like training
    return source.load(VAL_SEED, 0, held_out_count(family, val, num))


class HeldOutImages:
    """uint8 NCHW images held in memory, served by index the way metrics/features.py asks a generator for images by
    seed (`iter_images`), so the Inception metrics read translated and target images through their usual path."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def iter_images(self, seeds, truncation_psi: float = 1.0, class_idx=None, batch_size: int = 25):
        seeds = list(seeds)
        for i in range(0, len(seeds), batch_size):
            yield self.images[seeds[i:i + batch_size]]


@torch.no_grad()
def translate(G, batch_u8: dict, device, chunk: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """(G(input) as uint8 NCHW on the CPU, the targets uint8 NCHW): the rounding `upscale`/`translate` write."""
    from ganctl.sampling.conditioned import INPUT_KEYS, TARGET_KEYS, apply_generator, pick
    from ganctl.sampling.latents import to_uint8

    src, tgt = pick(batch_u8, INPUT_KEYS), pick(batch_u8, TARGET_KEYS)
    outs = [to_uint8(apply_generator(G, src[i:i + chunk].to(device).float().div(127.5).sub(1))).cpu()
            for i in range(0, len(src), chunk)]
    return torch.cat(outs), tgt


def measure(outputs: torch.Tensor, targets: torch.Tensor, metrics) -> dict[str, float]:
    """Mean over the pairs of each metric, computed per image as `ganctl compare` does (reference = target)."""
    from ganctl.metrics import pairs

    if outputs.shape != targets.shape:
        raise UsageError(f"train.metrics: G's outputs are {tuple(outputs.shape[1:])} but the targets are "
                         f"{tuple(targets.shape[1:])}; the pair metrics compare images of the same size")
    if "ssim" in metrics and min(targets.shape[-2:]) - 2 * CROP_BORDER < pairs.SSIM_WINDOW:
        raise UsageError(f"train.metrics: ssim needs targets of at least {pairs.SSIM_WINDOW}x{pairs.SSIM_WINDOW} pixels")
    fns = {"psnr": pairs.psnr, "ssim": pairs.ssim, "l1": pairs.l1}
    rows = {m: [] for m in metrics}
    for o, t in zip(outputs.permute(0, 2, 3, 1).numpy(), targets.permute(0, 2, 3, 1).numpy()):
        ref, out = pairs.prepare(t, CROP_BORDER, Y_CHANNEL), pairs.prepare(o, CROP_BORDER, Y_CHANNEL)
        for m in metrics:
            rows[m].append(fns[m](ref, out))  # compare's argument order (reference first)
    return {m: float(np.mean(v)) for m, v in rows.items()}


def convention() -> dict:
    from ganctl.metrics import pairs

    return pairs.convention(CROP_BORDER, Y_CHANNEL)
