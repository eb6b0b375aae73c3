"""Test helper: write files in NVlabs' network-pickle format without NVlabs' code.

An NVlabs pickle is `pickle.dump({'G': G, 'D': D, 'G_ema': G_ema, ...})` where every network object reduces to
`torch_utils.persistence._reconstruct_persistent_obj(dict(type='class', version=6, module_src=..., class_name=...,
state=obj.__dict__))`. Here the object trees come either from the recorded fixture (NVlabs' own trees, see
record_nvlabs_reference.py) or from a ganctl StyleGAN2 (for shapes the fixture does not have), and the stand-in
modules `torch_utils.persistence` / `dnnlib.util` exist only while pickling, so the globals in the stream are exactly
the ones NVlabs' files hold. `module_src` is whatever the test passes: ganctl never runs it.
"""

from __future__ import annotations

import collections
import contextlib
import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLACEHOLDER_SRC = "# module source omitted: ganctl never executes it\n"
_HOOK_DICTS = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks", "_forward_hooks_with_kwargs",
               "_forward_hooks_always_called", "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")


def _reconstruct_persistent_obj(meta):  # never called: only its name is pickled
    raise AssertionError("stand-in")


class EasyDict(dict):
    pass


class _Record:
    def __init__(self, class_name: str, state: dict, module_src: str):
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


@contextlib.contextmanager
def _stand_in_modules():
    mods = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": types.ModuleType("torch_utils.persistence"),
            "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": types.ModuleType("dnnlib.util")}
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    mods["dnnlib.util"].EasyDict = EasyDict
    old = {k: sys.modules.get(k) for k in mods}
    saved = (_reconstruct_persistent_obj.__module__, EasyDict.__module__)
    _reconstruct_persistent_obj.__module__, EasyDict.__module__ = "torch_utils.persistence", "dnnlib.util"
    sys.modules.update(mods)
    try:
        yield
    finally:
        _reconstruct_persistent_obj.__module__, EasyDict.__module__ = saved
        for k, v in old.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _value(v, easy: bool):
    if isinstance(v, dict) and "__ndarray__" in v:  # StyleGAN3 layers keep sizes as numpy arrays
        return np.asarray(v["value"], dtype=np.dtype(v["__ndarray__"]))
    if isinstance(v, dict) and "__numpy__" in v:
        return np.dtype(v["__numpy__"]).type(v["value"])
    if isinstance(v, dict):
        d = {k: _value(x, True) for k, x in v.items()}
        return EasyDict(d) if easy else d
    if isinstance(v, list):
        return [_value(x, easy) for x in v]
    return v


def record(tree: dict, tensors: dict, prefix: str = "", module_src: str = PLACEHOLDER_SRC) -> _Record:
    """The persistent record of one module: `tree` as the fixture stores it, tensors by their state_dict name."""
    state = {"training": tree.get("training", False)}
    state["_parameters"] = collections.OrderedDict(
        (n, torch.nn.Parameter(tensors[prefix + n].clone())) for n in tree["parameters"])
    state["_buffers"] = collections.OrderedDict((n, tensors[prefix + n].clone()) for n in tree["buffers"])
    state["_non_persistent_buffers_set"] = set(tree.get("non_persistent", []))
    for h in _HOOK_DICTS:
        state[h] = collections.OrderedDict()
    state["_modules"] = collections.OrderedDict(
        (n, None if sub is None else record(sub, tensors, f"{prefix}{n}.", module_src))
        for n, sub in tree["modules"].items())
    state.update({k: _value(v, True) for k, v in tree["attrs"].items()})
    state["_init_args"] = tuple(_value(tree.get("init_args", []), True))
    state["_init_kwargs"] = _value(tree.get("init_kwargs", {}), False)
    return _Record(tree["class_name"], state, module_src)


def write_pickle(path: Path, trees: dict, tensors: dict, extra: dict | None = None,
                 module_src: str = PLACEHOLDER_SRC, protocol: int = 3) -> Path:
    """{'G': tree, 'D': tree, 'G_ema': tree} + tensors '<net>/<nvlabs name>' -> an NVlabs-format pickle file."""
    data = {name: record(tree, tensors, f"{name}/", module_src) for name, tree in trees.items()}
    data.setdefault("augment_pipe", None)
    data.update(extra if extra is not None else {"training_set_kwargs": EasyDict(path="~/datasets/tiny.zip",
                                                                             use_labels=False, max_size=512)})
    with _stand_in_modules():
        blob = pickle.dumps(data, protocol=protocol)
    Path(path).write_bytes(blob)
    return Path(path)


def load_fixture(name: str = "nvlabs_reference") -> tuple[dict, dict]:
    """(cases from fixtures/NAME.json, tensors from fixtures/NAME.safetensors)."""
    from safetensors.torch import load_file

    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    return meta["cases"], load_file(str(FIXTURES / f"{name}.safetensors"))


def case_tensors(tensors: dict, case: str) -> dict:
    pre = case + "/"
    return {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}


def write_fixture_pickle(path: Path, case: str, networks=("G", "D", "G_ema"), fixture="nvlabs_reference", **kw) -> Path:
    cases, tensors = load_fixture(fixture)
    trees = {n: cases[case]["trees"][n] for n in networks}
    return write_pickle(path, trees, case_tensors(tensors, case), **kw)


# -- trees from ganctl modules (shapes the fixture does not cover, and the config-F benchmark) ----------------------
_SIMPLE = (int, float, str, bool, type(None))


def _ganctl_tree(m: torch.nn.Module, init_kwargs: dict) -> dict:
    from torch import nn

    children = {}
    for name, sub in m._modules.items():
        if isinstance(sub, nn.ModuleList):  # ganctl's mapping.layers.N is NVlabs' mapping.fcN
            children.update({f"fc{i}": _ganctl_tree(s, {}) for i, s in enumerate(sub)})
        elif sub is not None:
            children[name] = _ganctl_tree(sub, {})
    attrs = {k: v for k, v in m.__dict__.items() if not k.startswith("_") and k != "training" and isinstance(v, _SIMPLE)}
    return {"class_name": type(m).__name__, "attrs": attrs, "init_kwargs": init_kwargs,
            "parameters": [k for k, v in m._parameters.items() if v is not None],
            "buffers": [k for k, v in m._buffers.items() if v is not None], "modules": children}


def nvlabs_name(name: str) -> str:
    import re

    return re.sub(r"(^|\.)mapping\.layers\.(\d+)\.", lambda mm: f"{mm.group(1)}mapping.fc{mm.group(2)}.", name)


def trees_from_ganctl(G, D, G_ema, channel_base: int, channel_max: int) -> tuple[dict, dict]:
    """NVlabs-format trees + tensors for ganctl networks (the names NVlabs would use)."""
    plan = {"channel_base": channel_base, "channel_max": channel_max}
    trees = {"G": _ganctl_tree(G, {"z_dim": G.z_dim, "synthesis_kwargs": plan}), "D": _ganctl_tree(D, dict(plan)),
             "G_ema": _ganctl_tree(G_ema, {"z_dim": G.z_dim, "synthesis_kwargs": plan})}
    tensors = {f"{n}/{nvlabs_name(k)}": v for n, net in (("G", G), ("D", D), ("G_ema", G_ema))
               for k, v in net.state_dict().items()}
    return trees, tensors
