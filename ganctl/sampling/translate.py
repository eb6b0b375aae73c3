"""`ganctl translate`: apply an image-to-image network (pix2pix, CycleGAN) to image files or folders of any size.

Every input is checked and decoded before anything is written (a bad input is one line, exit 2, nothing written).
Sizes the generator cannot take (U-Net: multiples of 2^depth; ResNet: of 4) are padded by edge replication to the next
multiple and the output is cropped back to the input's size (said in the log). Outputs go through PngWriter with a
provenance naming the network, as `sample`'s do.

Test-time behaviour of pix2pix (FACTS.md): the reference keeps the model in train mode unless --eval, so dropout stays
on (pix2pix's noise) and batch norm normalises by the test image's own statistics, as the paper intends: "exactly the
same manner as during the training phase", where the paper's batch is one image. `bn="batch"` does that, one image
per pass so an output does not depend on which other images share its batch; `bn="running"` uses the running
statistics of training (and lets same-size images batch together). The default, `bn="auto"`, picks by how the
network was trained (`resolve_test_bn`): a ganctl network trained on batches of several images was normalised by
their statistics, which one image's own do not repeat (unet_32's inner levels are 2x2 and 4x4 maps: 4 and 16 values
per channel), so it gets the running statistics; a batch-1 run and the reference's files get the paper's per-image
statistics. `dropout="off"` gives deterministic outputs. Dropout noise is seeded (`seed`), so a run repeats exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganctl.errors import UsageError
from ganctl.sampling.inputs import image_inputs

DIRECTIONS = ("AtoB", "BtoA")


def _decode(path: Path, channels: int) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img = img.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(img)
    except Exception as e:  # noqa: BLE001 - any decoder failure is this input's problem
        raise UsageError(f"{path}: not a readable image ({type(e).__name__}: {e}); remove it or fix it") from None
    return arr[..., None] if arr.ndim == 2 else arr


def _multiple(G) -> int:
    for net in (G, getattr(G, "G_A", None)):
        m = getattr(net, "multiple", None)
        if m:
            return int(m)
    return 1


def _pass_size(G, batch: int, device) -> int:
    """Images per forward pass: `batch`, except on CPU for generators that run faster one image at a time there."""
    if device.type != "cpu":
        return batch
    for net in (G, getattr(G, "G_A", None)):
        cap = getattr(net, "cpu_batch", None)
        if cap:
            return min(batch, int(cap))
    return batch


def resolve_test_bn(bn: str, meta: dict | None) -> str:
    """Resolve `bn="auto"` for a network: "running" when ganctl trained it on batches of more than one image (meta: its
    checkpoint's metadata), else "batch": a batch-1 run, and the reference's networks (its .pth files: meta None; their
    conversions: meta["source"]), whose own test.py default that is. Measured (pix2pix-tiny at lr 2e-4, batch 8, README
    quality section): emoji8 luminance -> colour at 16 kimg, class accuracy 0.29 of real by each image's own statistics, 0.47
    by the running ones."""
    if bn != "auto":
        return bn
    if not meta or meta.get("source"):
        return "batch"
    batch = int((meta.get("config") or {}).get("train", {}).get("batch", 1))
    return "running" if batch > 1 else "batch"


def has_batch_norm(G) -> bool:
    import torch.nn as nn

    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in G.modules())


def set_test_modes(G, dropout: str, bn: str) -> None:
    """pix2pix's test-time choice on G: dropout on|off, batch norm by the batch's (`batch`) or the running statistics."""
    import torch.nn as nn

    G.eval()
    for m in G.modules():
        if isinstance(m, nn.Dropout):
            m.train(dropout == "on")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            # batch statistics of the test image; momentum 0 keeps the loaded running statistics untouched
            m.train(bn == "batch")
            if bn == "batch":
                m.momentum = 0.0


def _reference_generator(net: str, direction: str, device: str):
    """A reference-code generator file; with --direction BtoA, a *_G_A.pth file's sibling *_G_B.pth is used."""
    from ganctl.device import resolve_device
    from ganctl.interop.pix2pix import read_generator

    path = Path(net)
    if direction == "BtoA":
        if "_G_A" not in path.name:
            raise UsageError(f"--direction BtoA: {net} is not a CycleGAN *_net_G_A.pth; pass the generator of the direction "
                             "you want (latest_net_G_B.pth translates B to A)")
        path = path.with_name(path.name.replace("_G_A", "_G_B"))
    if not path.is_file():
        raise UsageError(f"{path}: no such network file")
    G, m = read_generator(path)
    dev = resolve_device(device)
    return G.to(dev), path, "reference " + m["generator"], m["channels"]["in"], dev


def translate(net: str, inputs: list[str], out: str, direction: str = "AtoB", dropout: str = "on", bn: str = "auto",
              batch: int = 8, seed: int = 0, device: str = "auto", emit=None, output=None) -> dict:
    """Translate INPUTS with NET into OUT; returns {"written": [...], "padded": n, ...}. Never prints: `emit(text)`."""
    import torch
    import torch.nn.functional as F

    from ganctl.models import get_family
    from ganctl.sampling.conditioned import apply_generator
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.latents import to_uint8
    from ganctl.sampling.provenance import for_network
    from ganctl.sampling.writer import PngWriter

    emit = emit or (lambda text: None)
    if direction not in DIRECTIONS:
        raise UsageError(f"--direction {direction}: choose AtoB or BtoA")
    if dropout not in ("on", "off") or bn not in ("auto", "batch", "running"):
        raise UsageError("--dropout takes on|off and --bn auto|batch|running")
    if batch < 1:
        raise UsageError(f"--batch {batch}: must be >= 1")
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    items = image_inputs(inputs, "translate")
    if Path(net).suffix.lower() == ".pth":  # a generator saved by the reference code (ganctl.interop.pix2pix)
        G, net_path, family_name, channels, dev = _reference_generator(net, direction, device)
        direction = "AtoB"  # the file already is the generator of the asked direction
        bn = resolve_test_bn(bn, None)
    else:
        lg = load_generator(net, device, conditioning="image")
        family = get_family(lg.family)
        if family.extra.get("command") != "translate":
            raise UsageError(f"{net}: a model.family={lg.family} network; apply it with `ganctl {family.extra.get('command')}`")
        G, net_path, family_name, dev = lg.G, lg.path, lg.family, lg.device
        if direction == "BtoA" and not hasattr(G, "translate"):
            raise UsageError(f"--direction BtoA: {net} has one generator (model.family={lg.family}, input -> target); "
                             "only CycleGAN networks translate both ways")
        channels = int(lg.meta.get("dataset", {}).get("channels", 3))
        bn = resolve_test_bn(bn, lg.meta)
    images = [_decode(p, channels) for p, _ in items]  # every input decoded before anything is written
    set_test_modes(G, dropout, bn)
    if has_batch_norm(G):
        emit("batch norm by " + ("each image's own" if bn == "batch" else "the running") + " statistics (--bn)")
    mult = _multiple(G)
    torch.manual_seed(seed)
    prov = for_network(net_path, kind="image", seed=seed, output=output)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = PngWriter()
    padded = 0
    # Same-size images batch together, except under batch statistics (each image normalised by its own).
    groups: dict[tuple, list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault(img.shape, []).append(i)
    step = 1 if bn == "batch" else _pass_size(G, batch, torch.device(dev))
    done = 0
    with torch.no_grad():
        for shape, idx in groups.items():
            h, w = shape[:2]
            ph, pw = -h % mult, -w % mult
            if ph or pw:
                padded += len(idx)
                emit(f"{len(idx)} image(s) of {w}x{h}: padded to {w + pw}x{h + ph} (edge replication) for the generator's "
                     f"multiple of {mult}, outputs cropped back to {w}x{h}")
            for k in range(0, len(idx), step):
                chunk = idx[k:k + step]
                # plain NCHW strides, as the reference's data loader gives: a channels-last input (a permuted view; for
                # one channel even .contiguous() keeps its strides) makes the convs lay the seeded dropout masks over
                # other elements than the reference code does (same random numbers, another memory order)
                src = torch.from_numpy(np.stack([images[i] for i in chunk])).permute(0, 3, 1, 2)
                x = torch.empty(src.shape).copy_(src).div_(127.5).sub_(1)
                if ph or pw:
                    x = F.pad(x, (0, pw, 0, ph), mode="replicate")
                y = apply_generator(G, x.to(dev), direction)[..., :h, :w]
                for i, arr in zip(chunk, to_uint8(y).permute(0, 2, 3, 1).cpu().numpy()):
                    dest = out_dir / items[i][1]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    writer.submit(arr, dest, prov)
                done += len(chunk)
                emit(f"translated {done}/{len(images)}")
    writer.close()
    return {"network": str(net_path), "family": family_name, "direction": direction, "dropout": dropout, "bn": bn,
            "count": len(images), "padded": padded, "out": str(out_dir), "written": sorted(writer.written)}
