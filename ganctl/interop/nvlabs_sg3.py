"""NVlabs StyleGAN3 networks (networks_stylegan3: -t and -r) -> ganctl's stylegan3 family.

Input is the object tree the restricted unpickler returns. The architecture comes from what the records say about
themselves: the synthesis network's `num_layers`, `num_critical`, `margin_size`, `output_scale`, `num_fp16_res`, each
layer's `conv_kernel`, `down_radial`, `conv_clamp`, `magnitude_ema_beta`, and the mapping's depth and w_avg_beta. The
channel plan is inferred from the layers themselves (their names carry size and channels, `L{i}_{size}_{channels}`):
the published 256x256 files were trained with channel_base 16384 while NVlabs' code would rebuild them with its
default unless told (`--cbase`), so recorded arguments are not trusted for it. D is NVlabs' StyleGAN2 D, whose channel
plan is likewise read off its tensors. State-dict names are NVlabs' except the mapping layers (fcN -> layers.N).
"""

from __future__ import annotations

from ganctl.errors import UsageError
from ganctl.interop import nvlabs
from ganctl.interop.unpickler import PersistentRecord

FORMAT = nvlabs.FORMAT
# StyleGAN3 trains with StyleGAN2's loss minus path-length and style-mixing regularisation (NVlabs' train.py).
LOSS = {"type": "stylegan2", "pl_weight": 0.0, "style_mixing_prob": 0.0}
_CHANNEL_CANDIDATES = [(b, m) for b in (2 ** k for k in range(10, 18)) for m in (2 ** k for k in range(4, 12))]


def _fail(path, what: str):
    raise UsageError(f"{path}: {what}")


def _int(v) -> int:
    return int(getattr(v, "array", v)[0]) if hasattr(v, "array") else int(v)


def _layers(synthesis: PersistentRecord, path) -> list[PersistentRecord]:
    names = synthesis.state.get("layer_names")
    mods = synthesis.state.get("_modules") or {}
    if not isinstance(names, list) or not names or any(not isinstance(mods.get(n), PersistentRecord) for n in names):
        _fail(path, "G's StyleGAN3 synthesis network has no readable layer list (layer_names)")
    return [mods[n] for n in names]


def check(nets: dict[str, PersistentRecord], path) -> None:
    for name in ("G", "G_ema"):
        if name not in nets:
            continue
        syn = nvlabs._child(nets[name], "synthesis")
        if nets[name].class_name != "Generator" or syn is None or nvlabs._child(syn, "input") is None \
                or nvlabs._child(syn, "input").class_name != "SynthesisInput":
            _fail(path, f"{name} is a {nets[name].class_name!r} record, not a StyleGAN3 Generator")
        mapping = nvlabs._child(nets[name], "mapping")
        if mapping is None or nvlabs._child(mapping, "fc0") is None:
            _fail(path, f"{name} is an incomplete StyleGAN3 Generator record (no mapping network with fc0)")
    if "D" in nets and nets["D"].class_name != "Discriminator":
        _fail(path, f"D is a {nets['D'].class_name!r} record, not NVlabs' StyleGAN2 Discriminator")


def _infer_channels(res: int, img_channels: int, got: list[tuple[int, int]], num_layers: int, num_critical: int,
                    margin: int, recorded: tuple[int, int], path) -> tuple[int, int]:
    """(channel_base, channel_max) whose schedule gives exactly the layers' (size, channels)."""
    from ganctl.models.stylegan3.filters import layer_schedule

    for base, cmax in [recorded] + _CHANNEL_CANDIDATES:
        sched = layer_schedule(res, img_channels, base, cmax, num_layers, num_critical, margin_size=margin)
        if [(l.out_size, l.out_channels) for l in sched.layers] == got:
            return base, cmax
    _fail(path, f"G's layer sizes/channels {got[:3]}... match no StyleGAN3 channel plan (channel_base, channel_max)")


def generator_config(G: PersistentRecord, path) -> dict:
    mapping, synthesis = nvlabs._child(G, "mapping"), nvlabs._child(G, "synthesis")
    fc0 = nvlabs._child(mapping, "fc0")
    res, img_channels, c_dim = int(nvlabs._attr(G, "img_resolution")), int(nvlabs._attr(G, "img_channels")), \
        int(nvlabs._attr(G, "c_dim"))
    layers = _layers(synthesis, path)
    num_layers = int(nvlabs._attr(synthesis, "num_layers", 14))
    num_critical = int(nvlabs._attr(synthesis, "num_critical", 2))
    margin = int(nvlabs._attr(synthesis, "margin_size", 10))
    if len(layers) != num_layers + 1:
        _fail(path, f"G's synthesis has {len(layers)} layers for num_layers={num_layers}")
    if float(nvlabs._attr(synthesis, "output_scale", 0.25)) != 0.25:
        _fail(path, "G's output_scale is not StyleGAN3's 0.25; ganctl's StyleGAN3 uses that value")
    kernel = int(nvlabs._attr(layers[0], "conv_kernel", 3))
    radial = any(bool(nvlabs._attr(l, "down_radial", False)) for l in layers)
    config = {3: "t", 1: "r"}.get(kernel)
    if config is None or radial != (config == "r"):
        _fail(path, f"G uses conv_kernel={kernel} with radial filters={radial}; ganctl's StyleGAN3 knows -t "
                    "(3x3, Kaiser filters) and -r (1x1, radial filters)")
    for l in layers:
        for which in ("up", "down"):
            factor, taps = int(nvlabs._attr(l, f"{which}_factor", 1)), int(nvlabs._attr(l, f"{which}_taps", 1))
            if taps != (6 * factor if factor > 1 and not nvlabs._attr(l, "is_torgb", False) else 1):
                _fail(path, f"G's {which} filters have {taps} taps for factor {factor}; ganctl's StyleGAN3 uses "
                            "NVlabs' default filter_size 6")
    got = [(_int(nvlabs._attr(l, "out_size")), int(nvlabs._attr(l, "out_channels"))) for l in layers]
    recorded = nvlabs._channel_plan(G, None)
    base, cmax = _infer_channels(res, img_channels, got, num_layers, num_critical, margin, recorded, path)
    if config == "r" and (base % 2 or cmax % 2):
        _fail(path, f"G is -r with channel_base {base} / channel_max {cmax}: not the doubled values of a -r config")
    clamp = nvlabs._attr(layers[0], "conv_clamp", 256)
    return {
        "config": config,
        "z_dim": int(nvlabs._attr(G, "z_dim")), "w_dim": int(nvlabs._attr(G, "w_dim")),
        "mapping_layers": int(nvlabs._attr(mapping, "num_layers", 2)),
        "mapping_lr_mult": float(nvlabs._attr(fc0, "bias_gain", 0.01)),
        "w_avg_beta": float(nvlabs._attr(mapping, "w_avg_beta", 0.998)),
        # ganctl's channel_base/max are D's and -t's; -r doubles them for G (NVlabs' train.py does the same).
        "channel_base": base // 2 if config == "r" else base, "channel_max": cmax // 2 if config == "r" else cmax,
        "num_layers": num_layers, "num_critical": num_critical, "margin_size": margin,
        "num_fp16_res": int(nvlabs._attr(synthesis, "num_fp16_res", 4)),
        "conv_clamp": None if clamp is None else int(clamp),
        "magnitude_ema_beta": float(nvlabs._attr(layers[0], "magnitude_ema_beta", 0.999)),
        "_geometry": (res, img_channels, c_dim),
    }


def _d_channels_from_tensors(D: PersistentRecord, res: int, recorded: tuple[int, int], path) -> tuple[int, int]:
    """D's (channel_base, channel_max) from its blocks' conv1 weights: b{r}.conv1 maps channels[r] -> channels[r/2]."""
    got = {}
    r = res
    while r > 4:
        conv1 = nvlabs._child(nvlabs._child(D, f"b{r}") or D, "conv1")
        w = ((conv1.state.get("_parameters") or {}).get("weight") if conv1 is not None else None)
        if w is None:
            _fail(path, f"D lacks b{r}.conv1.weight")
        got[r] = (int(w.shape[1]), int(w.shape[0]))
        r //= 2
    for base, cmax in [recorded] + _CHANNEL_CANDIDATES:
        if all(shape == (min(base // r, cmax), min(base // (r // 2), cmax)) for r, shape in got.items()):
            return base, cmax
    _fail(path, "D's block channels match no StyleGAN2 channel plan (channel_base, channel_max)")


def model_config(nets: dict[str, PersistentRecord], path) -> tuple[dict, tuple[int, int, int]]:
    """(ganctl `model:` section, (resolution, channels, num_classes)) for the networks of one pickle."""
    g = generator_config(nets.get("G_ema", nets.get("G")), path)
    geometry = g.pop("_geometry")
    if "D" in nets:
        d = nvlabs.discriminator_config(nets["D"], path)
        if d.pop("_geometry") != geometry:
            _fail(path, "G and D were built for different image sizes, channels or class counts")
        d["channel_base"], d["channel_max"] = _d_channels_from_tensors(nets["D"], geometry[0],
                                                                      (d["channel_base"], d["channel_max"]), path)
        for key in ("channel_base", "channel_max", "conv_clamp", "mapping_lr_mult"):
            if key in d and d[key] != g[key]:
                # One config value serves both networks (-r's G doubles it); a mismatch would change D's function.
                _fail(path, f"G and D differ in {key} ({g[key]} for G{' (halved: -r doubles it)' if g['config'] == 'r' and key.startswith('channel') else ''} "
                            f"vs {d[key]}); ganctl uses one value for both")
        g.update(d)
    return {"family": "stylegan3", "conditional": geometry[2] > 0, **g}, geometry


def tensors(nets: dict[str, PersistentRecord], path) -> dict:
    """{'G/…', 'D/…', 'G_ema/…'} in ganctl's state_dict names, for the networks present."""
    from ganctl import ops
    from ganctl.models.stylegan2.layers import RESAMPLE_TAPS

    fir = ops.setup_filter(RESAMPLE_TAPS)
    out = {}
    for net, rec in nets.items():
        for name, t in nvlabs.state_dict(rec, str(path)).items():
            if net == "D" and name.endswith("resample_filter") and not (
                    t.shape == fir.shape and bool((t.float() - fir).abs().max() < 1e-6)):
                _fail(path, f"D.{name} is not StyleGAN2's [1,3,3,1] filter; ganctl's StyleGAN2 D cannot run it")
            new = nvlabs.ganctl_name(name, "D" if net == "D" else "G")
            if new is not None:
                out[f"{net}/{new}"] = t
    return out
