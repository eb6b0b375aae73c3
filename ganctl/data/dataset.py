"""The prepared dataset format: one safetensors file of uint8 images and int64 labels, plus its manifest.

Layout of a prepared dataset directory DEST:
  DEST/dataset.safetensors   tensors `images` (uint8, N x C x H x W) and `labels` (int64, N; -1 when unlabelled);
                             metadata key `ganctl_dataset` = format version, `manifest` = the manifest as JSON
                             without its per-image lists, plus `manifest_sha256` of manifest.json
  DEST/manifest.json         the full manifest (per-image source + sha256, skipped inputs), pretty-printed for people
  DEST/val/                  optional held-out split (`prepare-data --val-fraction F`), itself a prepared dataset; training
                             reads DEST/dataset.safetensors only, so it never sees these images

The manifest's `kind` says what the file holds (a missing kind means "images", as written before kinds existed):
  images    `images` + `labels` (above): one labelled or unlabelled set, what latent families train on
  paired    `input` (N x C x h x w) and `target` (N x C x H x W), row i of each is one pair; H = factor * h, W = factor * w
            (factor 1 for pix2pix, the SR factor for LR/HR pairs); `labels` (N) is -1
  unpaired  `A` (NA x C x H x W) and `B` (NB x C x H x W), two domains of independent sizes; `labels` (0) is empty
Paired and unpaired sets are read by ganctl.data.pairs; `open_dataset` opens any kind. PreparedDataset refuses the
two new kinds with one line, so every latent-family command refuses them before it builds anything.

Reading memory-maps the tensor payload (numpy.memmap at the offsets the safetensors header gives), so a batch read is
one fancy-index into the page cache and datasets larger than RAM work. safetensors itself is only used for the
header format, so any safetensors tool can open the file too.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from ganctl.errors import DataError

FORMAT_VERSION = "1"
DATA_FILE = "dataset.safetensors"
MANIFEST_FILE = "manifest.json"
VAL_DIR = "val"


def resolve_dataset_path(path: str | os.PathLike) -> Path:
    """Accept either the dataset directory or the dataset file itself; return the file path."""
    p = Path(path)
    if p.is_dir():
        p = p / DATA_FILE
    if not p.is_file():
        raise DataError(f"{path}: no prepared dataset here (expected {DATA_FILE}); run `ganctl prepare-data SOURCE {path}` first")
    return p


def _read_header(path: Path) -> tuple[dict, int]:
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ValueError("file shorter than its header")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000:
                raise ValueError("header length out of range")
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable ganctl dataset ({e}); prepare it again with `ganctl prepare-data`") from None
    return header, 8 + n


KINDS = ("images", "paired", "unpaired")
_KIND_TENSORS = {"images": ("images",), "paired": ("input", "target"), "unpaired": ("A", "B")}


def read_dataset_header(path: str | os.PathLike) -> tuple[Path, dict, dict, int]:
    """(dataset file, embedded manifest, safetensors header, offset of the data) of a prepared dataset of any kind."""
    p = resolve_dataset_path(path)
    header, data_start = _read_header(p)
    meta = header.get("__metadata__", {}) or {}
    if meta.get("ganctl_dataset") != FORMAT_VERSION or "labels" not in header:
        raise DataError(f"{p}: not a ganctl dataset (format {FORMAT_VERSION}); prepare it with `ganctl prepare-data`")
    manifest = json.loads(meta.get("manifest", "{}"))
    kind = manifest.get("kind", "images")
    if kind not in KINDS or any(t not in header for t in _KIND_TENSORS[kind]):
        raise DataError(f"{p}: a ganctl dataset of unknown kind {kind!r} or missing tensors; prepare it again with `ganctl prepare-data`")
    return p, manifest, header, data_start


def dataset_kind(path: str | os.PathLike) -> str:
    """'images' | 'paired' | 'unpaired' (reads the header only)."""
    return read_dataset_header(path)[1].get("kind", "images")


_KIND_USE = {"paired": "prepare-data --pairs/--aligned", "unpaired": "prepare-data --unpaired"}


class PreparedDataset:
    """Random-access reader of a prepared dataset. Cheap to open; safe to use from DataLoader workers."""

    def __init__(self, path: str | os.PathLike):
        self.path, self.manifest, header, data_start = read_dataset_header(path)
        kind = self.manifest.get("kind", "images")
        if kind != "images":
            # Latent families (and every command built on one image set) cannot use pairs or two domains.
            raise DataError(f"{self.path}: a {kind} dataset (made by `ganctl {_KIND_USE[kind]}`); this needs one image set: "
                            "use an image-to-image family (e.g. pix2pix, cyclegan) or prepare a plain image folder")
        size = self.path.stat().st_size
        img, lab = header["images"], header["labels"]
        if img["dtype"] != "U8" or lab["dtype"] != "I64" or len(img["shape"]) != 4:
            raise DataError(f"{self.path}: unexpected tensor layout; prepare the dataset again")
        if max(img["data_offsets"][1], lab["data_offsets"][1]) + data_start > size:
            raise DataError(f"{self.path}: file is truncated ({size} bytes); prepare the dataset again")
        self.shape = tuple(img["shape"])
        self._img_offset = data_start + img["data_offsets"][0]
        self._lab_offset = data_start + lab["data_offsets"][0]
        self._images = None
        self._labels = None

    # memmaps are opened lazily so a pickled reader (DataLoader workers) reopens them in the child.
    def __getstate__(self):
        d = self.__dict__.copy()
        d["_images"] = None
        d["_labels"] = None
        return d

    @property
    def images(self) -> np.memmap:
        if self._images is None:
            self._images = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self._img_offset, shape=self.shape)
        return self._images

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = np.array(np.memmap(self.path, dtype=np.int64, mode="r", offset=self._lab_offset, shape=(self.shape[0],)))
        return self._labels

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def channels(self) -> int:
        return self.shape[1]

    @property
    def resolution(self) -> int:
        return self.shape[2]

    @property
    def label_names(self) -> list[str]:
        return list(self.manifest.get("label_names", []))

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.parent.name

    def full_manifest(self) -> dict:
        """The complete manifest (per-image sources and hashes, skipped inputs) from manifest.json next to the file."""
        p = self.path.parent / MANIFEST_FILE
        if not p.is_file():
            return dict(self.manifest)
        return json.loads(p.read_text())

    def get_batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images (B, C, H, W) and int64 labels (B,) for the given indices (any order)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        # One gather of whole rows from a 2-D (N, C*H*W) view: several times faster than fancy-indexing the 4-D
        # memmap, or sorting the indices and scattering back (measured in tests/benchmarks/bench_data_read.py).
        rows = self.images.reshape(self.shape[0], -1)
        imgs = np.asarray(rows[idx])
        return imgs.reshape((len(idx),) + self.shape[1:]), self.labels[idx]


def open_validation(path: str | os.PathLike):
    """The held-out split stored beside a prepared dataset (DEST/val/), or None when it was prepared without one.

    Opened with `open_dataset`, so a paired/unpaired dataset's split is of its own kind."""
    try:
        val = resolve_dataset_path(path).parent / VAL_DIR
    except DataError:
        return None
    return open_dataset(val) if (val / DATA_FILE).is_file() else None


def open_dataset(path: str | os.PathLike):
    """Open a prepared dataset of any kind: PreparedDataset (images), PairedDataset or UnpairedDataset."""
    kind = dataset_kind(path)
    if kind == "images":
        return PreparedDataset(path)
    from ganctl.data.pairs import PairedDataset, UnpairedDataset

    return PairedDataset(path) if kind == "paired" else UnpairedDataset(path)


_EMBED_DROP = ("images", "skipped")  # per-input lists: manifest.json only (see write_dataset)
_WRITE_CHUNK = 64 << 20


def write_dataset(dest: str | os.PathLike, images: np.ndarray, labels: np.ndarray, manifest: dict) -> Path:
    """Write a prepared dataset atomically. `images` is uint8 (N, C, H, W); `labels` int64 (N,), -1 = no label.

    The file is written next to its final name and renamed into place, so an interrupted prepare never leaves a
    dataset that looks complete. The safetensors file is streamed in 64 MiB slices, so `images` may be a memmap
    larger than RAM. The copy of the manifest embedded in the file leaves out the per-image and skipped lists
    (they would make every open parse megabytes of JSON) and records `manifest_sha256`, the hash of manifest.json.
    """
    if images.ndim != 4 or np.shape(labels) != (images.shape[0],):
        raise ValueError(f"bad dataset arrays: images {images.shape}, labels {np.shape(labels)}")
    manifest = dict(manifest)
    manifest.update(count=int(images.shape[0]), channels=int(images.shape[1]), resolution=int(images.shape[2]))
    return write_tensors(dest, {"images": images}, labels, manifest)


def write_tensors(dest: str | os.PathLike, tensors: dict[str, np.ndarray], labels: np.ndarray, manifest: dict) -> Path:
    """Write named uint8 (N, C, H, W) tensors + int64 labels as a prepared dataset (atomic, streamed; see write_dataset).

    The layout every kind shares; the manifest's `kind` says which tensor names to expect (module docstring)."""
    import hashlib

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, a in tensors.items():
        if a.dtype != np.uint8 or not a.flags.c_contiguous:
            a = np.ascontiguousarray(a, dtype=np.uint8)
        if a.ndim != 4:
            raise ValueError(f"bad dataset array {name}: shape {a.shape}")
        arrays[name] = a
    labels = np.ascontiguousarray(labels, dtype=np.int64).reshape(-1)
    manifest = dict(manifest, format=FORMAT_VERSION)
    manifest_text = json.dumps(manifest, indent=1) + "\n"
    embedded = {k: v for k, v in manifest.items() if k not in _EMBED_DROP}
    embedded["manifest_sha256"] = hashlib.sha256(manifest_text.encode()).hexdigest()

    # safetensors layout: u64 header length, JSON header (space-padded to 8 bytes), then the tensors' bytes.
    # Labels go first so the int64 data stays 8-byte aligned, as safetensors' own writer orders by alignment.
    header = {
        "__metadata__": {"ganctl_dataset": FORMAT_VERSION, "manifest": json.dumps(embedded)},
        "labels": {"dtype": "I64", "shape": list(labels.shape), "data_offsets": [0, labels.nbytes]},
    }
    end = labels.nbytes
    for name, a in arrays.items():
        header[name] = {"dtype": "U8", "shape": list(a.shape), "data_offsets": [end, end + a.nbytes]}
        end += a.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = dest / (DATA_FILE + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.write(labels.astype("<i8", copy=False).tobytes())
        for a in arrays.values():
            flat = a.reshape(-1)
            for start in range(0, flat.size, _WRITE_CHUNK):
                f.write(memoryview(np.ascontiguousarray(flat[start : start + _WRITE_CHUNK])))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dest / DATA_FILE)
    mtmp = dest / (MANIFEST_FILE + ".tmp")
    mtmp.write_text(manifest_text)
    os.replace(mtmp, dest / MANIFEST_FILE)
    return dest / DATA_FILE
