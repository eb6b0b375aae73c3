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

    @presets.command("show", help="Show a preset's fully resolved config. Example: ganctl presets show wgan-gp-64")
    def presets_show(name: str) -> None:
        import yaml

        from ganctl import api

        print(yaml.safe_dump(api.presets_show(name), sort_keys=False), end="")

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
