"""Finding out what kind of image source a path is, and listing its inputs.

Owns source auto-detection for `ganctl prepare-data` and the two shapes a source comes in:
- FileSource: encoded image files in a folder or a zip (plain, class subfolders, or NVlabs-style with dataset.json).
  Only names and labels are listed here; the bytes are read later, in the worker processes (`read_member`).
- ArraySource (defined in `ganctl.data.arrays`, which reads them): pixel arrays already decoded from MNIST-style idx
  files or the CIFAR-10 python batches.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ganctl.data import arrays
from ganctl.data.arrays import ArraySource
from ganctl.data.decode import IMAGE_EXTENSIONS
from ganctl.errors import DataError

NVLABS_JSON = "dataset.json"
_IGNORED_DIRS = {"__MACOSX"}
_IDX_IMAGES = re.compile(r"^(train|t10k)-images[-.]idx3-ubyte(\.gz)?$")


@dataclass
class FileSource:
    kind: str  # "folder" | "zip" | "nvlabs-folder" | "nvlabs-zip"
    root: Path  # the folder, or the zip file
    prefix: str  # path inside the zip that the relative paths start from ("" for folders)
    items: list[tuple[str, int]]  # (relative posix path, label or -1), sorted by path
    label_names: list[str]
    skipped: list[dict] = field(default_factory=list)  # inputs refused while listing (no decode needed)
    notes: list[str] = field(default_factory=list)


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_DIRS or name == "Thumbs.db"


def _is_image_name(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _labels_from_folders(paths: list[str]) -> tuple[list[int], list[str], list[str]]:
    """Class subfolders -> labels. All images inside top-level folders: labelled; any at the top: unlabelled."""
    notes = []
    if not paths or any("/" not in p for p in paths):
        if paths and any("/" in p for p in paths):
            notes.append("some images sit at the top level next to subfolders: dataset is unlabelled")
        return [-1] * len(paths), [], notes
    names = sorted({p.split("/", 1)[0] for p in paths})
    index = {n: i for i, n in enumerate(names)}
    return [index[p.split("/", 1)[0]] for p in paths], names, notes


def _split_listing(names: list[str]) -> tuple[list[str], list[dict]]:
    images, skipped = [], []
    for n in sorted(names):
        if _is_image_name(n):
            images.append(n)
        elif posixpath.basename(n) != NVLABS_JSON:
            skipped.append({"path": n, "kind": "unsupported-extension", "reason": f"extension {posixpath.splitext(n)[1] or '(none)'!r} is not an image type"})
    return images, skipped


def _nvlabs_items(raw: bytes, where: str, images: list[str], skipped: list[dict]) -> tuple[list[tuple[str, int]], list[str]]:
    """NVlabs dataset.json: {"labels": [[relpath, int], ...]} or {"labels": null}."""
    try:
        meta = json.loads(raw)
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if labels is not None:
            table = {str(p).replace("\\", "/"): int(c) for p, c in labels}
    except (ValueError, TypeError) as e:
        raise DataError(f"{where}: not a valid NVlabs dataset.json ({e}); expected {{\"labels\": [[path, class], ...]}}") from None
    if labels is None:
        return [(p, -1) for p in images], []
    present = set(images)
    items = []
    for p in images:
        if p in table:
            items.append((p, table[p]))
        else:
            skipped.append({"path": p, "kind": "missing-label", "reason": f"not listed in {NVLABS_JSON}"})
    for p in sorted(set(table) - present):
        skipped.append({"path": p, "kind": "missing-file", "reason": f"listed in {NVLABS_JSON} but not in the source"})
    n = max(table.values(), default=-1) + 1
    return items, [str(i) for i in range(n)]


def _walk_files(root: Path) -> tuple[list[str], list[dict]]:
    """Relative paths of the (non-hidden) files under root, following symbolic links to folders and files, as
    torchvision's ImageFolder does (a subset built from links is common). A folder whose real path was already
    listed (a link cycle, or a second link to one folder) is skipped once, with its reason; so is a broken link."""
    names, skipped = [], []
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel = Path(dirpath).relative_to(root).as_posix()
        keep = []
        # Real folders claim their path first, so a link to a sibling is the one skipped, not the folder itself.
        for d in sorted(dirnames, key=lambda d: os.path.islink(os.path.join(dirpath, d))):
            if _is_hidden(d):
                continue
            real = os.path.realpath(os.path.join(dirpath, d))
            if real in seen:
                skipped.append({"path": d if rel == "." else f"{rel}/{d}", "kind": "link-cycle",
                                "reason": f"symbolic link to {real}, which is already listed (a link cycle or a second link)"})
                continue
            seen.add(real)
            keep.append(d)
        dirnames[:] = sorted(keep)
        for f in filenames:
            if _is_hidden(f):
                continue
            name = f if rel == "." else f"{rel}/{f}"
            full = os.path.join(dirpath, f)
            if os.path.islink(full) and not os.path.exists(full):
                skipped.append({"path": name, "kind": "broken-link", "reason": f"symbolic link to {os.readlink(full)}, which does not exist"})
                continue
            names.append(name)
    return names, skipped


def _folder_source(root: Path) -> FileSource:
    names, link_skips = _walk_files(root)
    images, skipped = _split_listing(names)
    skipped = sorted(skipped + link_skips, key=lambda s: s["path"])
    if (root / NVLABS_JSON).is_file():
        items, label_names = _nvlabs_items((root / NVLABS_JSON).read_bytes(), str(root / NVLABS_JSON), images, skipped)
        return FileSource("nvlabs-folder", root, "", items, label_names, skipped)
    labels, label_names, notes = _labels_from_folders(images)
    return FileSource("folder", root, "", list(zip(images, labels)), label_names, skipped, notes)


def _zip_source(path: Path) -> FileSource:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
            names = [n for n in names if not any(_is_hidden(part) for part in n.split("/"))]
            # A zip made by compressing a folder wraps everything in that folder: look inside it.
            prefix = ""
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) == 1 and all("/" in n for n in names):
                prefix = tops.pop() + "/"
            rel = [n[len(prefix):] for n in names]
            images, skipped = _split_listing(rel)
            if NVLABS_JSON in rel:
                items, label_names = _nvlabs_items(zf.read(prefix + NVLABS_JSON), f"{path}:{NVLABS_JSON}", images, skipped)
                return FileSource("nvlabs-zip", path, prefix, items, label_names, skipped)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: cannot read the zip file ({e})") from None
    labels, label_names, notes = _labels_from_folders(images)
    return FileSource("zip", path, prefix, list(zip(images, labels)), label_names, skipped, notes)


def detect(source: str | os.PathLike, split: str | None) -> FileSource | ArraySource:
    """Auto-detect the source kind and list it. Raises DataError (exit 2) with one line when it cannot."""
    path = Path(source)
    if not path.exists():
        raise DataError(f"{source}: no such file or directory; give an image folder, a .zip, an MNIST idx folder or the CIFAR-10 tarball")
    array_kind = None
    if path.is_dir():
        if not (path / NVLABS_JSON).is_file():
            if any(_IDX_IMAGES.match(p.name) for p in path.iterdir()):
                array_kind = "idx"
            elif arrays.find_cifar(path) is not None:
                array_kind = "cifar"
    elif zipfile.is_zipfile(path):
        pass
    elif tarfile.is_tarfile(path):
        array_kind = "cifar"
    else:
        raise DataError(f"{source}: not a folder, .zip, idx folder or CIFAR-10 tarball; point SOURCE at one of those")
    if array_kind is None and split is not None:
        raise DataError(f"--split applies to MNIST idx and CIFAR-10 sources only; {source} is an image folder or zip")
    if array_kind == "idx":
        return arrays.read_idx(path, split or "train")
    if array_kind == "cifar":
        return arrays.read_cifar(path, split or "train")
    src = _folder_source(path) if path.is_dir() else _zip_source(path)
    if not src.items and not src.skipped:
        raise DataError(f"{source}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}, any letter case)")
    return src


# ---- worker side: reading the bytes of one listed input --------------------------------------------------------

_open_zips: dict[str, zipfile.ZipFile] = {}


class TooLarge(ValueError):
    """An input file bigger than any sane image under the pixel cap."""


def read_member(kind: str, root: str, prefix: str, rel: str, max_bytes: int) -> bytes:
    """Bytes of one listed input. Zip handles are cached per process (workers read many members of one zip).

    Raises TooLarge before reading anything larger than max_bytes (uncompressed), so a zip bomb or a stray
    multi-GB file cannot exhaust a worker's memory.
    """
    if kind.endswith("zip"):
        zf = _open_zips.get(root)
        if zf is None:
            zf = _open_zips[root] = zipfile.ZipFile(root)
        size = zf.getinfo(prefix + rel).file_size
        if size > max_bytes:
            raise TooLarge(f"{size} bytes uncompressed > {max_bytes}")
        return zf.read(prefix + rel)
    path = Path(root) / rel
    if path.stat().st_size > max_bytes:
        raise TooLarge(f"{path.stat().st_size} bytes > {max_bytes}")
    return path.read_bytes()
