"""NVlabs StyleGAN2 / StyleGAN2-ADA networks (stylegan2-ada-pytorch, stylegan3's `--cfg stylegan2`) -> ganctl's StyleGAN2.

Input is the object tree the restricted unpickler returns: `PersistentRecord`s whose state is the network's `__dict__`.
The architecture comes from what each record says about itself (attributes like `conv_clamp`, `use_fp16`,
`architecture`, `w_avg_beta`, which hold the resolved values whichever repository's defaults applied) and, for the
channel plan, from the recorded constructor kwargs; the state dicts are flattened and renamed onto ganctl's modules.
Only two names differ: the mapping layers (`mapping.fc3` -> `mapping.layers.3`) and D's per-block FIR filter buffer,
which ganctl keeps only in the layers that use it. Everything else (StyleGAN3, 'skip' D, 'resnet' G, other
activations or filters) is refused with a line saying what the file holds; StyleGAN3 files go to nvlabs_sg3.py.
"""

from __future__ import annotations

import re

import torch

from ganctl.errors import UsageError
from ganctl.interop.unpickler import PersistentRecord

FORMAT = "nvlabs-pickle"
LOSS = {"type": "stylegan2"}
NETWORKS = ("G", "D", "G_ema")
_FC = re.compile(r"(^|\.)mapping\.fc(\d+)\.")
_D_BLOCK_FILTER = re.compile(r"^b\d+\.resample_filter$")
# Class names that only StyleGAN3 (networks_stylegan3.py) defines.
_SG3_CLASSES = {"SynthesisInput"}


def _attr(rec: PersistentRecord, name: str, default=None):
    st = rec.state
    if name in st:
        return st[name]
    kw = st.get("_init_kwargs") or {}
    return kw.get(name, default)


def _child(rec: PersistentRecord, name: str) -> PersistentRecord | None:
    return (rec.state.get("_modules") or {}).get(name)


def _records(rec):
    yield rec
    for sub in (rec.state.get("_modules") or {}).values():
        if isinstance(sub, PersistentRecord):
            yield from _records(sub)


def state_dict(rec: PersistentRecord, where: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """The torch state_dict a record's module would return (persistent buffers only), under NVlabs' names."""
    out = {}
    st = rec.state
    skip = st.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, t in (st.get(group) or {}).items():
            if t is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(t, torch.Tensor):
                raise UsageError(f"{where}: {prefix}{name} is not a tensor")
            out[prefix + name] = t
    for name, sub in (st.get("_modules") or {}).items():
        if sub is None:
            continue
        if not isinstance(sub, PersistentRecord):
            raise UsageError(f"{where}: submodule {prefix}{name} is not an NVlabs network record")
        out.update(state_dict(sub, where, f"{prefix}{name}."))
    return out


def _fail(path, what: str):
    raise UsageError(f"{path}: {what}")


def network_records(obj, path) -> dict[str, PersistentRecord]:
    """The network records ('G', 'D', 'G_ema') of a loaded pickle, or one line saying what the file is instead."""
    if not isinstance(obj, dict) or not isinstance(obj.get("G_ema", obj.get("G")), PersistentRecord):
        kind = type(obj).__name__
        keys = f" with keys {sorted(map(str, obj))[:6]}" if isinstance(obj, dict) else ""
        _fail(path, f"not an NVlabs network pickle (top-level object: {kind}{keys}; no 'G_ema' network record)")
    return {k: obj[k] for k in NETWORKS if isinstance(obj.get(k), PersistentRecord)}


def is_stylegan3(nets: dict[str, PersistentRecord]) -> bool:
    """Whether a generator record is built from networks_stylegan3 (its synthesis has a SynthesisInput)."""
    return any(r.class_name in _SG3_CLASSES for name in ("G", "G_ema") if name in nets for r in _records(nets[name]))


def detect(nets: dict[str, PersistentRecord], path) -> dict[str, PersistentRecord]:
    """The records again if they are StyleGAN2 networks ganctl's StyleGAN2 can run, or one line saying why not."""
    for name in ("G", "G_ema"):
        if name in nets and (nets[name].class_name != "Generator" or _child(nets[name], "synthesis") is None
                             or _child(_child(nets[name], "synthesis"), "b4") is None):
            _fail(path, f"{name} is a {nets[name].class_name!r} record, not a StyleGAN2 Generator")
    if "D" in nets and nets["D"].class_name != "Discriminator":
        _fail(path, f"D is a {nets['D'].class_name!r} record, not a StyleGAN2 Discriminator")
    return nets


def _channel_plan(rec: PersistentRecord, nested: str | None) -> tuple[int, int]:
    kw = rec.state.get("_init_kwargs") or {}
    if nested:  # stylegan2-ada: Generator(synthesis_kwargs={...}); stylegan3 repo: Generator(**synthesis_kwargs)
        kw = {**kw, **(kw.get(nested) or {})}
    return int(kw.get("channel_base", 32768)), int(kw.get("channel_max", 512))


def generator_config(G: PersistentRecord, path) -> dict:
    """ganctl model keys + image geometry for an NVlabs Generator record."""
    mapping, synthesis = _child(G, "mapping"), _child(G, "synthesis")
    fc0 = _child(mapping, "fc0")
    res = int(_attr(G, "img_resolution"))
    blocks = [_child(synthesis, f"b{2 ** i}") for i in range(2, res.bit_length())]
    if any(b is None for b in blocks):
        _fail(path, f"G's synthesis network lacks blocks for {res}x{res}")
    for b in blocks:
        if _attr(b, "architecture", "skip") != "skip":
            _fail(path, f"G uses the {_attr(b, 'architecture')!r} architecture; ganctl's StyleGAN2 G is 'skip' "
                        "(NVlabs' default, used by every published model)")
        for layer in (_child(b, "conv0"), _child(b, "conv1")):
            if layer is None:
                continue
            if not _attr(layer, "use_noise", True) or _attr(layer, "activation", "lrelu") != "lrelu":
                _fail(path, f"G's {layer.class_name} uses noise={_attr(layer, 'use_noise')} activation="
                            f"{_attr(layer, 'activation')!r}; ganctl's StyleGAN2 needs noise inputs and lrelu")
    base, cmax = _channel_plan(G, "synthesis_kwargs")
    return {
        "z_dim": int(_attr(G, "z_dim")), "w_dim": int(_attr(G, "w_dim")),
        "mapping_layers": int(_attr(mapping, "num_layers", 8)),
        "mapping_lr_mult": float(_attr(fc0, "bias_gain", 0.01)),
        "w_avg_beta": float(_attr(mapping, "w_avg_beta", 0.995)),
        "channel_base": base, "channel_max": cmax,
        "num_fp16_res": sum(bool(_attr(b, "use_fp16", False)) for b in blocks),
        "conv_clamp": _attr(_child(blocks[0], "conv1"), "conv_clamp", None),
        "_geometry": (res, int(_attr(G, "img_channels")), int(_attr(G, "c_dim"))),
    }


def discriminator_config(D: PersistentRecord, path) -> dict:
    res = int(_attr(D, "img_resolution"))
    blocks = [_child(D, f"b{2 ** i}") for i in range(res.bit_length() - 1, 2, -1)]
    epilogue = _child(D, "b4")
    if any(b is None for b in blocks) or epilogue is None:
        _fail(path, f"D lacks blocks for {res}x{res}")
    archs = {_attr(b, "architecture", "resnet") for b in blocks + [epilogue]}
    if len(archs) != 1 or archs & {"skip"}:
        _fail(path, f"D uses the {'/'.join(sorted(archs))} architecture; ganctl's StyleGAN2 D is 'resnet' or 'orig'")
    mbstd = _child(epilogue, "mbstd")
    mapping = _child(D, "mapping")
    base, cmax = _channel_plan(D, None)
    conv = _child(blocks[0], "conv0") if blocks else _child(epilogue, "conv")
    cfg = {
        "d_architecture": archs.pop(), "channel_base": base, "channel_max": cmax,
        "conv_clamp": _attr(conv, "conv_clamp", None),
        "mbstd_group": int(_attr(mbstd, "group_size", 4) or 0) if mbstd is not None else 4,
        "mbstd_channels": int(_attr(mbstd, "num_channels", 1)) if mbstd is not None else 0,
        "_geometry": (res, int(_attr(D, "img_channels")), int(_attr(D, "c_dim"))),
    }
    if mapping is not None:
        cfg["d_cmap_layers"] = int(_attr(mapping, "num_layers", 8))
        cfg["mapping_lr_mult"] = float(_attr(_child(mapping, "fc0"), "bias_gain", 0.01))
    return cfg


def model_config(nets: dict[str, PersistentRecord], path) -> tuple[dict, tuple[int, int, int]]:
    """(ganctl `model:` section, (resolution, channels, num_classes)) for the networks of one pickle."""
    g = generator_config(nets.get("G_ema", nets.get("G")), path)
    geometry = g.pop("_geometry")
    if "D" in nets:
        d = discriminator_config(nets["D"], path)
        if d.pop("_geometry") != geometry:
            _fail(path, "G and D were built for different image sizes, channels or class counts")
        for key in ("channel_base", "channel_max", "conv_clamp", "mapping_lr_mult"):
            if key in d and d[key] != g[key]:
                # ganctl's config has one value for both networks; a mismatch would change D's function.
                _fail(path, f"G and D differ in {key} ({g[key]} vs {d[key]}); ganctl uses one value for both")
        g.update(d)
    if g["conv_clamp"] is not None:
        g["conv_clamp"] = int(g["conv_clamp"])
    return {"family": "stylegan2", "conditional": geometry[2] > 0, **g}, geometry


def ganctl_name(name: str, network: str) -> str | None:
    """NVlabs state_dict key -> ganctl's; None for buffers ganctl derives itself (D's per-block FIR filter)."""
    if network == "D" and _D_BLOCK_FILTER.match(name):
        return None
    return _FC.sub(lambda m: f"{m.group(1)}mapping.layers.{m.group(2)}.", name)


def tensors(nets: dict[str, PersistentRecord], path) -> dict[str, torch.Tensor]:
    """{'G/…', 'D/…', 'G_ema/…'} in ganctl's state_dict names, for the networks present."""
    from ganctl import ops
    from ganctl.models.stylegan2.layers import RESAMPLE_TAPS

    fir = ops.setup_filter(RESAMPLE_TAPS)
    out = {}
    for net, rec in nets.items():
        for name, t in state_dict(rec, str(path)).items():
            if name.endswith("resample_filter") and not (t.shape == fir.shape and torch.allclose(t.float(), fir)):
                _fail(path, f"{net}.{name} is not StyleGAN2's [1,3,3,1] filter; ganctl's StyleGAN2 cannot run it")
            new = ganctl_name(name, "D" if net == "D" else "G")
            if new is not None:
                out[f"{net}/{new}"] = t
    return out
