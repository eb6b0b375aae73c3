"""`ganctl train` and `ganctl resume`."""

from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer


def _end_torchrun_worker() -> None:
    """A torchrun worker whose run finished: destroy the process group, flush, and exit 0 without interpreter teardown.

    Left to teardown, gloo's C++ threads can abort a rank that has already written its final checkpoint ("terminate
    called without an active exception", SIGABRT, seen in CI under load even with the group destroyed at exit), and
    torchrun then fails the whole run. Everything the run writes is closed by now (checkpoints are atomic renames)."""
    from ganctl.engine.distributed import env_world_size, shutdown

    if env_world_size() <= 1:
        return
    shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def register(app: typer.Typer) -> None:
    @app.command("train", help="Train a GAN from a preset on a prepared dataset.\n\n"
                 "Example: ganctl train --preset dcgan-fashion-mnist --data data/fmnist32 --kimg 20 train.batch=32\n\n"
                 "Config merge order: defaults < --preset < --config FILE < key=value overrides < flags.")
    def train(
        overrides: List[str] = typer.Argument(None, help="Dotted overrides, e.g. train.batch=32 optim.g.lr=0.001", show_default=False),
        preset: Optional[str] = typer.Option(None, "--preset", help="Preset name (see `ganctl presets list`) or a .yaml path."),
        data: Optional[str] = typer.Option(None, "--data", help="Prepared dataset directory (from `ganctl prepare-data`)."),
        outdir: str = typer.Option("runs", "--outdir", help="Where run directories are created."),
        kimg: Optional[float] = typer.Option(None, "--kimg", help="Train until this many thousand real images have been shown."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (initialisation, latents, data order)."),
        batch: Optional[int] = typer.Option(None, "--batch", help="Global batch size."),
        device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
        config: Optional[str] = typer.Option(None, "--config", help="A YAML file merged over the preset."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config (YAML) and exit."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and the run directory."),
        gpus: int = typer.Option(1, "--gpus", help="Processes to launch on this machine (torch.distributed; gloo on CPU, NCCL on GPUs)."),
        init: Optional[str] = typer.Option(None, "--init", help="Fine-tune: start G, D, G_ema from a network (NVlabs .pkl, "
                                           "rosinality .pt, ganctl checkpoint or run dir); its architecture replaces model.*"),
    ) -> None:
        from ganctl import api
        from ganctl.cli.render import EventRenderer

        if gpus > 1 and not dry_run:
            raise typer.Exit(_relaunch(gpus))
        if dry_run:
            import yaml

            cfg = api.resolve_train_config(preset, config, overrides or [], data, kimg, seed, device, batch)
            if init:
                cfg = api.resolve_init_config(init, cfg)
            sys.stdout.write(yaml.safe_dump(cfg, sort_keys=False))
            return
        rank0 = os.environ.get("RANK", "0") == "0"
        render = EventRenderer(quiet=quiet or not rank0)
        try:
            result = api.train(preset=preset, data=data, outdir=outdir, kimg=kimg, seed=seed, device=device,
                               config_file=config, overrides=overrides or [], batch=batch, emit=render, argv=sys.argv,
                               init=init)
        finally:
            render.close()
        if rank0:
            print(result["run_dir"])
        _end_torchrun_worker()

    def _relaunch(n: int) -> int:
        from ganctl.engine.distributed import launch

        args = sys.argv[1:]
        out, skip = [], False
        for a in args:  # drop --gpus N / --gpus=N, keep everything else as typed
            if skip:
                skip = False
                continue
            if a == "--gpus":
                skip = True
                continue
            if a.startswith("--gpus="):
                continue
            out.append(a)
        return launch(n, out)

    @app.command("resume", help="Continue a training run in its own directory, restoring everything.\n\n"
                 "Example: ganctl resume runs/dcgan-fashion-mnist/00000-fmnist32-32-b64 --kimg 40\n\n"
                 "Only overrides that cannot change the result are accepted (train.kimg, device, cadence).")
    def resume(
        run_dir: str = typer.Argument(..., help="The run directory to continue."),
        overrides: List[str] = typer.Argument(None, help="Allowed: train.kimg, train.device, train.snapshot_ticks, ...", show_default=False),
        kimg: Optional[float] = typer.Option(None, "--kimg", help="New total length in kimg."),
        device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
        workers: Optional[int] = typer.Option(None, "--workers", help="Data loader threads."),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="best, latest (default) or a checkpoint file name in RUN_DIR/checkpoints."),
        quiet: bool = typer.Option(False, "--quiet", "-q"),
        gpus: int = typer.Option(1, "--gpus", help="Processes to launch on this machine, as for train."),
    ) -> None:
        from ganctl import api
        from ganctl.cli.render import EventRenderer

        if gpus > 1:
            raise typer.Exit(_relaunch(gpus))

        rank0 = os.environ.get("RANK", "0") == "0"
        render = EventRenderer(quiet=quiet or not rank0)
        try:
            result = api.resume(run_dir, kimg=kimg, device=device, workers=workers, checkpoint=checkpoint,
                                overrides=overrides or [], emit=render, argv=sys.argv)
        finally:
            render.close()
        if rank0:
            print(result["run_dir"])
        _end_torchrun_worker()
