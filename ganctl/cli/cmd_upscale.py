"""`ganctl upscale`: apply a super-resolution network to images and folders."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from ganctl.cli.output_options import key_option, output_policy, sign_option, watermark_option, watermark_payload_option


def register(app: typer.Typer) -> None:
    @app.command("upscale", help="Upscale images or folders with a super-resolution network (a run, checkpoint or "
                 "network file).\n\n"
                 "Example: ganctl upscale runs/sr-tiny/00000-fmnist32-32-b16 photos/ --out upscaled --tile 256\n\n"
                 "Any size; grayscale, RGB, RGBA (alpha upscaled separately) and 16-bit PNGs. Folders keep their "
                 "relative paths; outputs are PNGs with the provenance statement. Every input is checked first: a bad "
                 "one stops the command before anything is written.")
    def upscale(
        net: str = typer.Argument(..., help="A run directory, checkpoint (.safetensors) or network file."),
        inputs: List[str] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
        out: str = typer.Option(..., "--out", help="Output folder."),
        outscale: Optional[float] = typer.Option(None, "--outscale", help="Final scale of the output relative to the "
                                                 "input (e.g. 3.5 from an x4 network); default: the network's scale."),
        tile: int = typer.Option(0, "--tile", help="Process in tiles of N input pixels (bounded memory); 0 = whole image."),
        tile_pad: int = typer.Option(10, "--tile-pad", help="Context pixels around each tile (cut off again)."),
        batch_size: int = typer.Option(4, "--batch-size", help="Same-size images per forward pass."),
        device: str = typer.Option("auto", "--device"),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Which checkpoint of a run: best, latest or a file name."),
        as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
        no_provenance: bool = typer.Option(False, "--no-provenance", help="Do not write the AI-generated provenance statement."),
        sign: Optional[str] = sign_option(), key: Optional[str] = key_option(),
        watermark: bool = watermark_option(), watermark_payload: Optional[str] = watermark_payload_option(),
    ) -> None:
        from ganctl import api

        bar = None
        if sys.stderr.isatty() and not as_json:
            from rich.progress import Progress

            bar = Progress(transient=True)
            bar.start()
            task = bar.add_task("upscale", total=None)

        def progress(done, total):
            if bar is not None:
                bar.update(task, completed=done, total=total)

        try:
            res = api.upscale(net, inputs, out, outscale, tile, tile_pad, batch_size, device, checkpoint,
                              provenance=not no_provenance, progress=progress,
                              output=output_policy(sign, key, watermark, watermark_payload))
        finally:
            if bar is not None:
                bar.stop()
        if as_json:
            print(json.dumps(res))
        else:
            typer.echo(f"{res['count']} images upscaled x{res['outscale'] or res['scale']} with {res['network']}", err=True)
            print(out)
