"""The image inputs of the image-to-image commands (upscale, translate): files and folders given on the command line,
each with the path its output PNG takes under --out."""

from __future__ import annotations

import os
from pathlib import Path

from ganctl.errors import UsageError


def image_inputs(inputs, command: str) -> list[tuple[Path, Path]]:
    """(file, output path relative to --out) for every image file given or found in a given folder (recursively,
    following symbolic links, sorted; the relative path kept, the suffix made .png). Refuses, in one line, a missing
    path, a folder without images and two inputs that would be written to the same output."""
    from ganctl.data.decode import IMAGE_EXTENSIONS

    found = []
    for spec in inputs:
        p = Path(spec)
        if p.is_dir():
            files = sorted(Path(dp) / f for dp, _, fs in os.walk(p, followlinks=True) for f in fs
                           if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and not f.startswith("."))
            if not files:
                raise UsageError(f"{spec}: no image files in this folder")
            found += [(f, f.relative_to(p).with_suffix(".png")) for f in files]
        elif p.is_file():
            found.append((p, Path(p.name).with_suffix(".png")))
        else:
            raise UsageError(f"{spec}: no such file or folder; give image files or folders to {command}")
    rels = [r for _, r in found]
    if len(set(rels)) != len(rels):
        dup = next(r for r in rels if rels.count(r) > 1)
        raise UsageError(f"two inputs would both be written as {dup.as_posix()}; {command} them in separate calls")
    return found
