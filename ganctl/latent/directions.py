"""Edit directions in a style generator's W space: the file format (`dirs.npz`) and applying one to ws.

One file holds K directions found for one network, by one method (SeFa, GANSpace, a labelled boundary):

  vectors   float32 (K, w_dim)    unit-length directions in W
  scales    float32 (K,)          what strength 1.0 moves along each: SeFa 1.0 (its edits are in units of |n|),
                                  GANSpace the standard deviation of w's projections on the component, a boundary 1.0
  layers    bool (K, num_ws)      the ws a direction edits by default (e.g. SeFa's --layers, GANSpace's [start, end))
  names     str (K,)              e.g. "sefa_0", "pc3", "smile"
  method    str ()                "sefa" | "ganspace" | "boundary"
  meta      str ()                JSON: the network's sha256 and file name, num_ws, w_dim, the method's arguments and
                                  its by-products (SeFa eigenvalues, GANSpace variance ratios, a boundary's accuracy)

An edit of ws (N, num_ws, w_dim) by direction k with strength s adds s * scales[k] * vectors[k] to the layers the
direction (or the caller) selects: `apply_direction`. The file is plain numpy (`np.load(..., allow_pickle=False)` reads
it), so other tools can use it without ganctl.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError

METHODS = ("sefa", "ganspace", "boundary")


@dataclass
class Directions:
    vectors: np.ndarray            # (K, w_dim) float32
    scales: np.ndarray             # (K,) float32
    layers: np.ndarray             # (K, num_ws) bool
    names: list[str]
    method: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        self.scales = np.asarray(self.scales, dtype=np.float32).reshape(-1)
        self.layers = np.asarray(self.layers, dtype=bool)
        self.names = [str(n) for n in self.names]
        k = self.vectors.shape[0]
        if self.vectors.ndim != 2 or self.scales.shape != (k,) or self.layers.ndim != 2 or self.layers.shape[0] != k \
                or len(self.names) != k:
            raise ValueError(f"inconsistent directions: vectors {self.vectors.shape}, scales {self.scales.shape}, "
                             f"layers {self.layers.shape}, {len(self.names)} names")
        if self.method not in METHODS:
            raise ValueError(f"direction method {self.method!r} not in {METHODS}")

    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def w_dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def num_ws(self) -> int:
        return self.layers.shape[1]

    def index(self, key: int | str) -> int:
        """A direction by position or by name (`dirs.npz:3`, `dirs.npz:smile`), or a UsageError listing the names."""
        if isinstance(key, str) and key.lstrip("-").isdigit():
            key = int(key)
        if isinstance(key, int):
            if not 0 <= key < len(self):
                raise UsageError(f"direction {key} out of range: the file has {len(self)} (0-{len(self) - 1})")
            return key
        if key not in self.names:
            raise UsageError(f"no direction named {key!r}; the file has: {', '.join(self.names[:20])}")
        return self.names.index(key)


def save_directions(d: Directions, path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez(tmp, vectors=d.vectors, scales=d.scales, layers=d.layers, names=np.array(d.names, dtype=str),
                 method=np.array(d.method), meta=np.array(json.dumps(d.meta, sort_keys=True)))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_directions(path: str | os.PathLike) -> Directions:
    """Read a dirs.npz, or a UsageError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such directions file; make one with `ganctl directions NET --out {path.name}`")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("vectors", "scales", "layers", "names", "method") if k not in f.files]
            if missing:
                raise UsageError(f"{path}: not a ganctl directions file (missing {', '.join(missing)})")
            meta = json.loads(str(f["meta"])) if "meta" in f.files else {}
            return Directions(f["vectors"], f["scales"], f["layers"], list(f["names"]), str(f["method"]), meta)
    except UsageError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"{path}: not a readable directions file ({e})") from None


def apply_direction(ws, d: Directions, k: int, strength: float, layers=None):
    """ws (N, num_ws, w_dim) torch tensor + strength * scales[k] * vectors[k] on the selected layers.

    `layers`: None uses the direction's own layer mask; otherwise an iterable of ws indices. Returns a new tensor.
    """
    import torch

    if ws.ndim != 3 or ws.shape[2] != d.w_dim:
        raise UsageError(f"directions are for w_dim {d.w_dim}, the network has ws of shape {tuple(ws.shape)}")
    num_ws = ws.shape[1]
    if layers is None:
        if d.num_ws != num_ws:
            raise UsageError(f"directions were made for {d.num_ws} ws, the network has {num_ws}; pass --layers")
        mask = torch.from_numpy(d.layers[k].copy())
    else:
        mask = torch.zeros(num_ws, dtype=torch.bool)
        for i in layers:
            if not 0 <= int(i) < num_ws:
                raise UsageError(f"layer {i} out of range: the network has ws 0-{num_ws - 1}")
            mask[int(i)] = True
    step = torch.from_numpy(d.vectors[k] * d.scales[k]).to(ws.device, ws.dtype)
    return ws + float(strength) * mask.to(ws.device, ws.dtype)[None, :, None] * step[None, None, :]
