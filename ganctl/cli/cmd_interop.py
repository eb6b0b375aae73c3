"""`ganctl convert` (a network from elsewhere -> a ganctl checkpoint) and `ganctl info` (what a network file holds)."""

from __future__ import annotations

import json
import sys

import typer


def _human(info: dict) -> str:
    p = info["params"]
    lines = [f"file:       {info['file']}", f"format:     {info['format']}", f"family:     {info['family']}",
             f"resolution: {info['resolution']}x{info['resolution']}, {info['channels']} channel(s)",
             f"classes:    {info['classes'] or 'unconditional'}",
             f"params:     G {p['G']:,}  D {p['D']:,}",
             f"kimg:       {info['kimg'] if info['kimg'] is not None else 'unknown'}",
             *([f"stage:      {info['stage']['kind']} at {info['stage']['resolution']}x{info['stage']['resolution']}, "
                f"alpha {info['stage']['alpha']:.3f}"] if info.get("stage") else []),
             f"precision:  {info['precision']}", f"sha256:     {info['sha256']}"]
    if info.get("networks"):
        lines.append(f"networks:   {', '.join(info['networks'])}")
    if info.get("source"):
        s = info["source"]
        lines.append(f"converted from: {s.get('path')} ({s.get('format')}, sha256 {s.get('sha256')})")
    if info.get("energy"):
        e = info["energy"]
        lines.append(f"energy:     {e['kwh']:.6g} kWh, {e['co2_kg']:.6g} kg CO2e ({e['country']}; {e['method']})")
    if info.get("privacy"):
        pv = info["privacy"]
        budget = f", budget {pv['epsilon_budget']:g}" if pv.get("epsilon_budget") is not None else ""
        lines.append(f"privacy:    epsilon {pv['epsilon']:.3f} spent at delta {pv['delta']:g}{budget} (DP-SGD on D, "
                     f"noise {pv['noise_multiplier']:.3f}, clip {pv['max_grad_norm']:g}, {pv['dp_steps']} steps, "
                     f"{pv['accountant']} accountant)")
    model = info["config"]["model"]
    lines.append("model:      " + ", ".join(f"{k}={v}" for k, v in model.items()))
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("convert", help="Convert an NVlabs StyleGAN2/ADA/StyleGAN3 pickle (.pkl) or a rosinality stylegan2-pytorch "
                 "checkpoint (.pt) into a ganctl checkpoint. Nothing in the file is executed.\n\n"
                 "Example: ganctl convert ffhq.pkl ffhq.safetensors")
    def convert(
        source: str = typer.Argument(..., help="The network file (.pkl, .pt or .pth)."),
        out: str = typer.Argument(..., help="The ganctl checkpoint to write (*.safetensors)."),
    ) -> None:
        from ganctl import api

        r = api.convert(source, out)
        print(f"converted {', '.join(r['networks'])} ({r['resolution']}x{r['resolution']}, {r['channels']} channel(s), "
              f"{r['classes'] or 'no'} classes) from {r['source']['format']} sha256 {r['source']['sha256'][:16]}...",
              file=sys.stderr)
        print(r["out"])

    @app.command("info", help="Family, resolution, channels, classes, parameter counts, kimg, config, precision and "
                 "sha256 of a run directory, ganctl checkpoint or network file (.pkl/.pt).\n\n"
                 "Example: ganctl info ffhq.pkl --json")
    def info(
        target: str = typer.Argument(..., help="Run directory, checkpoint (.safetensors) or network file (.pkl/.pt)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (for scripts)."),
    ) -> None:
        from ganctl import api

        r = api.info(target)
        print(json.dumps(r, indent=1, default=str) if as_json else _human(r))
