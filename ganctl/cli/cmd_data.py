"""`ganctl prepare-data`: the CLI face of ganctl.data.prepare (parse flags, call, render the report on stderr)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional, Tuple

import typer

HELP = """Turn an image source into a prepared dataset: DEST/dataset.safetensors + DEST/manifest.json.

SOURCE is auto-detected: an image folder (recursive; class subfolders become labels), a .zip of one, an NVlabs
dataset (folder or zip with dataset.json), an MNIST/Fashion-MNIST idx folder, or the CIFAR-10 python tarball
(cifar-10-python.tar.gz or its cifar-10-batches-py/ folder).

Unusable inputs (zero-byte, truncated, not an image, tiny, huge, duplicates) are skipped and listed in the
manifest; --strict refuses the whole source instead (exit 2). CMYK, 16-bit, palette and alpha images are converted
(alpha is composited on white). Symbolic links to folders and files are followed (a link cycle or a broken link is
a skipped input with its reason).

Image-to-image datasets (pix2pix, CycleGAN, super-resolution) take DEST only, with one of:
--pairs A_DIR B_DIR (files matched by relative path without extension; unmatched ones counted and listed; the sides
may differ in size by a whole factor, e.g. LR_DIR HR_DIR), --aligned DIR (each file is A|B side by side, as in the
pix2pix datasets), --unpaired A_DIR B_DIR (two domains of any sizes). --direction BtoA makes B the input.
--policy keep-aspect keeps non-square sources' aspect ratio at sizes divisible by --multiple.

\b
Examples:
  ganctl prepare-data /usr/share/datasets/fashion-mnist data/fmnist
  ganctl prepare-data /usr/share/datasets/fashion-mnist data/fmnist32 --resolution 32 --policy pad
  ganctl prepare-data photos/ data/photos64 --resolution 64 --policy center-crop --channels 3
  ganctl prepare-data cifar-10-python.tar.gz data/cifar10 --split all --strict
  ganctl prepare-data --aligned facades/train data/facades --direction BtoA
  ganctl prepare-data --pairs edges/ photos/ data/edges2photos --resolution 32
  ganctl prepare-data --unpaired horse2zebra/trainA horse2zebra/trainB data/h2z --resolution 128
  ganctl prepare-data --pairs DIV2K_LR_x4/ DIV2K_HR/ data/div2k --resolution 256 --factor 4
"""


def _progress_printer():
    last = [time.monotonic()]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5.0 and total:
            last[0] = now
            print(f"  {phase}: {done}/{total}", file=sys.stderr, flush=True)

    return progress


def prepare_data(
    source: Optional[Path] = typer.Argument(None, metavar="SOURCE", help="Image folder, .zip, NVlabs dataset, MNIST idx folder or CIFAR-10 tarball "
                                            "(left out with --pairs/--aligned/--unpaired)."),
    dest: Optional[Path] = typer.Argument(None, metavar="DEST", help="Output folder (created); receives dataset.safetensors and manifest.json."),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="Output side N (NxN). Default: the source's size if all images share one square size."),
    policy: str = typer.Option("center-crop", "--policy", help="How other sizes become NxN: center-crop (scale short side, crop), pad (centre on black, shrink only if too big) or stretch."),
    channels: Optional[int] = typer.Option(None, "--channels", help="1 (greyscale) or 3 (RGB). Default: 1 if every image is greyscale, else 3."),
    max_images: Optional[int] = typer.Option(None, "--max-images", help="Stop after this many usable images (in sorted source order)."),
    name: Optional[str] = typer.Option(None, "--name", help="Dataset name recorded in the manifest (default: DEST's folder name)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Decoding processes (default: min(4, CPU count))."),
    split: Optional[str] = typer.Option(None, "--split", help="MNIST/CIFAR sources: train, test or all (default train)."),
    strict: bool = typer.Option(False, "--strict", help="Refuse (exit 2, nothing written) if any input would be skipped."),
    min_size: int = typer.Option(8, "--min-size", help="Skip images whose shorter side is below this many pixels (never less than 8)."),
    max_pixels: int = typer.Option(64 * 1024 * 1024, "--max-pixels", help="Skip images with more pixels than this (decompression-bomb guard)."),
    keep_duplicates: bool = typer.Option(False, "--keep-duplicates", help="Keep inputs whose bytes repeat an earlier input."),
    val_fraction: float = typer.Option(0.0, "--val-fraction", help="Hold out this share of the images in DEST/val/ (never trained on; "
                                       "`ganctl diagnose` compares D on it), e.g. 0.05."),
    pairs: Optional[Tuple[Path, Path]] = typer.Option(None, "--pairs", metavar="A_DIR B_DIR", help="Paired dataset: files matched by relative path."),
    aligned: Optional[Path] = typer.Option(None, "--aligned", metavar="DIR", help="Paired dataset from A|B side-by-side images (pix2pix layout)."),
    unpaired: Optional[Tuple[Path, Path]] = typer.Option(None, "--unpaired", metavar="A_DIR B_DIR", help="Unpaired dataset: two domains (CycleGAN)."),
    direction: str = typer.Option("AtoB", "--direction", help="AtoB (A is the input) or BtoA."),
    factor: Optional[int] = typer.Option(None, "--factor", help="--pairs: targets are this many times the inputs' size (super-resolution). "
                                         "Default: the sources' own whole ratio, else 1."),
    multiple: int = typer.Option(1, "--multiple", help="--policy keep-aspect: both sides become multiples of this (4 for CycleGAN's ResNet, 256 for unet_256)."),
) -> None:
    from ganctl.data.prepare import PrepareOptions, prepare_dataset
    from ganctl.errors import UsageError

    modes = [m for m, v in (("pairs", pairs), ("aligned", aligned), ("unpaired", unpaired)) if v]
    if len(modes) > 1:
        raise UsageError(f"--{modes[0]} and --{modes[1]}: choose one image-to-image layout")
    if modes:
        if dest is not None:
            raise UsageError(f"--{modes[0]}: give DEST only (the sources are the option's folders), e.g. "
                             f"`ganctl prepare-data --{modes[0]} {'DIR' if modes[0] == 'aligned' else 'A_DIR B_DIR'} DEST`")
        if source is None:
            raise UsageError(f"--{modes[0]}: missing DEST (the output folder)")
        _prepare_pairs(modes[0], pairs or unpaired or (aligned, None), source, direction, factor, multiple,
                       dict(resolution=resolution, channels=channels, policy=policy, max_images=max_images, name=name, workers=workers,
                            strict=strict, split=split, min_size=min_size, max_pixels=max_pixels, keep_duplicates=keep_duplicates,
                            val_fraction=val_fraction))
        return
    if source is None or dest is None:
        raise UsageError("missing SOURCE or DEST: `ganctl prepare-data SOURCE DEST` (or --pairs/--aligned/--unpaired ... DEST)")
    if direction != "AtoB" or factor is not None or multiple != 1:
        raise UsageError("--direction, --factor and --multiple apply to --pairs/--aligned/--unpaired only")

    opts = PrepareOptions(resolution=resolution, channels=channels, policy=policy, max_images=max_images, name=name, workers=workers,
                          strict=strict, split=split, min_size=min_size, max_pixels=max_pixels, keep_duplicates=keep_duplicates,
                          val_fraction=val_fraction)
    r = prepare_dataset(source, dest, opts, progress=_progress_printer())
    classes = f"{len(r.label_names)} classes" if r.label_names else "unlabelled"
    print(f"prepared {r.count} images ({r.resolution}x{r.resolution}, {r.channels} channel{'s' if r.channels > 1 else ''}, {classes}) "
          f"from {r.source_kind} source in {r.seconds:.1f} s -> {r.dest}", file=sys.stderr)
    if val_fraction > 0:
        from ganctl.data.dataset import VAL_DIR, open_validation

        print(f"held out {len(open_validation(r.dest))} of them in {r.dest / VAL_DIR} (never trained on)", file=sys.stderr)
    _print_skips(r)


def _prepare_pairs(mode: str, sides, dest: Path, direction: str, factor, multiple: int, common: dict) -> None:
    from ganctl.data.prepare_pairs import PairOptions, prepare_pairs

    opts = PairOptions(mode=mode, direction=direction, factor=factor, multiple=multiple, **common)
    r = prepare_pairs(sides[0], sides[1], dest, opts, progress=_progress_printer())
    shape = ", ".join(f"{k} {w}x{h}" for k, (h, w) in r.sizes.items())
    what = f"{r.counts['input']} pairs" if r.kind == "paired" else f"{r.counts['A']} A + {r.counts['B']} B images"
    print(f"prepared {what} ({shape}, {r.channels} channel{'s' if r.channels > 1 else ''}) as {'an' if r.kind == 'unpaired' else 'a'} {r.kind} dataset "
          f"in {r.seconds:.1f} s -> {r.dest}", file=sys.stderr)
    if common["val_fraction"] > 0:
        from ganctl.data.dataset import VAL_DIR, open_validation

        v = open_validation(r.dest)
        held = f"{len(v)} pairs" if r.kind == "paired" else f"{v.count('A')} A + {v.count('B')} B images"
        print(f"held out {held} in {r.dest / VAL_DIR} (never trained on)", file=sys.stderr)
    _print_skips(r)


def _print_skips(r) -> None:
    if r.skipped_counts:
        detail = ", ".join(f"{k} {v}" for k, v in r.skipped_counts.items())
        print(f"skipped {sum(r.skipped_counts.values())}: {detail} (each listed in {r.dest / 'manifest.json'})", file=sys.stderr)
        for s in r.skipped[:5]:
            print(f"  {s['path']}: {s['reason']}", file=sys.stderr)
        if len(r.skipped) > 5:
            print(f"  ... and {len(r.skipped) - 5} more", file=sys.stderr)
    if r.converted_counts:
        print("converted: " + ", ".join(f"{k} {v}" for k, v in r.converted_counts.items()), file=sys.stderr)
    for note in r.notes:
        print(f"note: {note}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.command("prepare-data", help=HELP, no_args_is_help=True)(prepare_data)
