"""A restricted unpickler for NVlabs network pickles (StyleGAN2, StyleGAN2-ADA, StyleGAN3): data in, never code.

NVlabs' own loader rebuilds each network by executing the Python source embedded in the file (`module_src`), so opening
a downloaded model runs whatever its author put there. This reader admits only the globals such a file contains (see
FACTS.md) and replaces each with a data-only stand-in:

- `torch_utils.persistence._reconstruct_persistent_obj(meta)` -> a `PersistentRecord` (class name, state dict); the
  embedded source is kept as text for `info`/detection and is never compiled, imported or executed;
- `collections.OrderedDict`, `dnnlib.util.EasyDict` (a plain dict), `builtins.set`/`frozenset` (protocol 3 pickles, the
  Python 3.7 files NVlabs published, spell sets as a call);
- `torch._utils._rebuild_parameter` / `_rebuild_tensor_v2` -> plain tensors, after checking every argument's type;
- `torch.storage._load_from_bytes(b)` -> the storage, read with `torch.load(weights_only=True)` (it is a nested
  torch.save stream, itself a pickle);
- `numpy.dtype` and `numpy.core.multiarray.scalar` (`numpy._core` in numpy 2) for numeric dtypes only, and
  numeric `numpy.ndarray`s (`_reconstruct` + state) as inert `InertArray` data. StyleGAN3 files need exactly these
  additions and nothing more: their layers keep sizes as small int arrays (`size`, `in_size`, `out_size`) and
  sampling rates, cutoffs and flags as numpy float64 / bool scalars (checked by pickling NVlabs' own StyleGAN3
  networks, tests/interop/record_nvlabs_sg3_reference.py).

Any other global is refused with a UsageError naming it, before anything is called.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganctl.errors import UsageError


@dataclass
class PersistentRecord:
    """What NVlabs' `persistent_class` pickles for one object: its class name and `__dict__`, as inert data."""

    class_name: str
    state: dict
    module_src: str = field(repr=False, default="")
    version: int = 0

    def __setstate__(self, state):  # a crafted BUILD opcode on a record: refuse rather than overwrite fields
        raise pickle.UnpicklingError("BUILD on a persistent record")


class RefusedGlobal(Exception):
    """A global outside the admitted set; carries its dotted name."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str) \
            or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("malformed persistent-object record")
    src = meta.get("module_src")
    return PersistentRecord(meta["class_name"], meta["state"], src if isinstance(src, str) else "",
                            int(meta.get("version") or 0))


def _check_hooks(hooks):
    if hooks:  # backward hooks would be callables; NVlabs' tensors never carry any
        raise pickle.UnpicklingError("tensor with backward hooks")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError("tensor without a storage")
    if not isinstance(storage_offset, int) or not all(isinstance(v, int) for v in (*size, *stride)):
        raise pickle.UnpicklingError("tensor with non-integer geometry")
    _check_hooks(backward_hooks)
    t = torch.empty((0,), dtype=storage.dtype)
    t.set_(storage._untyped_storage, storage_offset, tuple(size), tuple(stride))  # set_ checks the bounds
    return t


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter without tensor data")
    _check_hooks(backward_hooks)
    return data


def _load_from_bytes(b):
    if not isinstance(b, (bytes, bytearray)):
        raise pickle.UnpicklingError("storage record without bytes")
    storage = torch.load(io.BytesIO(b), weights_only=True, map_location="cpu")
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError("storage record holds something else")
    return storage


def _numpy_dtype(spec, align=False, copy=False):
    dt = np.dtype(spec) if isinstance(spec, str) else None
    if dt is None or dt.hasobject:
        raise pickle.UnpicklingError(f"numpy dtype {spec!r} is not a plain numeric type")
    return np.dtype(spec, bool(align), bool(copy))


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("numpy scalar that is not plain numeric data")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


class InertArray:
    """A numpy array as data (StyleGAN3's layers keep a few small ones as attributes): only numeric bytes are read."""

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("malformed numpy array")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(raw, (bytes, bytearray)) \
                or not all(isinstance(n, int) for n in shape):
            raise pickle.UnpicklingError("numpy array that is not plain numeric data")
        self.array = np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order="F" if fortran else "C")


_NDARRAY = object()  # what `numpy.ndarray` resolves to: only ever an argument of _reconstruct below


def _numpy_reconstruct(cls, shape=(0,), typecode=b"b"):
    if cls is not _NDARRAY:
        raise pickle.UnpicklingError("numpy _reconstruct of something other than ndarray")
    return InertArray()


def _container(kind):
    def build(items=()):
        if not isinstance(items, (list, tuple)):
            raise pickle.UnpicklingError(f"{kind.__name__} from something other than a list")
        return kind(items)
    return build


ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): dict,  # NEWOBJ -> dict.__new__(dict): a plain dict, attribute access never needed
    ("builtins", "set"): _container(set),
    ("builtins", "frozenset"): _container(frozenset),
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        fn = ALLOWED.get((module, name))
        if fn is None:
            raise RefusedGlobal(module, name)
        return fn

    def persistent_load(self, pid):  # plain pickle.dump files have no persistent ids
        raise pickle.UnpicklingError("persistent id in a plain pickle")


def is_pickle_header(head: bytes) -> bool:
    """Protocol 2+ pickles start with PROTO n; NVlabs' files are protocol 3 or 4."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def load(data: bytes, path: str | Path):
    """Unpickle `data` (the bytes of `path`) with only the admitted globals; one-line UsageErrors otherwise.

    A refused global is reported by name; the TF-era dnnlib.tflib globals get their own sentence.
    """
    if not is_pickle_header(data[:2]):
        raise UsageError(f"{path}: not a pickle (unrecognised header {data[:4]!r}); expected an NVlabs StyleGAN2/3 "
                         "network pickle (.pkl) or a rosinality stylegan2-pytorch checkpoint (.pt)")
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except RefusedGlobal as g:
        if g.module.startswith("dnnlib.tflib"):
            raise UsageError(f"{path}: a TensorFlow-era StyleGAN/StyleGAN2 pickle (dnnlib.tflib); ganctl reads the "
                             "PyTorch pickles of stylegan2-ada-pytorch / stylegan3: convert it with their legacy.py "
                             "first") from None
        raise UsageError(f"{path}: not an NVlabs network pickle: it references the global {g}, which ganctl never "
                         "imports or calls (only network records, tensors and plain containers are read)") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, RuntimeError, IndexError, KeyError,
            AttributeError, MemoryError, OverflowError) as e:
        if isinstance(e, EOFError) or "truncated" in str(e):
            raise UsageError(f"{path}: truncated pickle (the file ends mid-stream after {len(data)} bytes); "
                             "download or copy it again") from None
        raise UsageError(f"{path}: unreadable pickle ({type(e).__name__}: {str(e)[:120]})") from None
