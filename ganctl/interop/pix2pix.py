"""Reading the generators saved by the pix2pix/CycleGAN reference code (junyanz/pytorch-CycleGAN-and-pix2pix):
`latest_net_G.pth`, `latest_net_G_A.pth`, `*_net_G_B.pth` are plain state dicts, loaded here with
torch.load(weights_only=True), which refuses anything but tensors and plain containers (no code runs).

The architecture is inferred from the keys and shapes, so no training flag needs repeating: U-Net depth from the
nesting of `model.model.1.model.3...` blocks (unet_256 = 8 levels), ResNet blocks from the `model.N.conv_block`
indices, dropout in ResNet blocks from where the second conv sits (index 6 with dropout, 5 without: the reference's
--no_dropout mismatch), batch norm from `running_mean` keys, instance norm from conv biases without them, widths from
the first conv. Checkpoints from old PyTorch versions carry instance-norm running statistics the reference code
deletes on load; they are dropped here too. ganctl's networks (models/translation/networks.py) use the same key names.

`read(sd, path, sha)` turns a checkpoint set into an `ImportedNetwork` for info/convert/train --init: given any file
of `<epoch>_net_G.pth` (+ `_net_D.pth`: pix2pix) or `<epoch>_net_G_A.pth` + `_G_B` (+ `_D_A` + `_D_B`: CycleGAN),
the files of the same epoch prefix beside it are read with it; the PatchGAN's width, depth (n_layers_D) and norm are
inferred from its convs. A renamed single generator file reads as a pix2pix-family network (one generator, A to B).
"""

from __future__ import annotations

import re
from pathlib import Path

from ganctl.errors import UsageError

_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.")
_D_KEY = re.compile(r"^model\.\d+\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_SET_NAME = re.compile(r"^(?P<prefix>.+)_net_(?P<net>[GD])(?:_(?P<side>[AB]))?\.pth$")
_OLD_STATS = re.compile(r"running_(mean|var)$|num_batches_tracked$")
FORMAT = "pix2pix-cyclegan-pth"
# The reference's --crop_size default: the size its ResNet generators are trained at (any multiple of 4 works).
_RESNET_RESOLUTION = 256


def load_state_dict(path: str | Path, data: bytes | None = None) -> dict:
    """The state dict in `path` (or in `data`, its bytes already read), weights-only; UsageError if it is none."""
    import io
    import pickle

    import torch

    try:
        sd = torch.load(io.BytesIO(data) if data is not None else str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise UsageError(f"{path}: not a readable PyTorch state dict ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if hasattr(sd, "state_dict") or not isinstance(sd, dict) or not all(hasattr(v, "shape") for v in sd.values()):
        raise UsageError(f"{path}: not a plain state dict of tensors (expected latest_net_G.pth from the reference code)")
    return {k.removeprefix("module."): v for k, v in sd.items()}  # saved from DataParallel


def infer_generator(sd: dict, path) -> dict:
    """The `model:` keys (generator, ngf, norm, dropout) and channels {"in", "out"} of a reference generator."""
    if "model.model.0.weight" in sd:  # U-Net: nested skip blocks, each level's down conv at index 1 of its `model`
        depth, prefix = 1, "model.model.1.model."
        while f"{prefix}1.weight" in sd:
            depth += 1
            prefix += "3.model."
        names = {8: "unet_256", 7: "unet_128", 6: "unet_64", 5: "unet_32"}
        if depth not in names:
            raise UsageError(f"{path}: a U-Net with {depth} levels; ganctl reads unet_256/128/64/32")
        w = sd["model.model.0.weight"]
        # instance norm and no norm hold no tensors: a conv bias without batch statistics reads as instance norm
        norm = "batch" if any(k.endswith("running_mean") for k in sd) else "instance"
        # U-Net dropout sits after the up norm and shifts nothing: not visible in the keys; the reference default is on.
        return {"generator": names[depth], "ngf": int(w.shape[0]), "norm": norm, "dropout": True,
                "channels": {"in": int(w.shape[1]), "out": int(sd["model.model.3.weight"].shape[1])}}
    blocks = sorted({int(m.group(1)) for k in sd for m in [_BLOCK.match(k)] if m})
    if blocks:  # ResNet
        names = {9: "resnet_9blocks", 6: "resnet_6blocks"}
        if len(blocks) not in names:
            raise UsageError(f"{path}: a ResNet generator with {len(blocks)} blocks; ganctl reads 9 or 6")
        b = blocks[0]
        # with Dropout(0.5) at index 4 the second conv moves from 5 to 6 (under batch norm, 6 is otherwise the norm)
        second = sd.get(f"model.{b}.conv_block.6.weight")
        dropout = second is not None and second.ndim == 4
        w = sd["model.1.weight"]
        norm = "batch" if "model.2.weight" in sd else "instance"  # the stem's norm: affine batch norm has a weight
        last = max(int(k.split(".")[1]) for k in sd if k.startswith("model.") and k.split(".")[1].isdigit())
        return {"generator": names[len(blocks)], "ngf": int(w.shape[0]), "norm": norm, "dropout": dropout,
                "channels": {"in": int(w.shape[1]), "out": int(sd[f"model.{last}.weight"].shape[0])}}
    raise UsageError(f"{path}: not a pix2pix/CycleGAN generator (no U-Net or ResNet keys); pass latest_net_G.pth or latest_net_G_A.pth")


def read_generator(path: str | Path):
    """(our generator with the file's weights, inferred model keys). Keys the network does not have (old instance-norm
    running statistics) are dropped; any other difference is refused in one line."""
    import torch

    from ganctl.models.translation.networks import build_generator

    sd = load_state_dict(path)
    m = infer_generator(sd, path)
    # built on the meta device and given the file's tensors (assign): no random init of weights about to be replaced
    # (0.7 s of CPU for unet_256, paid on every `translate`)
    with torch.device("meta"):
        G = build_generator(m["generator"], m["channels"]["in"], m["channels"]["out"], m["ngf"], m["norm"], m["dropout"])
    sd = fitted(sd, G, path, f"the inferred {m['generator']} ({m['norm']} norm)")
    G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, assign=True)
    return G, m


def fitted(sd: dict, net, path, what: str) -> dict:
    """`sd` without old instance-norm statistics the network lacks; UsageError naming the first other difference."""
    want = net.state_dict()
    sd = {k: v for k, v in sd.items() if k in want or not _OLD_STATS.search(k)}
    missing, extra = sorted(set(want) - set(sd)), sorted(set(sd) - set(want))
    bad = [k for k in want if k in sd and tuple(sd[k].shape) != tuple(want[k].shape)]
    if missing or extra or bad:
        diff = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else f"{bad[0]} has another shape"
        raise UsageError(f"{path}: does not fit {what}: {diff}")
    return sd


def is_discriminator(sd: dict) -> bool:
    """The reference's NLayerDiscriminator: one `model` Sequential whose first layer is a 4x4 conv."""
    w = sd.get("model.0.weight")
    return w is not None and w.ndim == 4 and tuple(w.shape[2:]) == (4, 4) and all(_D_KEY.match(k) for k in sd)


def is_reference(sd) -> bool:
    """A state dict (after load) laid out as a reference generator or PatchGAN."""
    if not isinstance(sd, dict) or not sd or not all(hasattr(v, "shape") for v in sd.values()):
        return False
    sd = {str(k).removeprefix("module."): v for k, v in sd.items()}
    return "model.model.0.weight" in sd or any(_BLOCK.match(k) for k in sd) or is_discriminator(sd)


def infer_discriminator(sd: dict, path) -> dict:
    """{"ndf", "n_layers_D", "norm", "in"} of a reference PatchGAN: convs sit at 0, 2, 5, 8, ... and the last one."""
    if not is_discriminator(sd):
        raise UsageError(f"{path}: not a pix2pix/CycleGAN PatchGAN discriminator (no `model.0` 4x4 conv)")
    convs = sorted(int(k.split(".")[1]) for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4)
    norm = "batch" if any(k.endswith("running_mean") for k in sd) else "instance"
    w = sd["model.0.weight"]
    return {"ndf": int(w.shape[0]), "n_layers_D": len(convs) - 2, "norm": norm, "in": int(w.shape[1])}


def _set_files(path: Path) -> tuple[str, dict[str, Path]]:
    """("pix2pix" | "cyclegan" | "", {"G" | "D" | "G_A" | ...: file}) of the checkpoint set `path` belongs to."""
    m = _SET_NAME.match(path.name)
    if not m:
        return "", {}
    side = m["side"]
    names = ("G", "D") if side is None else ("G_A", "G_B", "D_A", "D_B")
    files = {n: path.with_name(f"{m['prefix']}_net_{n}.pth") for n in names}
    return ("pix2pix" if side is None else "cyclegan"), {n: f for n, f in files.items() if f.is_file()}


def read(sd: dict, path: Path, sha256: str):
    """The checkpoint set of `path` (its state dict `sd` already loaded) as an ImportedNetwork under ganctl names."""
    import hashlib

    from ganctl.interop.imported import ImportedNetwork

    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    family, files = _set_files(path)
    if not family:  # a renamed file: one generator, read as pix2pix (input -> target); a lone D has nothing to run
        if is_discriminator(sd):
            raise UsageError(f"{path}: a PatchGAN discriminator alone; pass its generator file "
                             "(<epoch>_net_G.pth or <epoch>_net_G_A.pth), the D beside it is read with it")
        family, files = "pix2pix", {"G": path}
    gens = [n for n in files if n.startswith("G")]
    want = ["G"] if family == "pix2pix" else ["G_A", "G_B"]
    if missing := [n for n in want if n not in files]:
        wanted = path.with_name(_SET_NAME.sub(lambda m: f"{m['prefix']}_net_{missing[0]}.pth", path.name))
        raise UsageError(f"{path}: {wanted.name} is not beside it; a {family} checkpoint needs its generator"
                         f"{'s G_A and G_B' if family == 'cyclegan' else ''} (copy it next to this file"
                         f"{'; or read this one generator alone as latest_net_G.pth' if family == 'cyclegan' else ''})")
    dis = [n for n in files if n.startswith("D")]
    if family == "cyclegan" and len(dis) == 1:
        other = "D_B" if dis[0] == "D_A" else "D_A"
        raise UsageError(f"{files[dis[0]]}: its sibling {files[dis[0]].name.replace(dis[0], other)} is missing; "
                         "CycleGAN's two discriminators are read together (copy it beside, or move this one away)")
    sds, shas = {}, {}
    for n, f in files.items():
        data = None if f == path else f.read_bytes()
        sds[n] = sd if data is None else load_state_dict(f, data)
        shas[n] = sha256 if data is None else hashlib.sha256(data).hexdigest()
    arch = [infer_generator(sds[n], files[n]) for n in gens]
    g = arch[0]
    if any(a != g for a in arch[1:]):
        raise UsageError(f"{files['G_B']}: not the same architecture as {files['G_A'].name} ({arch[1]['generator']} vs "
                         f"{g['generator']}); ganctl's cyclegan has two generators of one kind")
    c = g["channels"]["in"]
    if g["channels"]["out"] != c:
        raise UsageError(f"{files[gens[0]]}: maps {c} to {g['channels']['out']} channels; ganctl's {family} translates "
                         "images to images of the same channels (translate this file directly: `ganctl translate`)")
    model = {"family": family, "conditional": False, "generator": g["generator"], "ngf": g["ngf"], "norm": g["norm"],
             "dropout": g["dropout"]}
    for n in dis:
        d = infer_discriminator(sds[n], files[n])
        d_in = 2 * c if family == "pix2pix" else c  # pix2pix's D sees (input, image) stacked
        if d["in"] != d_in or d["norm"] != g["norm"]:
            raise UsageError(f"{files[n]}: a PatchGAN on {d['in']} channels with {d['norm']} norm does not go with "
                             f"{files[gens[0]].name} ({d_in} channels, {g['norm']} norm expected)")
        model.update(ndf=d["ndf"], n_layers_D=d["n_layers_D"])
    tensors = {}
    for n, s in sds.items():
        net, sub = ("D" if n.startswith("D") else "G"), ("" if family == "pix2pix" else n + ".")
        keep = {k: v for k, v in s.items() if not (_OLD_STATS.search(k) and g["norm"] != "batch")}
        for prefix in ((net,) if net == "D" else ("G", "G_ema")):
            tensors.update({f"{prefix}/{sub}{k}": v for k, v in keep.items()})
    # unet_N takes sides that are multiples of N; the ResNets were trained at the reference's crop size
    resolution = int(g["generator"].split("_")[1]) if g["generator"].startswith("unet") else _RESNET_RESOLUTION
    return ImportedNetwork(path, sha256, FORMAT, model, resolution, c, 0, tensors, dataset_name=path.parent.name or None,
                           extra={"files": {n: {"path": str(f), "sha256": shas[n]} for n, f in files.items()}})
