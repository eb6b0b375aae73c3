"""`ganctl watermark detect`: read ganctl's invisible watermark (sampling/watermark.py) back from images."""

from __future__ import annotations

import json
from typing import List

import typer

EXIT_NOT_DETECTED = 3


def register(app: typer.Typer) -> None:
    wm = typer.Typer(help="ganctl's invisible watermark (embedded by --watermark on generating commands).",
                     no_args_is_help=True)
    app.add_typer(wm, name="watermark")

    @wm.command("detect", help="Detect ganctl's watermark: how many of its 32 fixed identifier bits match, the 32-bit "
                "payload (default: the first 32 bits of the network file's sha256) and a verdict: watermarked "
                "(>= 28/32 bits), likely (25-27), not detected.\n\n"
                "Example: ganctl watermark detect out/grid.png shared.jpg --json\n\n"
                "Exit codes: 0 every file watermarked, 3 some file not (verdict likely or not detected), 2 bad input.")
    def detect(
        files: List[str] = typer.Argument(..., help="Images (PNG, JPEG, WebP, ...; at least 128x128)."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per file."),
        no_search: bool = typer.Option(False, "--no-search", help="Only read the mark where it was written (faster; "
                                       "a cropped image is then missed)."),
    ) -> None:
        from ganctl import api

        res = api.watermark_detect(files, search=not no_search)
        if as_json:
            print(json.dumps(res, indent=1))
        else:
            for r in res:
                print(f"{r['file']}: {r['verdict']} ({r['matching_bits']}/{r['total_bits']} bits, payload {r['payload']})")
        if any(r["verdict"] != "watermarked" for r in res):
            raise typer.Exit(EXIT_NOT_DETECTED)
