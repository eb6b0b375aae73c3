"""`ganctl export`: a trained generator as an ONNX graph that runs without PyTorch."""

from __future__ import annotations

import json
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("export", help="Export a generator as ONNX (dynamic batch, standard operators only, the network's "
                 "sha256 and ganctl's version in the metadata).\n\n"
                 "Example: ganctl export runs/stylegan-tiny/00000-fmnist32-32-b32 --out G.onnx && "
                 "ganctl sample G.onnx --seeds 0-15 --grid\n\n"
                 "Inputs: z float32 (N, z_dim); c int64 (N,) for conditional models; psi float32 scalar unless "
                 "--truncation fixes it. Outputs: image float32 (N, C, H, W) in [-1, 1], or uint8 with --uint8; "
                 "--part mapping outputs w (N, num_ws, w_dim), --part synthesis takes w. Image-to-image networks "
                 "(sr, pix2pix, cyclegan): input `input`, output `image`, float32 (N, C, H, W) in [-1, 1], dynamic N, H, W; "
                 "eval mode (translate --dropout off --bn running).")
    def export(
        source: Optional[str] = typer.Argument(None, help="A run directory, checkpoint, or NVlabs .pkl / rosinality .pt."),
        out: str = typer.Option("G.onnx", "--out", help="The .onnx file to write."),
        format: str = typer.Option("onnx", "--format", help="onnx (the only format)."),
        part: str = typer.Option("full", "--part", help="full, or for style models mapping or synthesis."),
        truncation: Optional[float] = typer.Option(None, "--truncation", help="Fix truncation psi in the graph "
                                                   "(default: psi is an input)."),
        truncation_cutoff: Optional[int] = typer.Option(None, "--truncation-cutoff", help="Style models: truncate only the first K layers."),
        noise_mode: str = typer.Option("const", "--noise-mode", help="Style models: const or none."),
        uint8: bool = typer.Option(False, "--uint8", help="Output uint8 images in [0, 255] instead of float [-1, 1]."),
        opset: int = typer.Option(18, "--opset", help="ONNX opset (18 or later)."),
        direction: str = typer.Option("AtoB", "--direction", help="CycleGAN: AtoB (G_A) or BtoA (G_B)."),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Which checkpoint of a run: best, latest or a file name."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        from ganctl import api

        source = api.select_checkpoint(source, checkpoint)
        res = api.export(source, out, format, part, truncation, truncation_cutoff, noise_mode, uint8, opset, direction)
        if as_json:
            print(json.dumps(res))
            return
        check = "" if res["max_abs_diff"] is None else f"; onnxruntime matches PyTorch within {res['max_abs_diff']:.2g}"
        what = res["part"] if not res.get("direction") else res["direction"]
        typer.echo(f"{res['family']} {what} -> {res['out']} ({res['bytes'] / 1e6:.1f} MB, inputs "
                   f"{', '.join(res['inputs'])}{check})", err=True)
        print(res["out"])
