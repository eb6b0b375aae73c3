"""`ganctl report RUN` and `ganctl diagnose RUN`: readers of a run directory (thin: parse, call ganctl.api, print)."""

from __future__ import annotations

import json
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report", help="Write RUN/report.html (self-contained: plots and sample grids embedded, opens offline) and "
                 "PNG plots in RUN/report/, and print a short summary (last line: the report's path).\n\nExample: ganctl report runs/dcgan-fashion-mnist/00000-fmnist32-32-b64\n\n"
                 "Needs matplotlib: pip install 'ganctl[report]'.")
    def report(
        run_dir: str = typer.Argument(..., help="The run directory."),
        out: Optional[str] = typer.Option(None, "--out", help="The HTML file (default: RUN/report.html)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        from ganctl import api

        res = api.report(run_dir, out)
        if as_json:
            print(json.dumps(res, indent=1))
        else:  # the summary is this command's result (stdout); its last line is the report's path
            print(res["summary_text"])
            print(f"report: {res['html']}")

    @app.command("diagnose", help="Judge a run: mode collapse, discriminator overfitting, conditioning (conditional runs: "
                 "class accuracy of generated images under the dataset's own classifier), instability and divergence, "
                 "each finding with a severity, the run's numbers and advice.\n\n"
                 "Example: ganctl diagnose runs/dcgan-fashion-mnist/00000-fmnist32-32-b64 --strict\n\n"
                 "--strict exits 1 when a finding is severe (for CI).")
    def diagnose(
        run_dir: str = typer.Argument(..., help="The run directory."),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="best, latest (default) or a file name in RUN/checkpoints."),
        num: int = typer.Option(256, "--num", help="Generated (and real) images for the collapse and overfitting checks."),
        features: str = typer.Option("auto", "--features", help="auto (Inception when its weights are here, else pixels), inception or pixel."),
        weights: Optional[str] = typer.Option(None, "--weights", help="pt_inception-2015-12-05-6726825d.pth for detector features."),
        margin: float = typer.Option(0.1, "--margin", help="A metric this much (relative) worse than its best is severe."),
        classifier_steps: Optional[int] = typer.Option(None, "--classifier-steps", help="Training steps of the dataset's "
                                                       "classifier for the conditioning check (default 1000; cached per dataset)."),
        device: str = typer.Option("auto", "--device"),
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
        strict: bool = typer.Option(False, "--strict", help="Exit 1 when any finding is severe."),
    ) -> None:
        from ganctl import api
        from ganctl.errors import GanctlError

        res = api.diagnose(run_dir, checkpoint=checkpoint, num=num, features=features, weights=weights, device=device, margin=margin,
                           classifier_steps=classifier_steps)
        if as_json:
            print(json.dumps(res, indent=1))
        else:
            from ganctl.diagnose.run import render_text

            print(render_text(res))
        if strict and res["worst"] == "severe":
            raise GanctlError(f"--strict: {sum(f['severity'] == 'severe' for f in res['findings'])} severe finding(s)")
