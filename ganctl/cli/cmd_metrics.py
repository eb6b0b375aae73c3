"""`ganctl fid`, `ganctl is`, `ganctl kid`: the metric commands (thin: parse, call ganctl.metrics.compute, print).

stdout gets the number alone (or --json); warnings and progress go to stderr. --max / --min turn a command into a CI
gate: the number is still printed, then the command exits 1 when the bound is violated. Under torchrun only rank 0
prints.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import typer

from ganctl.cli.output_options import energy_country_option, energy_option

INPUT_HELP = "Image folder, .zip, prepared dataset, run directory / checkpoint (with --num)"


def _workers(workers: int) -> int:
    return min(8, max(1, (os.cpu_count() or 2) - 1)) if workers < 0 else workers


def _batch(batch_size: int, device: str) -> int:
    if batch_size > 0:
        return batch_size
    import torch

    return 200 if (device != "cpu" and torch.cuda.is_available()) else 50


def _emit(out: tuple[dict, int], key: str, as_json: bool, bound_name: str | None, bound: float | None, violated) -> None:
    from ganctl.errors import GanctlError

    res, rank = out
    if rank != 0:
        return
    value = res.get(key)
    if as_json:
        if bound is not None:
            res["gate"] = {bound_name: bound, "passed": not violated(value)}
        print(json.dumps(res, indent=1))
    elif value is not None:
        print(repr(value))
    else:
        print(res.get("saved_stats", ""))
    if bound is not None and value is not None and violated(value):
        raise GanctlError(f"{res['metric']} {value:.6g} violates {bound_name} {bound:g}")


def _run(fn, **kw) -> tuple[dict, int]:
    """Run a metric (joining the torchrun group when launched by torchrun); returns (result, this process's rank)."""
    from ganctl.metrics.compute import init_distributed
    from ganctl.metrics.features import dist_info

    joined = init_distributed(kw.get("device", "auto"))
    try:
        res = fn(**kw)
        return res, dist_info()[0]
    finally:
        if joined:
            import torch.distributed as dist

            dist.destroy_process_group()


def register(app: typer.Typer) -> None:
    weights_opt = typer.Option(None, "--weights", help="pt_inception-2015-12-05-6726825d.pth (default: $GANCTL_INCEPTION_WEIGHTS, "
                               "the ganctl cache, $TORCH_HOME/hub/checkpoints; downloaded once when online).")
    device_opt = typer.Option("auto", "--device", help="cpu, cuda, cuda:1 (auto: cuda when available).")
    batch_opt = typer.Option(0, "--batch-size", help="Images per detector pass (0: 200 on CUDA, 50 on CPU); numbers do not depend on it.")
    workers_opt = typer.Option(-1, "--workers", help="Decoding worker processes (-1: cores - 1, at most 8; 0: decode in-process).")
    num_opt = typer.Option(None, "--num", help="Images to generate from a run/checkpoint (seeds 0..N-1); for folders, use the first N.")
    trunc_opt = typer.Option(1.0, "--truncation", help="Truncation psi for generated images.")
    standing_opt = typer.Option(0, "--standing-stats", help="Batch-norm generators (BigGAN): use the average batch "
                                "statistics of N fresh forward passes instead of the running ones (0 = off).")
    class_opt = typer.Option(None, "--class", help="Class index for conditional generators (default: seed % classes).")
    json_opt = typer.Option(False, "--json", help="Print value(s), n per side, weights sha256, protocol, precision, device, seconds, versions.")
    tf32_opt = typer.Option(False, "--tf32", help="Allow TF32 on CUDA (faster; moves features ~6.5e-4 relative). Default: exact fp32.")
    progress_opt = typer.Option(True, "--progress/--no-progress", help="Progress on stderr (only shown on a terminal).")
    ckpt_opt = typer.Option(None, "--checkpoint", help="For run-directory inputs: best, latest or a file name in RUN/checkpoints.")

    @app.command("fid", help="Frechet Inception Distance between two image sets (pytorch-fid's numbers by default).\n\n"
                 "Example: ganctl fid data/real/ runs/dcgan/00000-fmnist --num 10000 --max 40\n\n"
                 "Either side may be a .npz stats file (keys mu, sigma). With one input and --save-stats, only writes its stats.")
    def fid(
        a: str = typer.Argument(..., help=INPUT_HELP + " or .npz stats."),
        b: Optional[str] = typer.Argument(None, help=INPUT_HELP + " or .npz stats."),
        save_stats: Optional[str] = typer.Option(None, "--save-stats", help="Write the first input's stats (mu, sigma) to this .npz."),
        max_fid: Optional[float] = typer.Option(None, "--max", help="Exit 1 when FID is above this (CI gate)."),
        protocol: str = typer.Option("pytorch-fid", "--protocol", help="Preprocessing: pytorch-fid, torch-fidelity or clean-fid."),
        weights: Optional[str] = weights_opt, device: str = device_opt, batch_size: int = batch_opt, workers: int = workers_opt,
        num: Optional[int] = num_opt, truncation: float = trunc_opt, class_idx: Optional[int] = class_opt,
        as_json: bool = json_opt, tf32: bool = tf32_opt, progress: bool = progress_opt, checkpoint: Optional[str] = ckpt_opt,
        energy: bool = energy_option(), energy_country: Optional[str] = energy_country_option(),
        standing_stats: int = standing_opt,
    ) -> None:
        from ganctl import api
        from ganctl.engine.energy import measuring
        from ganctl.metrics import compute

        a, b = api.select_checkpoints([a, b], checkpoint)
        with measuring(energy, energy_country) as used:
            res = _run(compute.fid, a=a, b=b, weights=weights, protocol=protocol, device=device,
                       batch_size=_batch(batch_size, device), workers=_workers(workers), num=num, truncation_psi=truncation,
                       class_idx=class_idx, save_stats_path=save_stats, tf32=tf32, progress=progress,
                       standing_stats=standing_stats)
        if used and isinstance(res[0], dict):
            res[0]["energy"] = used
        _emit(res, "fid", as_json, "--max", max_fid, lambda v: v > max_fid)

    @app.command("is", help="Inception Score of an image set (torch-fidelity's numbers by default: 10 splits).\n\n"
                 "Example: ganctl is runs/dcgan/00000-fmnist --num 50000 --min 8\n\nPrints the mean; --json adds the std.")
    def inception_score(
        a: str = typer.Argument(..., help=INPUT_HELP + "."),
        splits: int = typer.Option(10, "--splits", help="Number of splits."),
        min_is: Optional[float] = typer.Option(None, "--min", help="Exit 1 when IS is below this (CI gate)."),
        protocol: str = typer.Option("torch-fidelity", "--protocol", help="Preprocessing: torch-fidelity, pytorch-fid or clean-fid."),
        weights: Optional[str] = weights_opt, device: str = device_opt, batch_size: int = batch_opt, workers: int = workers_opt,
        num: Optional[int] = num_opt, truncation: float = trunc_opt, class_idx: Optional[int] = class_opt,
        as_json: bool = json_opt, tf32: bool = tf32_opt, progress: bool = progress_opt, checkpoint: Optional[str] = ckpt_opt,
        standing_stats: int = standing_opt,
    ) -> None:
        from ganctl import api
        from ganctl.metrics import compute

        (a,) = api.select_checkpoints([a], checkpoint)
        res = _run(compute.inception_score, a=a, weights=weights, protocol=protocol, device=device,
                   batch_size=_batch(batch_size, device), workers=_workers(workers), num=num, truncation_psi=truncation,
                   class_idx=class_idx, splits=splits, tf32=tf32, progress=progress,
                   standing_stats=standing_stats)
        _emit(res, "is_mean", as_json, "--min", min_is, lambda v: v < min_is)

    @app.command("kid", help="Kernel Inception Distance between two image sets (torch-fidelity's numbers by default).\n\n"
                 "Example: ganctl kid data/real/ fake/ --subset-size 1000 --max 0.01\n\nPrints the mean; --json adds the std.")
    def kid(
        a: str = typer.Argument(..., help=INPUT_HELP + "."),
        b: str = typer.Argument(..., help=INPUT_HELP + "."),
        subsets: int = typer.Option(100, "--subsets", help="Number of random subsets."),
        subset_size: int = typer.Option(1000, "--subset-size", help="Images per subset (each side needs at least this many)."),
        max_kid: Optional[float] = typer.Option(None, "--max", help="Exit 1 when KID is above this (CI gate)."),
        protocol: str = typer.Option("torch-fidelity", "--protocol", help="Preprocessing: torch-fidelity, pytorch-fid or clean-fid."),
        weights: Optional[str] = weights_opt, device: str = device_opt, batch_size: int = batch_opt, workers: int = workers_opt,
        num: Optional[int] = num_opt, truncation: float = trunc_opt, class_idx: Optional[int] = class_opt,
        as_json: bool = json_opt, tf32: bool = tf32_opt, progress: bool = progress_opt, checkpoint: Optional[str] = ckpt_opt,
        standing_stats: int = standing_opt,
    ) -> None:
        from ganctl import api
        from ganctl.metrics import compute

        a, b = api.select_checkpoints([a, b], checkpoint)
        res = _run(compute.kid, a=a, b=b, weights=weights, protocol=protocol, device=device,
                   batch_size=_batch(batch_size, device), workers=_workers(workers), num=num, truncation_psi=truncation,
                   class_idx=class_idx, subsets=subsets, subset_size=subset_size, tf32=tf32, progress=progress,
                   standing_stats=standing_stats)
        _emit(res, "kid_mean", as_json, "--max", max_kid, lambda v: v > max_kid)
