"""`ganctl serve` (HTTP API) and `ganctl explore` (local web page) for a trained generator."""

from __future__ import annotations

from typing import Optional

import typer

SOURCE_HELP = "A run directory, checkpoint, or NVlabs .pkl / rosinality .pt. Default: the newest run under ./runs."
HOST_HELP = "Address to bind: loopback unless you name another (0.0.0.0 exposes it to your network)."


def register(app: typer.Typer) -> None:
    @app.command("serve", help="Serve a generator over HTTP: GET /api/image?seed=S&class=C&psi=P&noise_mode=const "
                 "returns the PNG `ganctl sample` writes (byte for byte); /api/images?seeds=0-15&format=json|png; "
                 "/api/info. Bad parameters get a 400 with a JSON error.\n\n"
                 "Example: ganctl serve runs/stylegan-tiny/00000-fmnist32-32-b32 --port 8000")
    def serve(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        host: str = typer.Option("127.0.0.1", "--host", help=HOST_HELP),
        port: int = typer.Option(8000, "--port", help="TCP port (0: any free port; the URL is printed)."),
        device: str = typer.Option("auto", "--device"),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Which checkpoint of a run: best, latest or a file name."),
        max_images: int = typer.Option(64, "--max-images", help="Most images one request may ask for."),
        max_batch: int = typer.Option(16, "--max-batch", help="Images per forward pass (bigger requests are split)."),
    ) -> None:
        from ganctl import api

        source = api.select_checkpoint(source, checkpoint)
        api.serve(source, host, port, device, max_images, max_batch, on_ready=_announce("serving"))

    @app.command("explore", help="Open a local web page to explore a generator: a seed grid that pages and zooms, "
                 "truncation (and cutoff), classes, style mixing, interpolation between two seeds, edit directions, "
                 "and a download of the current image with its provenance.\n\n"
                 "Example: ganctl explore runs/stylegan-tiny/00000-fmnist32-32-b32 --directions dirs.npz")
    def explore(
        source: Optional[str] = typer.Argument(None, help=SOURCE_HELP),
        host: str = typer.Option("127.0.0.1", "--host", help=HOST_HELP),
        port: int = typer.Option(0, "--port", help="TCP port (0: any free port; the URL is printed)."),
        device: str = typer.Option("auto", "--device"),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="Which checkpoint of a run: best, latest or a file name."),
        directions: Optional[str] = typer.Option(None, "--directions", help="Edit directions (dirs.npz from `ganctl directions`)."),
    ) -> None:
        from ganctl import api

        source = api.select_checkpoint(source, checkpoint)
        api.explore(source, host, port, device, directions, on_ready=_announce("explore at"))


def _announce(what: str):
    def ready(url: str) -> None:
        typer.echo(f"ganctl {what} {url} (Ctrl-C stops)", err=True)
        print(url, flush=True)  # stdout: the URL alone, for scripts

    return ready
