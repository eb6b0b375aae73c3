"""`ganctl pr`, `ganctl ppl`, `ganctl nearest`, `ganctl provenance`: evaluation beyond FID and responsible generation
(thin: parse, call ganctl.api, print).

Numbers and JSON go to stdout, warnings and progress to stderr; --min-* gates print the numbers, then exit 1 when a
bound is violated. Under torchrun only rank 0 prints.
"""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from ganctl.cli.cmd_metrics import INPUT_HELP, _batch, _run, _workers


def _print(res: dict, keys: tuple[str, ...], as_json: bool, gates: dict[str, float | None]) -> None:
    """Print `keys` (one `name value` line each) or the JSON record; then apply the lower-bound gates."""
    from ganctl.errors import GanctlError

    failed = [f"{k} {res[k]:.6g} is below --min-{k} {b:g}" for k, b in gates.items() if b is not None and res[k] < b]
    if as_json:
        if any(b is not None for b in gates.values()):
            res["gate"] = {**{f"min_{k}": b for k, b in gates.items() if b is not None}, "passed": not failed}
        print(json.dumps(res, indent=1))
    else:
        for k in keys:
            if k in res:
                print(f"{k} {res[k]!r}")
    if failed:
        raise GanctlError("; ".join(failed))


def register(app: typer.Typer) -> None:
    device_opt = typer.Option("auto", "--device", help="cpu, cuda, cuda:1 (auto: cuda when available).")
    batch_opt = typer.Option(0, "--batch-size", help="Images per detector pass (0: 200 on CUDA, 50 on CPU); numbers do not depend on it.")
    workers_opt = typer.Option(-1, "--workers", help="Decoding worker processes (-1: cores - 1, at most 8; 0: decode in-process).")
    trunc_opt = typer.Option(1.0, "--truncation", help="Truncation psi for generated images.")
    class_opt = typer.Option(None, "--class", help="Class index for conditional generators (default: seed % classes).")
    progress_opt = typer.Option(True, "--progress/--no-progress", help="Progress on stderr (only shown on a terminal).")
    vgg_opt = typer.Option(None, "--weights", help="torchvision's vgg16-397923af.pth (default: $GANCTL_VGG16_WEIGHTS, the "
                           "ganctl cache, $TORCH_HOME/hub/checkpoints; downloaded once when online).")

    @app.command("pr", help="Improved precision and recall (Kynkaanniemi et al. 2019) of FAKE against REAL in VGG16 "
                 "features, k=3 (torch-fidelity's numbers by default; --protocol pr50k3 for NVlabs').\n\n"
                 "Example: ganctl pr data/real/ runs/sg2/00000-ffhq --num 50000 --min-precision 0.6 --json\n\n"
                 "Prints `precision P` and `recall R` lines (and density/coverage with --density-coverage).")
    def pr(
        real: str = typer.Argument(..., help=INPUT_HELP + " (the real side)."),
        fake: str = typer.Argument(..., help=INPUT_HELP + " (the generated side)."),
        protocol: str = typer.Option("torch-fidelity", "--protocol", help="torch-fidelity or pr50k3 (NVlabs: 50k vs 50k, float16)."),
        density_coverage: bool = typer.Option(False, "--density-coverage", help="Also density and coverage (Naeem et al. 2020, k=5)."),
        k: int = typer.Option(3, "--k", help="Nearest neighbour for the manifold radii (the papers' 3)."),
        min_precision: Optional[float] = typer.Option(None, "--min-precision", help="Exit 1 when precision is below this (CI gate)."),
        min_recall: Optional[float] = typer.Option(None, "--min-recall", help="Exit 1 when recall is below this (CI gate)."),
        num: Optional[int] = typer.Option(None, "--num", help="Images to generate from a run (seeds 0..N-1); for folders, the first N "
                                          "(pr50k3 default: 50000)."),
        weights: Optional[str] = vgg_opt, device: str = device_opt, batch_size: int = batch_opt, workers: int = workers_opt,
        truncation: float = trunc_opt, class_idx: Optional[int] = class_opt,
        as_json: bool = typer.Option(False, "--json", help="Print the full record (values, n per side, weights sha256, protocol, ...)."),
        tf32: bool = typer.Option(False, "--tf32", help="Allow TF32 on CUDA (faster, inexact). Default: exact fp32."),
        progress: bool = progress_opt,
    ) -> None:
        from ganctl import api

        res, rank = _run(api.precision_recall, real=real, fake=fake, weights=weights, protocol=protocol, device=device,
                         batch_size=_batch(batch_size, device), workers=_workers(workers), num=num,
                         truncation_psi=truncation, class_idx=class_idx, k=k, density_coverage=density_coverage,
                         tf32=tf32, progress=progress)
        if rank == 0:
            _print(res, ("precision", "recall", "density", "coverage"), as_json,
                   {"precision": min_precision, "recall": min_recall})

    @app.command("provenance", help="Read the provenance statement ganctl writes into images and videos (XMP "
                 "Iptc4xmpExt:DigitalSourceType in PNGs, the GIF comment, MP4 `comment` metadata) and verify their "
                 "signed C2PA content credentials (offline; needs `pip install 'ganctl[c2pa]'`).\n\n"
                 "Example: ganctl provenance out/seed0042.png --trust ca.pem --require trusted --json\n\n"
                 "Prints one line per file: the IPTC digital source type (or 'none'), the credential state (valid = "
                 "signed and trusted, untrusted = intact but the signer is not trusted, invalid = changed after "
                 "signing, unsigned) and ganctl's fields.\n\n"
                 "Exit codes (worst file wins): 5 some file invalid; 3 some file unsigned (with --require signed or "
                 "trusted); 4 some signer untrusted (with --require trusted); 2 bad input; else 0.")
    def provenance(
        files: List[str] = typer.Argument(..., help="PNG, GIF or MP4 files."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list with every field per file."),
        trust: Optional[str] = typer.Option(None, "--trust", metavar="CA.pem", help="Trusted root certificates (PEM) "
                                            "for the C2PA signer; without it every signer is untrusted."),
        require: str = typer.Option("any", "--require", help="any, signed or trusted: what the exit code demands."),
    ) -> None:
        from ganctl import api
        from ganctl.errors import UsageError
        from ganctl.sampling.credentials import exit_code

        if require not in ("any", "signed", "trusted"):
            raise UsageError(f"--require {require!r}: use any, signed or trusted")
        res = api.provenance_verify(files, trust)
        if as_json:
            print(json.dumps(res, indent=1))
        else:
            skip = ("file", "format", "ai_generated", "digital_source_type", "c2pa", "c2pa_errors", "c2pa_note",
                    "c2pa_action", "c2pa_digital_source_type")
            for r in res:
                extra = ", ".join(f"{k}={v}" for k, v in r.items() if k not in skip and v is not None)
                why = f" [{'; '.join(r['c2pa_errors'])[:300]}]" if r.get("c2pa_errors") and r["c2pa"] == "invalid" else ""
                print(f"{r['file']}: {r['digital_source_type'] or 'none'}; credentials {r['c2pa']}{why}"
                      + (f" ({extra})" if extra else ""))
        rc = exit_code(res, require)
        if rc:
            raise typer.Exit(rc)

    @app.command("nearest", help="Memorisation check: for N generated images, the nearest training images in pixel "
                 "space and Inception feature space, the distance distribution against the training set's own "
                 "nearest-neighbour distances, and near-copies flagged (nearest/2nd-nearest distance ratio below "
                 "--ratio, after Carlini et al. 2023).\n\n"
                 "Example: ganctl nearest runs/sg2/00000-ffhq --data data/ffhq --num 1000 --out nearest.png --json\n\n"
                 "Writes a PNG (each generated image, then its nearest training images) and prints the near-copy count.")
    def nearest(
        run: str = typer.Argument(..., help="A run directory or checkpoint."),
        data: str = typer.Option(..., "--data", help="The training images: prepared dataset, folder or zip."),
        num: int = typer.Option(64, "--num", help="Generated images to check (seeds 0..N-1)."),
        k: int = typer.Option(3, "--k", help="Nearest training images shown per space."),
        ratio: float = typer.Option(1 / 3, "--ratio", help="Near-copy when nearest/2nd-nearest pixel distance is below this."),
        space: str = typer.Option("auto", "--space", help="auto (both when the Inception weights are here, else pixel with a "
                                "note), both, pixel or feature (feature needs the Inception weights)."),
        out: str = typer.Option("nearest.png", "--out", help="The picture (PNG)."),
        rows: int = typer.Option(16, "--rows", help="Generated images shown in the picture."),
        train_queries: int = typer.Option(2000, "--train-queries", help="Training images whose own nearest-neighbour "
                                          "distance forms the reference distribution."),
        weights: Optional[str] = typer.Option(None, "--weights", help="Inception weights (as for `ganctl fid`)."),
        device: str = device_opt, batch_size: int = typer.Option(64, "--batch-size"),
        workers: int = typer.Option(0, "--workers", help="Decoding worker processes."),
        truncation: float = trunc_opt, class_idx: Optional[int] = class_opt,
        no_provenance: bool = typer.Option(False, "--no-provenance", help="No provenance statement in the picture."),
        as_json: bool = typer.Option(False, "--json", help="Print distributions and every image's neighbours as JSON."),
        progress: bool = progress_opt,
    ) -> None:
        from ganctl import api

        res, rank = _run(api.nearest, run=run, data=data, num=num, k=k, ratio=ratio, space=space, out=out, rows=rows,
                         weights=weights, device=device, batch_size=batch_size, workers=workers,
                         truncation_psi=truncation, class_idx=class_idx, train_queries=train_queries,
                         provenance=not no_provenance, progress=progress)
        if rank != 0:
            return
        if as_json:
            print(json.dumps(res, indent=1))
            return
        typer.echo(f"picture: {res['picture']}", err=True)
        if res.get("note"):
            typer.echo(f"note: {res['note']}", err=True)
        for sp, rep in res["spaces"].items():
            print(f"{sp}: fake->train median {rep['fake_to_train']['median']:.6g}, train->train median "
                  f"{rep['train_to_train']['median']:.6g}, flagged {rep['flagged']}/{res['n_generated']}")
        print(f"near_copies {len(res['near_copies'])}")

    @app.command("ppl", help="Perceptual path length (NVlabs' protocol: epsilon 1e-4, LPIPS-VGG16 v0.1, 1st/99th "
                 "percentile filter, float images). Style families: --space w or z; others: --space z.\n\n"
                 "Example: ganctl ppl runs/sg2/00000-ffhq --space w --sampling end --num 50000 --json\n\n"
                 "Needs torchvision's vgg16-397923af.pth (--weights, as for `ganctl pr`) and the LPIPS v0.1 linear "
                 "layers (the `lpips` package's weights/v0.1/vgg.pth, or --lpips-weights).")
    def ppl(
        run: str = typer.Argument(..., help="A run directory or checkpoint."),
        space: str = typer.Option("w", "--space", help="w (style families: lerp in W) or z (slerp in Z)."),
        sampling: str = typer.Option("end", "--sampling", help="end (t = 0) or full (t ~ U(0, 1))."),
        num: int = typer.Option(50000, "--num", help="Path samples (NVlabs: 50000)."),
        epsilon: float = typer.Option(1e-4, "--epsilon", help="Step along the path."),
        crop: bool = typer.Option(False, "--crop/--no-crop", help="Central crop (rows 3c:7c, cols 2c:6c, c = H/8), as in the StyleGAN paper's FFHQ numbers."),
        seed: int = typer.Option(0, "--seed", help="Seed of every random draw (z, t, labels, noise)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Path samples per pass."),
        class_idx: Optional[int] = class_opt,
        weights: Optional[str] = vgg_opt,
        lpips_weights: Optional[str] = typer.Option(None, "--lpips-weights", help="LPIPS v0.1 vgg.pth (default: the lpips package's)."),
        device: str = device_opt,
        max_ppl: Optional[float] = typer.Option(None, "--max", help="Exit 1 when PPL is above this (CI gate)."),
        as_json: bool = typer.Option(False, "--json", help="Print the full record."),
    ) -> None:
        from ganctl import api
        from ganctl.errors import GanctlError

        res = api.ppl(run, num=num, epsilon=epsilon, space=space, sampling=sampling, crop=crop, batch_size=batch_size,
                      seed=seed, class_idx=class_idx, weights=weights, lpips_weights=lpips_weights, device=device)
        if as_json:
            if max_ppl is not None:
                res["gate"] = {"--max": max_ppl, "passed": res["ppl"] <= max_ppl}
            print(json.dumps(res, indent=1))
        else:
            print(repr(res["ppl"]))
        if max_ppl is not None and res["ppl"] > max_ppl:
            raise GanctlError(f"ppl {res['ppl']:.6g} violates --max {max_ppl:g}")
