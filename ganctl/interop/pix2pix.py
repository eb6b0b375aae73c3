"""Reading the generators saved by the pix2pix/CycleGAN reference code (junyanz/pytorch-CycleGAN-and-pix2pix):
`latest_net_G.pth`, `latest_net_G_A.pth`, `*_net_G_B.pth` are plain state dicts, loaded here with
torch.load(weights_only=True), which refuses anything but tensors and plain containers (no code runs).

The architecture is inferred from the keys and shapes, so no training flag needs repeating: U-Net depth from the
nesting of `model.model.1.model.3...` blocks (unet_256 = 8 levels), ResNet blocks from the `model.N.conv_block`
indices, dropout in ResNet blocks from where the second conv sits (index 6 with dropout, 5 without: the reference's
--no_dropout mismatch), batch norm from `running_mean` keys, instance norm from conv biases without them, widths from
the first conv. Checkpoints from old PyTorch versions carry instance-norm running statistics the reference code
deletes on load; they are dropped here too. ganctl's networks (models/translation/networks.py) use the same key names.
"""

from __future__ import annotations

import re
from pathlib import Path

from ganctl.errors import UsageError

_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.")


def load_state_dict(path: str | Path) -> dict:
    import pickle

    import torch

    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
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
    from ganctl.models.translation.networks import build_generator

    sd = load_state_dict(path)
    m = infer_generator(sd, path)
    G = build_generator(m["generator"], m["channels"]["in"], m["channels"]["out"], m["ngf"], m["norm"], m["dropout"])
    want = G.state_dict()
    sd = {k: v for k, v in sd.items() if k in want or not re.search(r"running_(mean|var)$|num_batches_tracked$", k)}
    missing, extra = sorted(set(want) - set(sd)), sorted(set(sd) - set(want))
    bad = [k for k in want if k in sd and tuple(sd[k].shape) != tuple(want[k].shape)]
    if missing or extra or bad:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else f"{bad[0]} has another shape"
        raise UsageError(f"{path}: does not fit the inferred {m['generator']} ({m['norm']} norm): {what}")
    G.load_state_dict(sd)
    return G, m
