"""Per-block summary of a config's networks (G and D): block name, output shape, parameters, and the totals.

Generic over families: the rows are G's and D's top-level children, walked with forward hooks during one batch-2 pass
(G on seeded latents, D on G's output). A child that holds most of its network's parameters and is itself a stack of
three or more parameterised modules (StyleGAN2's synthesis network, DCGAN's Sequential) is shown one level deeper, so
the table reads block by block. Networks are built on the meta device (no memory, no arithmetic), so a 1024x1024
network summarises instantly; a family whose forward pass cannot run on meta falls back to the CPU.

Resolution, channels and classes default from the preset itself: its description states its resolution as "NxN"
(every shipped preset's does), grayscale presets (description mentions grayscale or MNIST) have 1 channel, others 3,
and a conditional preset (model.conditional) has 10 classes unless told otherwise.
"""

from __future__ import annotations

import re
import warnings

import torch
from torch import nn

from ganctl.errors import UsageError

DEFAULT_CLASSES = 10


def default_shape(cfg: dict, name: str) -> tuple[int | None, int, int]:
    """(resolution or None, channels, classes) a preset states for itself (see the module docstring)."""
    desc = str(cfg.get("description") or "")
    m = re.search(r"\b(\d+)x\1\b", desc)
    resolution = int(m.group(1)) if m else None
    channels = 1 if re.search(r"grayscale|mnist", desc + " " + name, re.IGNORECASE) else 3
    classes = DEFAULT_CLASSES if cfg["model"].get("conditional") else 0
    return resolution, channels, classes


def _shapes(out) -> list[list[int]]:
    """Output shapes without the batch dimension; a block may return several tensors (StyleGAN2: features, image)."""
    if isinstance(out, torch.Tensor):
        return [list(out.shape[1:])]
    if isinstance(out, (tuple, list)):
        return [s for o in out for s in _shapes(o)]
    return []


def _nparams(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _rows_of(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules to show: top-level children, with a dominant stack of blocks opened one level (repeatedly)."""
    total = max(_nparams(net), 1)
    rows = []
    stack = list(net.named_children())
    while stack:
        name, mod = stack.pop(0)
        kids = [(f"{name}.{n}", k) for n, k in mod.named_children()]
        if _nparams(mod) * 2 > total and sum(1 for _, k in kids if _nparams(k)) >= 3:
            stack = kids + stack
        else:
            rows.append((name, mod))
    return rows


def _walk(net: nn.Module, run) -> dict:
    """{"blocks": [{block, type, output, params}], "params": total} with output shapes from hooks during run()."""
    rows = _rows_of(net)
    seen: dict[str, list] = {}

    def hook(name):
        def record(_module, _inputs, out):  # returns None: a hook's return value would replace the output
            seen.setdefault(name, _shapes(out))
        return record

    hooks = [m.register_forward_hook(hook(n)) for n, m in rows]
    try:
        result = run()
    finally:
        for h in hooks:
            h.remove()
    blocks = [{"block": n, "type": type(m).__name__, "output": seen.get(n), "params": _nparams(m)} for n, m in rows]
    total = _nparams(net)
    rest = total - sum(b["params"] for b in blocks)
    if rest:
        blocks.append({"block": "(own)", "type": type(net).__name__, "output": None, "params": rest})
    return {"blocks": blocks, "params": total, "result": result}


def _summarize_on(device: str, cfg: dict, resolution: int, channels: int, classes: int) -> dict:
    from ganctl.models import build_networks, get_family

    with torch.device(device):
        torch.manual_seed(0)
        G, D = build_networks(cfg, resolution, channels, classes)
    G.eval()
    D.eval()
    if get_family(cfg["model"]["family"]).image_conditioned:
        # G maps an input image to the `resolution` output: the input is `scale` times smaller (1 for translation).
        from ganctl.sampling.conditioned import apply_generator

        size = max(1, resolution // getattr(G, "scale", 1))
        x = torch.randn(2, channels, size, size, device=device)
        with torch.no_grad():
            g = _walk(G, lambda: apply_generator(G, x))
            # pix2pix's D judges (input, output) pairs; others judge the output alone
            d = _walk(D, lambda: D(g["result"], x) if getattr(D, "conditioned_on_input", False) else D(g["result"]))
        return {"G": g["blocks"], "D": d["blocks"], "G_params": g["params"], "D_params": d["params"],
                "image": list(g["result"].shape[1:]), "device": device}
    z = torch.randn(2, G.z_dim, device=device)
    c = torch.zeros(2, dtype=torch.int64, device=device) if classes else None
    with torch.no_grad():
        g = _walk(G, lambda: G(z, c))
        d = _walk(D, lambda: D(g["result"], c))
    return {"G": g["blocks"], "D": d["blocks"], "G_params": g["params"], "D_params": d["params"],
            "image": list(g["result"].shape[1:]), "device": device}


def summarize(cfg: dict, name: str, resolution: int | None = None, channels: int | None = None,
              classes: int | None = None) -> dict:
    """The per-block summary of a resolved config's G and D; see the module docstring for the defaults."""
    res0, ch0, cls0 = default_shape(cfg, name)
    resolution = resolution or res0
    if not resolution:
        raise UsageError(f"--resolution: preset {name!r} does not state its resolution (no NxN in its description); "
                         "pass --resolution N")
    channels = channels or ch0
    classes = cls0 if classes is None else classes
    if resolution < 1 or channels < 1 or classes < 0:
        raise UsageError("--resolution and --channels must be >= 1 and --classes >= 0")
    try:
        with warnings.catch_warnings():  # "no meta kernels, using the reference": true and irrelevant to shapes
            warnings.simplefilter("ignore", RuntimeWarning)
            body = _summarize_on("meta", cfg, resolution, channels, classes)
    except (UsageError, ValueError):
        raise
    except Exception:  # e.g. an op with no meta kernel: the same walk on real CPU tensors
        body = _summarize_on("cpu", cfg, resolution, channels, classes)
    return {"preset": name, "family": cfg["model"]["family"], "resolution": resolution, "channels": channels,
            "classes": classes, **body}


def format_summary(s: dict) -> str:
    """The summary as a table for people: one row per block, then each network's total."""
    def shape(out):
        if out is None:
            return "(not run)"
        return ", ".join("x".join(map(str, o)) for o in out) or "-"

    cond = f"{s['classes']} classes" if s["classes"] else "unconditional"
    lines = [f"{s['preset']}: {s['family']} at {s['resolution']}x{s['resolution']}, {s['channels']} channel(s), {cond}"]
    width = max(len(b["block"]) for net in ("G", "D") for b in s[net]) + 2
    for net in ("G", "D"):
        lines.append("")
        lines.append(f"{net:<{width}}{'type':<24}{'output':<28}{'params':>14}")
        for b in s[net]:
            lines.append(f"{b['block']:<{width}}{b['type']:<24}{shape(b['output']):<28}{b['params']:>14,}")
        lines.append(f"{'total':<{width}}{'':<24}{'':<28}{s[net + '_params']:>14,}")
    return "\n".join(lines)
