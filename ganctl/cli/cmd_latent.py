"""`ganctl directions`, `ganctl edit`, `ganctl project` and `ganctl video`: the latent-space tools (ganctl/latent/)."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from ganctl.cli.cmd_sample import CKPT_HELP, PROV_HELP, SOURCE_HELP
from ganctl.cli.output_options import (checked_output_policy, key_option, sign_option, watermark_option,
                                        watermark_payload_option)

LAYERS_HELP = "ws indices to use/edit, e.g. 0-5 (coarse) or 0,2,4; default: all (edit: the direction's own)."


def _layers(text):
    from ganctl.cli.seeds import parse_seeds

    return None if text is None or text.strip() == "all" else parse_seeds(text, "--layers")


# The options every latent command shares, one definition each (Typer reads a fresh OptionInfo per parameter).
def _device():
    return typer.Option("auto", "--device")


def _checkpoint():
    return typer.Option(None, "--checkpoint", help=CKPT_HELP)


def _json(help_text: str = "Print the result as JSON."):
    return typer.Option(False, "--json", help=help_text)


def _no_provenance():
    return typer.Option(False, "--no-provenance", help=PROV_HELP)


def _written(no_provenance: bool, sign, key, watermark, watermark_payload) -> dict:
    """The api keyword arguments that say how images are written: provenance statement and output policy."""
    return {"provenance": not no_provenance,
            "output": checked_output_policy(no_provenance, sign, key, watermark, watermark_payload)}


def register(app: typer.Typer) -> None:
    @app.command("directions", help="Find edit directions in a style generator's W space and write dirs.npz.\n\n"
                 "sefa: closed-form factorisation of the style weights (no sampling); ganspace: PCA of sampled w; "
                 "boundary: a linear SVM on the w of seeds you scored (CSV `seed,score` or `seed,0|1`; InterFaceGAN's "
                 "top/bottom --ratio and 70/30 split, validation accuracy reported).\n\n"
                 "Example: ganctl directions runs/stylegan-tiny/00000-fmnist32-32-b32 --method sefa --out dirs.npz")
    def directions(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        method: str = typer.Option("sefa", "--method", help="sefa, ganspace or boundary."),
        out: str = typer.Option("dirs.npz", "--out"),
        layers: Optional[str] = typer.Option(None, "--layers", help=LAYERS_HELP),
        num: Optional[int] = typer.Option(None, "--num", help="sefa: keep the top N directions (default: all)."),
        num_samples: int = typer.Option(50000, "--num-samples", help="ganspace: w samples for the PCA."),
        components: int = typer.Option(80, "--components", help="ganspace: principal components to keep."),
        scores: Optional[str] = typer.Option(None, "--scores", help="boundary: CSV of seed,score (or seed,0|1) rows."),
        ratio: float = typer.Option(0.02, "--ratio", help="boundary: share of top and of bottom scores used."),
        split: float = typer.Option(0.7, "--split", help="boundary: training share; the rest validates."),
        name: str = typer.Option("boundary", "--name", help="boundary: the direction's name (e.g. smile)."),
        seed: int = typer.Option(0, "--seed", help="ganspace: first sample seed; boundary: split shuffle."),
        device: str = _device(), checkpoint: Optional[str] = _checkpoint(), as_json: bool = _json(),
    ) -> None:
        from ganctl import api

        source = api.select_checkpoint(source, checkpoint)
        res = api.directions(source, method, out, _layers(layers), num, num_samples, components, scores, ratio, split,
                             seed, name, device)
        if as_json:
            print(json.dumps(res))
            return
        acc = f", validation accuracy {res['validation_accuracy']:.3f}" if "validation_accuracy" in res else ""
        typer.echo(f"{res['count']} {method} directions from {res['checkpoint']}{acc}", err=True)
        print(out)

    @app.command("edit", help="Edit seeds or projected w along a direction: a grid (.png: rows = inputs, columns = "
                 "strengths) or a walk (.mp4, .gif or a folder of frames).\n\n"
                 "Example: ganctl edit runs/stylegan-tiny/00000-fmnist32-32-b32 --seeds 0-3 --direction dirs.npz:0 "
                 "--strength -3:3 --steps 7 --layers 0-3 --out edit.png")
    def edit(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        direction: str = typer.Option(..., "--direction", help="FILE:K, K a direction's index or name (dirs.npz:0)."),
        seeds: Optional[str] = typer.Option(None, "--seeds", help="Seeds to edit: 0-3, 1,5,9."),
        projected_w: Optional[str] = typer.Option(None, "--projected-w", help="Edit the w of a projected_w.npz instead."),
        strength: str = typer.Option("-3:3", "--strength", help="LO:HI range (with --steps) or one value."),
        steps: int = typer.Option(7, "--steps"),
        layers: Optional[str] = typer.Option(None, "--layers", help=LAYERS_HELP),
        out: str = typer.Option("edit.png", "--out", help="grid.png, walk.mp4, walk.gif or a folder."),
        truncation: float = typer.Option(1.0, "--truncation"), class_idx: Optional[int] = typer.Option(None, "--class"),
        fps: int = typer.Option(24, "--fps"),
        device: str = _device(), checkpoint: Optional[str] = _checkpoint(), as_json: bool = _json(),
        no_provenance: bool = _no_provenance(), sign: Optional[str] = sign_option(), key: Optional[str] = key_option(),
        watermark: bool = watermark_option(), watermark_payload: Optional[str] = watermark_payload_option(),
    ) -> None:
        from ganctl import api
        from ganctl.cli.seeds import parse_seeds

        source = api.select_checkpoint(source, checkpoint)
        res = api.edit(source, direction, parse_seeds(seeds) if seeds is not None else None, projected_w, strength,
                       steps, _layers(layers), out, truncation, class_idx, fps, device,
                       **_written(no_provenance, sign, key, watermark, watermark_payload))
        if as_json:
            print(json.dumps(res))
            return
        typer.echo(f"{res['inputs']} input(s) x {len(res['strengths'])} strengths of {res['direction']}", err=True)
        print(out)

    @app.command("project", help="Project images into a style generator (NVlabs' projector: 1000 steps, LPIPS-VGG16, "
                 "noise regularisation) and write projected_w.npz, proj.png, target.png (and proj.mp4).\n\n"
                 "Targets of another size are centre-cropped and LANCZOS-resized. Several targets run as one batch "
                 "(OUT/NN-NAME/ each).\n\n"
                 "Example: ganctl project runs/stylegan-tiny/00000-fmnist32-32-b32 photo.png --out proj --json")
    def project(
        source: str = typer.Argument(..., help="A run directory or checkpoint (.safetensors, NVlabs .pkl)."),
        targets: List[str] = typer.Argument(..., help="Target image file(s)."),
        out: str = typer.Option("proj", "--out", help="Output folder."),
        steps: int = typer.Option(1000, "--steps"),
        space: str = typer.Option("w", "--space", help="w (one w broadcast, NVlabs) or w+ (one w per layer)."),
        start_w: Optional[str] = typer.Option(None, "--start-w", help="Start from this projected_w.npz instead of w_avg."),
        seed: int = typer.Option(0, "--seed", help="Seed of the w noise and the initial noise maps."),
        loss: str = typer.Option("lpips", "--loss", help="lpips (LPIPS-VGG16, NVlabs) or mse (pixels, no weights)."),
        noise: str = typer.Option("optimise", "--noise", help="optimise: re-draw the noise maps and optimise them "
                                  "(NVlabs); const: keep the network's own, as sample and proj.png use them (images "
                                  "this generator made)."),
        save_video: bool = typer.Option(False, "--save-video", help="Also write proj.mp4 (target | synthesis per step)."),
        weights: Optional[str] = typer.Option(None, "--weights", help="VGG16 weights (vgg16-397923af.pth)."),
        lpips_weights: Optional[str] = typer.Option(None, "--lpips-weights", help="LPIPS v0.1 linear layers (vgg.pth)."),
        class_idx: Optional[int] = typer.Option(None, "--class", help="Conditional generators: the targets' class."),
        device: str = _device(), as_json: bool = _json("Print the final LPIPS, PSNR and MSE per target as JSON."),
        no_provenance: bool = _no_provenance(), sign: Optional[str] = sign_option(), key: Optional[str] = key_option(),
        watermark: bool = watermark_option(), watermark_payload: Optional[str] = watermark_payload_option(),
    ) -> None:
        import sys

        from ganctl import api

        every = max(1, steps // 20)

        def emit(e):
            if e["type"] == "log":
                print(e["message"], file=sys.stderr)
            elif e["step"] % every == 0 or e["step"] == e["steps"]:
                d = ", ".join(f"{v:.4f}" for v in e["dist"][:4])
                print(f"step {e['step']}/{e['steps']}  dist {d}  lr {e['lr']:.4f}", file=sys.stderr)

        res = api.project(source, targets, out, steps, space, start_w, seed, loss, save_video, weights, lpips_weights,
                          class_idx, device, emit=emit, noise=noise,
                          **_written(no_provenance, sign, key, watermark, watermark_payload))
        if as_json:
            print(json.dumps(res))
            return
        for r in res["targets"]:
            lp = f", LPIPS {r['lpips']:.4f}" if r["lpips"] is not None else ""
            typer.echo(f"{r['target']}: PSNR {r['psnr']:.2f} dB, MSE {r['mse']:.6f}{lp} -> {r['outdir']}", err=True)
        print(out)

    @app.command("video", help="A looping latent walk video as NVlabs' gen_video makes it: a grid of cells, each "
                 "interpolating its keyframes (seeds' w, projected w, or z for families without W) with cubic splines.\n\n"
                 "Example: ganctl video runs/stylegan-tiny/00000-fmnist32-32-b32 --seeds 0-31 --grid 4x2 --w-frames 120 "
                 "--out walk.mp4")
    def video(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        seeds: Optional[str] = typer.Option(None, "--seeds", help="Keyframe seeds, filling the cells in order."),
        projected_w: Optional[List[str]] = typer.Option(None, "--projected-w", help="Keyframes from projected_w.npz "
                                                       "file(s) instead (repeat the flag)."),
        grid: str = typer.Option("1x1", "--grid", help="COLSxROWS."),
        w_frames: int = typer.Option(120, "--w-frames", help="Frames per keyframe."),
        keyframes: Optional[int] = typer.Option(None, "--keyframes", help="Keyframes per cell (default: inputs / cells)."),
        out: str = typer.Option("video.mp4", "--out", help="walk.mp4 (needs ffmpeg), walk.gif or a folder."),
        fps: int = typer.Option(60, "--fps"),
        truncation: float = typer.Option(1.0, "--truncation"), class_idx: Optional[int] = typer.Option(None, "--class"),
        device: str = _device(), checkpoint: Optional[str] = _checkpoint(), as_json: bool = _json(),
        no_provenance: bool = _no_provenance(), sign: Optional[str] = sign_option(), key: Optional[str] = key_option(),
        watermark: bool = watermark_option(), watermark_payload: Optional[str] = watermark_payload_option(),
    ) -> None:
        from ganctl import api
        from ganctl.cli.seeds import parse_seeds

        source = api.select_checkpoint(source, checkpoint)
        res = api.video(source, parse_seeds(seeds) if seeds is not None else None, projected_w or None, grid, w_frames,
                        keyframes, out, fps, truncation, class_idx, device,
                        **_written(no_provenance, sign, key, watermark, watermark_payload))
        if as_json:
            print(json.dumps(res))
            return
        typer.echo(f"{res['frames']} frames ({res['keyframes']} keyframes per cell) from {res['checkpoint']}", err=True)
        print(out)
