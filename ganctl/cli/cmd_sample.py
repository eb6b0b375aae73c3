"""`ganctl sample`, `ganctl interpolate` and `ganctl style-mix`: images from a trained generator."""

from __future__ import annotations

import json
from typing import Optional

import typer

from ganctl.cli.output_options import (checked_output_policy, energy_country_option, energy_option, key_option,
                                        sign_option, watermark_option, watermark_payload_option)

SOURCE_HELP = "A run directory or checkpoint (.safetensors). Default: the newest run under ./runs."
CKPT_HELP = "Which checkpoint of the run: best (kept when trained with train.metrics), latest, or a file name in RUN/checkpoints."
PROV_HELP = ("Do not write the AI-generated provenance statement (XMP in PNGs, GIF comment, MP4 metadata; read it back "
             "with `ganctl provenance FILE`).")


def parse_translate(text: str | None) -> tuple[float, float]:
    """'X,Y' -> (x, y); None -> (0, 0)."""
    from ganctl.errors import UsageError

    if text is None:
        return 0.0, 0.0
    try:
        x, y = (float(t) for t in text.split(","))
    except ValueError:
        raise UsageError(f"--translate {text!r}: expected two numbers X,Y, e.g. --translate 0.2,-0.1") from None
    return x, y


def register(app: typer.Typer) -> None:
    @app.command("sample", help="Generate images by seed from a trained run.\n\n"
                 "Example: ganctl sample runs/dcgan-fashion-mnist/00000-fmnist32-32-b64 --seeds 0-63 --grid --outdir out\n\n"
                 "An image depends only on its seed. Truncation PSI < 1 trades variety for fidelity: style models "
                 "lerp w toward the average w; z-input models (mlp, dcgan) scale z toward 0; biggan redraws z components outside "
                 "[-PSI, PSI] (a truncated normal, still a pure function of the seed).")
    def sample(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        seeds: str = typer.Option("0-15", "--seeds", help="Seed list: 0-63, 1,5,9 or 0-3,7."),
        truncation: float = typer.Option(1.0, "--truncation", help="Truncation psi (1 = none)."),
        truncation_cutoff: Optional[int] = typer.Option(None, "--truncation-cutoff", help="Style models: truncate only the first K layers."),
        noise_mode: str = typer.Option("const", "--noise-mode", help="Style models: const, random or none."),
        class_idx: Optional[int] = typer.Option(None, "--class", help="Class index for conditional models (default: seed % classes)."),
        grid: bool = typer.Option(False, "--grid", help="Write one grid.png instead of one file per seed."),
        outdir: str = typer.Option("samples", "--outdir", help="Output folder."),
        device: str = typer.Option("auto", "--device"),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help=CKPT_HELP),
        batch_size: int = typer.Option(32, "--batch-size", help="Images per forward pass (does not change the images)."),
        workers: Optional[int] = typer.Option(None, "--workers", help="PNG-encoding threads (default: CPUs, max 8; 1 = no pool)."),
        as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
        no_provenance: bool = typer.Option(False, "--no-provenance", help=PROV_HELP),
        sign: Optional[str] = sign_option(),
        key: Optional[str] = key_option(),
        watermark: bool = watermark_option(),
        watermark_payload: Optional[str] = watermark_payload_option(),
        energy: bool = energy_option(),
        energy_country: Optional[str] = energy_country_option(),
        standing_stats: int = typer.Option(0, "--standing-stats", help="Batch-norm generators (BigGAN): use the average "
                                           "batch statistics of N fresh forward passes instead of the running ones (0 = off)."),
        projected_w: Optional[str] = typer.Option(None, "--projected-w", help="Style models: the images of the ws in a "
                                                  "projected_w.npz (`ganctl project`, NVlabs' projector) instead of seeds."),
        export_dataset: Optional[str] = typer.Option(None, "--export-dataset", help="Write --num generated images "
                                                     "(seeds 0..N-1, labels seed %% classes) as a prepared dataset in this "
                                                     "folder, plus DIR/images/<class>/ in torchvision ImageFolder layout."),
        num: Optional[int] = typer.Option(None, "--num", help="With --export-dataset: how many images."),
        translate: Optional[str] = typer.Option(None, "--translate", help="StyleGAN3: translate the output by X,Y "
                                                "(in image-width units of the input grid, as NVlabs' gen_images)."),
        rotate: float = typer.Option(0.0, "--rotate", help="StyleGAN3: rotate the output by DEG degrees."),
    ) -> None:
        from ganctl import api
        from ganctl.cli.seeds import parse_seeds
        from ganctl.errors import UsageError

        if export_dataset is not None or num is not None:
            if export_dataset is None or num is None:
                raise UsageError("--export-dataset DIR and --num N go together, e.g. --export-dataset synth --num 10000")
            res = api.export_dataset(api.select_checkpoint(source, checkpoint), export_dataset, num, truncation, device,
                                     batch_size, workers, provenance=not no_provenance)
            if as_json:
                print(json.dumps(res))
            else:
                typer.echo(f"{res['count']} images ({res['classes'] or 'no'} classes) from {res['checkpoint']}; "
                           f"ImageFolder copy in {res['image_folder']}", err=True)
                print(res["dataset"])
            return

        if standing_stats < 0:
            raise UsageError("--standing-stats: must be 0 (off) or a number of forward passes, e.g. 16")
        if workers is not None and workers < 1:
            raise UsageError("--workers: must be at least 1")
        if noise_mode not in ("const", "random", "none"):
            raise UsageError(f"--noise-mode {noise_mode!r}: use const, random or none")
        if batch_size < 1:
            raise UsageError("--batch-size: must be at least 1")
        from ganctl.engine.energy import measuring

        output = checked_output_policy(no_provenance, sign, key, watermark, watermark_payload)
        source = api.select_checkpoint(source, checkpoint)
        if projected_w is not None:
            res = api.sample_projected(source, projected_w, outdir, grid, noise_mode, device, provenance=not no_provenance,
                                       output=output)
            print(json.dumps(res) if as_json else (res["files"][-1] if grid else outdir))
            return
        with measuring(energy, energy_country) as used:
            res = api.sample(source, parse_seeds(seeds), truncation, truncation_cutoff, class_idx, grid, outdir, noise_mode,
                             device, batch_size, workers, standing_stats, provenance=not no_provenance, output=output,
                             translate=parse_translate(translate), rotate=rotate)
        if used:
            res["energy"] = used
            if used.get("note"):
                typer.echo(f"warning: {used['note']}", err=True)
        if as_json:
            print(json.dumps(res))
        else:
            typer.echo(f"{res['count']} images from {res['checkpoint']}", err=True)
            print(res["files"][-1] if grid else outdir)

    @app.command("interpolate", help="Interpolate between seeds and write a GIF, an MP4 or PNG frames.\n\n"
                 "Example: ganctl interpolate runs/dcgan-fashion-mnist/00000-fmnist32-32-b64 --seeds 1,5,9 --steps 24 --loop --out walk.gif")
    def interpolate(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        seeds: str = typer.Option("0-2", "--seeds", help="Keyframe seeds, in order: 1,5,9."),
        steps: int = typer.Option(30, "--steps", help="Frames between consecutive keyframes."),
        method: str = typer.Option("slerp", "--method", help="lerp or slerp (slerp suits Gaussian z)."),
        space: str = typer.Option("z", "--space", help="z, or w for style models (lerp in W is the usual choice)."),
        loop: bool = typer.Option(False, "--loop", help="Return to the first seed for a seamless loop."),
        out: str = typer.Option("interp.gif", "--out", help="FILE.gif, FILE.mp4 (needs ffmpeg) or a folder for PNG frames."),
        truncation: float = typer.Option(1.0, "--truncation"),
        class_idx: Optional[int] = typer.Option(None, "--class"),
        fps: int = typer.Option(24, "--fps"),
        device: str = typer.Option("auto", "--device"),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help=CKPT_HELP),
        no_provenance: bool = typer.Option(False, "--no-provenance", help=PROV_HELP),
        sign: Optional[str] = sign_option(),
        key: Optional[str] = key_option(),
        watermark: bool = watermark_option(),
        watermark_payload: Optional[str] = watermark_payload_option(),
    ) -> None:
        from ganctl import api
        from ganctl.cli.seeds import parse_seeds

        output = checked_output_policy(no_provenance, sign, key, watermark, watermark_payload)
        source = api.select_checkpoint(source, checkpoint)
        res = api.interpolate(source, parse_seeds(seeds), steps, method, space, loop, out, truncation, class_idx, fps, device,
                              provenance=not no_provenance, output=output)
        typer.echo(f"{res['frames']} frames from {res['checkpoint']}", err=True)
        print(out)

    @app.command("style-mix", help="Style-mixing grid for style-based generators: each cell takes its row seed's styles "
                 "with the column seed's styles on the layers given by --styles (0-3 coarse, 4-7 middle, 8+ fine at 1024).\n\n"
                 "Example: ganctl style-mix runs/stylegan-tiny/00000-fmnist32-32-b32 --rows 1-4 --cols 5-8 --styles 0-3 --out mix.png")
    def style_mix(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        rows: str = typer.Option("0-3", "--rows", help="Row seeds (they give the styles not named in --styles)."),
        cols: str = typer.Option("4-7", "--cols", help="Column seeds (they give the --styles layers)."),
        styles: str = typer.Option("0-6", "--styles", help="Layer indices taken from the column seeds."),
        truncation: float = typer.Option(1.0, "--truncation"),
        truncation_cutoff: Optional[int] = typer.Option(None, "--truncation-cutoff"),
        noise_mode: str = typer.Option("const", "--noise-mode", help="const, random or none."),
        class_idx: Optional[int] = typer.Option(None, "--class"),
        out: str = typer.Option("style-mix.png", "--out", help="The grid PNG."),
        singles: Optional[str] = typer.Option(None, "--singles", help="Also write every cell as DIR/ROW-COL.png."),
        device: str = typer.Option("auto", "--device"),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help=CKPT_HELP),
        no_provenance: bool = typer.Option(False, "--no-provenance", help=PROV_HELP),
        sign: Optional[str] = sign_option(),
        key: Optional[str] = key_option(),
        watermark: bool = watermark_option(),
        watermark_payload: Optional[str] = watermark_payload_option(),
    ) -> None:
        from ganctl import api
        from ganctl.cli.seeds import parse_seeds

        output = checked_output_policy(no_provenance, sign, key, watermark, watermark_payload)
        source = api.select_checkpoint(source, checkpoint)
        res = api.style_mix(source, parse_seeds(rows, "--rows"), parse_seeds(cols, "--cols"), parse_seeds(styles, "--styles"),
                            truncation, truncation_cutoff, noise_mode, class_idx, out, singles, device,
                            provenance=not no_provenance, output=output)
        typer.echo(f"{res['rows']}x{res['cols']} style-mix grid from {res['checkpoint']}", err=True)
        print(out)
