"""`ganctl presets list|show` and `ganctl doctor`."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    presets = typer.Typer(help="List and show presets.\n\nExample: ganctl presets show dcgan-fashion-mnist", no_args_is_help=True)
    app.add_typer(presets, name="presets")

    @presets.command("list", help="List presets. Example: ganctl presets list")
    def presets_list() -> None:
        from ganctl import api

        for p in api.presets_list():
            print(f"{p['name']:<24} {p['description']}")

    @presets.command("show", help="Show a preset's fully resolved config, or with --summary its networks block by block "
                      "(output shape, parameters, G_params / D_params totals).\n\nExamples: ganctl presets show wgan-gp-64; "
                      "ganctl presets show progan-celebahq --summary --json")
    def presets_show(
        name: str,
        summary: bool = typer.Option(False, "--summary", help="Per-block table of G and D instead of the config"),
        resolution: int = typer.Option(None, "--resolution", help="Image resolution (default: the NxN in the preset's description)"),
        channels: int = typer.Option(None, "--channels", help="Image channels (default: 1 for grayscale/MNIST presets, else 3)"),
        classes: int = typer.Option(None, "--classes", help="Number of classes (default: 10 if the preset is conditional, else 0)"),
        as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout"),
    ) -> None:
        from ganctl import api

        if summary:
            from ganctl.models.summary import format_summary

            s = api.presets_summary(name, resolution, channels, classes)
            print(json.dumps(s) if as_json else format_summary(s))
            return
        cfg = api.presets_show(name)
        if as_json:
            print(json.dumps(cfg))
            return
        import yaml

        print(yaml.safe_dump(cfg, sort_keys=False), end="")

    @app.command("doctor", help="Versions, devices and which op implementations are active.\n\nExample: ganctl doctor --json")
    def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
        from ganctl import api

        info = api.doctor()
        if as_json:
            print(json.dumps(info, indent=1, default=str))
            return
        for k, v in info.items():
            if isinstance(v, dict):
                print(f"{k}:")
                for kk, vv in v.items():
                    print(f"  {kk}: {vv}")
            else:
                print(f"{k}: {v}")
