"""Loading a trained generator (G_ema) from a run directory or checkpoint, and generating images by seed.

ganctl checkpoints (safetensors) are read directly; a network from elsewhere (NVlabs .pkl, rosinality .pt) goes
through ganctl.interop's reader in memory, which never executes anything from the file. Either way the network is
rebuilt from a config, so no source code is needed. `source=None` picks the newest run under ./runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ganctl.engine import checkpoint as ckpt
from ganctl.engine import rundir
from ganctl.errors import UsageError
from ganctl.sampling.latents import images_for_seeds, to_uint8


def newest_run(root: str | os.PathLike = "runs") -> Path:
    root = Path(root)
    cands = [p.parent.parent for p in root.glob("*/*/checkpoints/latest")] if root.is_dir() else []
    if not cands:
        raise UsageError(f"no source given and no trained run under ./{root}; pass a run directory or checkpoint, "
                         f"or train one with `ganctl train`")
    return max(cands, key=lambda p: (p / rundir.CHECKPOINTS / ckpt.LATEST).lstat().st_mtime)


def checkpoint_in_run(run: Path, which: str) -> Path:
    """`--checkpoint best|latest|NAME` inside a run directory (NAME: a file in RUN/checkpoints, `.safetensors` optional)."""
    ckpt_dir = Path(run) / rundir.CHECKPOINTS
    if not ckpt_dir.is_dir():
        raise UsageError(f"--checkpoint {which}: {run} is not a run directory (no {rundir.CHECKPOINTS}/)")
    if which == ckpt.BEST:
        path = ckpt.best_checkpoint(ckpt_dir)
        if path is None:
            raise UsageError(f"--checkpoint best: {run} has no best checkpoint; it is kept only when the run was trained "
                             f"with train.metrics (e.g. train.metrics=[fid]); use --checkpoint latest")
        return path
    if which == ckpt.LATEST:
        path = ckpt.latest_checkpoint(ckpt_dir)
    else:
        path = next((p for p in (ckpt_dir / which, ckpt_dir / f"{which}.safetensors") if p.is_file()), None)
    if path is None:
        have = ", ".join(p.name for p in ckpt.list_checkpoints(ckpt_dir)[-3:]) or "none"
        raise UsageError(f"--checkpoint {which}: not in {ckpt_dir} (use best, latest or a file name; newest: {have})")
    return path


def resolve_checkpoint(source: str | os.PathLike | None, which: str | None = None) -> Path:
    """Run dir -> its `which` (default latest) checkpoint; a checkpoint file -> itself; None -> newest run's."""
    path = newest_run() if source is None else Path(source)
    if which is not None:
        if not path.is_dir():
            raise UsageError(f"--checkpoint {which}: {path} is not a run directory; pass the run directory instead")
        return checkpoint_in_run(path, which)
    if path.is_dir():
        latest = ckpt.latest_checkpoint(path / rundir.CHECKPOINTS) if (path / rundir.CHECKPOINTS).is_dir() else ckpt.latest_checkpoint(path)
        if latest is None:
            raise UsageError(f"{path}: no checkpoint found (expected {rundir.CHECKPOINTS}/state-*.safetensors)")
        return latest
    if not path.exists():
        raise UsageError(f"{path}: no such run directory or checkpoint")
    return path


class LoadedGenerator:
    """G_ema of a checkpoint on a device, with the metadata needed to use it."""

    def __init__(self, G: torch.nn.Module, meta: dict, device: torch.device, path: Path):
        self.G, self.meta, self.device, self.path = G, meta, device, path
        self.num_classes = getattr(G, "c_dim", 0) or 0
        self.label_names = meta.get("dataset", {}).get("label_names", [])
        self.family = meta["config"]["model"]["family"]
        from ganctl.models import get_family

        self.truncation = get_family(self.family).truncation  # how --truncation acts (ganctl/models/family.py)

    def stage(self) -> dict:
        """The output resolution, and for growing networks (ProGAN) the fade-in alpha of the stage they were saved in:
        a checkpoint from the middle of training samples at its own resolution."""
        info = {"resolution": int(self.meta.get("dataset", {}).get("resolution", 0))}
        if hasattr(self.G, "set_stage"):
            res, alpha = self.G.stage()
            info.update(resolution=int(res), alpha=float(alpha))
        return info

    def _check_class(self, class_idx):
        if class_idx is None:
            return
        if not self.num_classes:
            raise UsageError("--class: this generator is unconditional; drop --class")
        if not 0 <= class_idx < self.num_classes:
            raise UsageError(f"--class {class_idx}: out of range; this generator has classes 0..{self.num_classes - 1}")

    def images_float(self, seeds, truncation_psi=1.0, truncation_cutoff=None, class_idx=None, noise_mode="const"):
        self._check_class(class_idx)
        return images_for_seeds(self.G, seeds, self.num_classes, self.device, class_idx, truncation_psi,
                                truncation_cutoff, noise_mode, truncation_rule=self.truncation)

    def set_transform(self, translate=(0.0, 0.0), rotate_deg: float = 0.0) -> None:
        """Translate/rotate the output of a generator whose input takes a transform (StyleGAN3's Fourier features)."""
        if not hasattr(self.G, "set_transform"):
            raise UsageError("--translate/--rotate: this generator has no transformable input; they apply to "
                             "StyleGAN3 (model.family=stylegan3)")
        self.G.set_transform(translate, rotate_deg)

    def use_standing_stats(self, passes: int, batch_size: int = 64) -> None:
        """Replace G's batch-norm running statistics by "standing statistics" (see sampling/standing.py)."""
        from ganctl.sampling.standing import accumulate_standing_stats

        accumulate_standing_stats(self.G, self.num_classes, passes, batch_size, self.device)

    def iter_images(self, seeds, truncation_psi=1.0, class_idx=None, batch_size=64, truncation_cutoff=None, noise_mode="const"):
        """Yield uint8 (B, C, H, W) CPU tensors for `seeds` in order; each image depends only on its seed."""
        seeds = list(seeds)
        for i in range(0, len(seeds), batch_size):
            yield to_uint8(self.images_float(seeds[i:i + batch_size], truncation_psi, truncation_cutoff, class_idx, noise_mode)).cpu()


def load_generator(source: str | os.PathLike | None, device: str | torch.device = "auto", which: str | None = None,
                   conditioning: str | None = "latent") -> LoadedGenerator:
    """G_ema of a run, checkpoint or foreign network file. `conditioning`: what the caller feeds G ("latent" for
    sample/fid, "image" for upscale/translate, None for either (export)); a network of the other kind is refused in
    one line."""
    from ganctl import interop
    from ganctl.config.load import validate_resolved
    from ganctl.device import resolve_device
    from ganctl.models import build_networks

    path = resolve_checkpoint(source, which)
    dev = resolve_device(device) if isinstance(device, str) else device
    if interop.is_foreign(path):
        tensors, meta = interop.read_network(path).checkpoint()
    else:
        tensors, meta = ckpt.load_checkpoint(path)
    cfg = validate_resolved(meta["config"])
    from ganctl.models import get_family

    family = get_family(cfg["model"]["family"])
    if conditioning is not None and family.conditioning != conditioning:
        if family.image_conditioned:
            cmd = family.extra.get("command", "upscale")
            raise UsageError(f"{path}: an image-to-image network (model.family={family.name}); "
                             f"apply it to images with `ganctl {cmd} {source} INPUT... --out DIR`")
        raise UsageError(f"{path}: a noise-to-image network (model.family={family.name}); it makes images from seeds: "
                         f"use `ganctl sample {source} --seeds 0-7`")
    ds = meta["dataset"]
    num_classes = len(ds["label_names"]) if cfg["model"]["conditional"] else 0
    G, _ = build_networks(cfg, ds["resolution"], ds["channels"], num_classes)
    G.load_state_dict(ckpt.module_state("G_ema", tensors))
    G.to(dev).eval().requires_grad_(False)
    return LoadedGenerator(G, meta, dev, path)
