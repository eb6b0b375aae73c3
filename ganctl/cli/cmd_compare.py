"""`ganctl compare`: pair metrics of outputs against references (super-resolution, translation)."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command("compare", help="PSNR / SSIM / L1 / LPIPS of OUT against REF: two images, or two folders matched by "
                 "relative path; per-image rows and means.\n\n"
                 "Example: ganctl compare hr/ upscaled/ --metrics psnr,ssim --crop-border 4 --y-channel\n\n"
                 "BasicSR's conventions: crop first, then MATLAB BT.601 Y (with --y-channel), then float64; "
                 "MATLAB-compatible SSIM. Papers report Y with crop = scale; BasicSR's model zoo RGB with crop 4.")
    def compare(
        ref: str = typer.Argument(..., help="Reference image or folder (ground truth)."),
        out: str = typer.Argument(..., help="Output image or folder."),
        metrics: str = typer.Option("psnr,ssim", "--metrics", help="Comma list of psnr, ssim, l1, lpips."),
        crop_border: int = typer.Option(0, "--crop-border", help="Pixels cut from every side before measuring."),
        y_channel: bool = typer.Option(False, "--y-channel", help="Measure the MATLAB BT.601 Y channel (16-235)."),
        device: str = typer.Option("cpu", "--device", help="For LPIPS."),
        as_json: bool = typer.Option(False, "--json", help="Print per-image rows, means and the convention as JSON."),
    ) -> None:
        from ganctl import api

        res = api.compare(ref, out, [m.strip() for m in metrics.split(",") if m.strip()], crop_border, y_channel, device)
        if as_json:
            print(json.dumps(res))
            return
        names = list(res["mean"])
        for row in res["images"]:
            print(row["name"] + "\t" + "\t".join(f"{k} {row[k]:.4f}" for k in names))
        c = res["convention"]
        print(f"mean of {res['count']}\t" + "\t".join(f"{k} {v:.4f}" for k, v in res["mean"].items())
              + f"\t({c['channel']}, crop {c['crop_border']})")
