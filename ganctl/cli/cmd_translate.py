"""`ganctl translate`: the CLI face of ganctl.sampling.translate (parse, call api.translate, render)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ganctl.cli.output_options import key_option, output_policy, sign_option, watermark_option, watermark_payload_option

HELP = """Translate images with a pix2pix or CycleGAN network (a run, checkpoint or run directory).

INPUT is any number of image files or folders (recursive), of any size: sizes the generator cannot take are padded
to its multiple and the outputs cropped back (said in the log). Outputs are PNGs in --out with the network's
provenance. pix2pix at test time: dropout on (the paper's noise, seeded by --seed); batch norm by --bn auto: the
running statistics for a network trained on batches of several images, each image's own statistics (the paper's
and the reference test.py's mode, --bn batch) for one trained at batch 1 and for the reference's files.
--dropout off --bn running gives the deterministic, training-statistics output. Bad input: one line, exit 2, nothing written.

\b
Examples:
  ganctl translate runs/pix2pix-facades/00000-facades-256-b1 labels/ --out photos/
  ganctl translate runs/cyclegan-horse2zebra/00003-h2z-256-b1 zebra.jpg --out out/ --direction BtoA
"""


def translate(
    net: Path = typer.Argument(..., metavar="NET", help="Run directory or checkpoint of a pix2pix/CycleGAN network."),
    inputs: List[Path] = typer.Argument(..., metavar="INPUT...", help="Image files or folders."),
    out: Path = typer.Option(..., "--out", help="Output folder (created)."),
    direction: str = typer.Option("AtoB", "--direction", help="CycleGAN: AtoB (G_A) or BtoA (G_B)."),
    dropout: str = typer.Option("on", "--dropout", help="on (the paper's test-time noise) or off."),
    bn: str = typer.Option("auto", "--bn", help="auto (running if trained at batch > 1, else batch), batch (each image's own statistics, as the reference) or running."),
    batch: int = typer.Option(8, "--batch", help="Images per forward pass (with --bn running; on CPU a ResNet generator runs one at a time, faster there)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the dropout noise."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    sign: Optional[str] = sign_option(), key: Optional[str] = key_option(),
    watermark: bool = watermark_option(), watermark_payload: Optional[str] = watermark_payload_option(),
) -> None:
    from ganctl import api

    r = api.translate(str(net), [str(i) for i in inputs], str(out), direction=direction, dropout=dropout, bn=bn, batch=batch,
                      seed=seed, device=device,
                      output=output_policy(sign, key, watermark, watermark_payload), emit=lambda text: print(text, file=sys.stderr, flush=True))
    if as_json:
        print(json.dumps(r, indent=1))
    else:
        print(f"wrote {r['count']} image(s) to {r['out']}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("translate", help=HELP, no_args_is_help=True)(translate)
