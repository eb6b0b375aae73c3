"""Readers for the sources that ship pixels as arrays: MNIST/Fashion-MNIST idx(.gz) files and CIFAR-10 python batches.

CIFAR-10's batches are Python pickles. `pickle.load` runs whatever callables a pickle names (GLOBAL + REDUCE), so a
tampered tarball would run code on the user's machine the moment it is "prepared". We therefore unpickle with
`_CifarUnpickler`, whose `find_class` allows exactly the three numpy names an ndarray pickle needs (plus
`_codecs.encode`, which Python 3 pickles use to spell bytes); each is wrapped so it can only build a plain numeric
array. Every other global is refused with a DataError. dicts, lists, tuples, ints, bytes and strings need no global.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganctl.errors import DataError


@dataclass
class ArraySource:
    kind: str  # "mnist-idx" | "fashion-mnist-idx" | "cifar10"
    root: Path
    pixels: np.ndarray  # uint8 (N, H, W) or (N, H, W, 3)
    labels: np.ndarray  # int64 (N,)
    ids: list[str]  # per-image id, e.g. "train-images-idx3-ubyte.gz[17]"
    label_names: list[str]
    notes: list[str] = field(default_factory=list)


FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(i) for i in range(10)]
# First ten labels of the official Fashion-MNIST files: identifies Fashion-MNIST when the folder name does not say so.
_FASHION_HEAD = {"train": bytes([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]), "t10k": bytes([9, 2, 1, 1, 6, 1, 4, 6, 5, 7])}
_SPLITS = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}


def _pixel_ids(prefix: str, pixels: np.ndarray) -> list[str]:
    return [f"{prefix}[{i}]" for i in range(len(pixels))]


def pixel_sha256(pixels: np.ndarray) -> list[str]:
    """Per-image sha256 of the raw pixel bytes (the hash recorded for array sources)."""
    flat = np.ascontiguousarray(pixels).reshape(len(pixels), -1)
    return [hashlib.sha256(row.data).hexdigest() for row in flat]


# ---- MNIST / Fashion-MNIST idx ---------------------------------------------------------------------------------


def _find_idx(folder: Path, split: str, what: str) -> Path | None:
    rank = "3" if what == "images" else "1"
    for sep in ("-", "."):
        for ext in (".gz", ""):
            p = folder / f"{split}-{what}{sep}idx{rank}-ubyte{ext}"
            if p.is_file():
                return p
    return None


def _read_idx_file(path: Path) -> np.ndarray:
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read idx file ({e}); the download may be incomplete") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    if len(raw) != start + int(np.prod(dims)):
        raise DataError(f"{path}: holds {len(raw) - start} data bytes, header says {int(np.prod(dims))}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


def read_idx(folder: Path, split: str):
    if split not in _SPLITS:
        raise DataError(f"--split {split}: choose train, test or all")
    pixels, labels, ids, fashion = [], [], [], "fashion" in str(folder.resolve()).lower()
    for s in _SPLITS[split]:
        ip, lp = _find_idx(folder, s, "images"), _find_idx(folder, s, "labels")
        if ip is None or lp is None:
            raise DataError(f"{folder}: --split {split} needs {s}-images-idx3-ubyte(.gz) and {s}-labels-idx1-ubyte(.gz); one is missing")
        img, lab = _read_idx_file(ip), _read_idx_file(lp)
        if img.ndim != 3 or lab.ndim != 1 or len(img) != len(lab):
            raise DataError(f"{ip}: {img.shape} images do not match {lp.name} {lab.shape}")
        fashion = fashion or lab[:10].tobytes() == _FASHION_HEAD[s]
        pixels.append(img)
        labels.append(lab.astype(np.int64))
        ids += _pixel_ids(ip.name, img)
    kind = "fashion-mnist-idx" if fashion else "mnist-idx"
    names = FASHION_MNIST_CLASSES if fashion else MNIST_CLASSES
    return ArraySource(kind, folder, np.concatenate(pixels), np.concatenate(labels), ids, list(names))


# ---- CIFAR-10 python batches -----------------------------------------------------------------------------------

_CIFAR_DIR = "cifar-10-batches-py"


def _safe_dtype(code, align=False, copy=True):
    dt = np.dtype(code)
    if dt.hasobject:
        raise pickle.UnpicklingError("object arrays are not allowed")
    return dt


def _safe_reconstruct(cls, shape, dtype_code):
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy arrays are allowed")
    return np.ndarray.__new__(np.ndarray, shape, _safe_dtype(dtype_code))


def _safe_encode(text, encoding="utf-8"):
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError("unexpected codec call")
    return text.encode("latin1")


class _CifarUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,  # pickles from numpy 1.x (the official files)
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,  # pickles from numpy 2.x
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _safe_encode,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # any failure of an untrusted pickle is a data problem, not a bug of ours
        raise DataError(f"{where}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: not a CIFAR-10 python batch (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def find_cifar(folder: Path) -> Path | None:
    """The CIFAR-10 location inside `folder`: itself, its cifar-10-batches-py/, or cifar-10-python.tar.gz."""
    for cand in (folder, folder / _CIFAR_DIR):
        if (cand / "batches.meta").is_file() and ((cand / "data_batch_1").is_file() or (cand / "test_batch").is_file()):
            return cand
    tar = folder / "cifar-10-python.tar.gz"
    return tar if tar.is_file() else None


def _cifar_files(path: Path) -> dict[str, bytes]:
    """basename -> bytes of batches.meta / data_batch_N / test_batch, from a folder or read from the tarball in place."""
    wanted = re.compile(r"^(batches\.meta|data_batch_[1-5]|test_batch)$")
    if path.is_dir():
        return {p.name: p.read_bytes() for p in path.iterdir() if wanted.match(p.name) and p.is_file()}
    out = {}
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in tf:  # read members in place: nothing is extracted, so no path in the tarball is trusted
                base = m.name.rsplit("/", 1)[-1]
                if m.isfile() and wanted.match(base):
                    out[base] = tf.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read the tarball ({e}); the download may be incomplete") from None
    return out


def read_cifar(path: Path, split: str):
    if split not in _SPLITS:
        raise DataError(f"--split {split}: choose train, test or all")
    loc = find_cifar(path) if path.is_dir() else path
    files = _cifar_files(loc)
    if "batches.meta" not in files:
        raise DataError(f"{path}: no CIFAR-10 batches.meta found; expected cifar-10-python.tar.gz or its cifar-10-batches-py/ folder")
    names = _unpickle(files["batches.meta"], f"{path}:batches.meta").get("label_names")
    if not isinstance(names, list):
        raise DataError(f"{path}:batches.meta has no label_names list")
    label_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    batches = {"train": sorted(n for n in files if n.startswith("data_batch_")), "test": ["test_batch"] if "test_batch" in files else []}
    want = batches["train"] + batches["test"] if split == "all" else batches[split]
    if not want:
        raise DataError(f"{path}: no {split} batches found (data_batch_1..5 / test_batch)")
    pixels, labels, ids = [], [], []
    for name in want:
        d = _unpickle(files[name], f"{path}:{name}")
        data, lab = d.get("data"), d.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or lab is None or len(lab) != len(data):
            raise DataError(f"{path}:{name}: expected data uint8 (N, 3072) and N labels")
        pixels.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(lab, dtype=np.int64))
        ids += _pixel_ids(name, data)
    lab = np.concatenate(labels)
    if lab.min() < 0 or lab.max() >= len(label_names):
        raise DataError(f"{path}: labels outside 0..{len(label_names) - 1}")
    return ArraySource("cifar10", path, np.ascontiguousarray(np.concatenate(pixels)), lab, ids, label_names)
