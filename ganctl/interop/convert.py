"""`ganctl convert`: a network from elsewhere -> a ganctl checkpoint (safetensors), written atomically.

After conversion the network is ours: sampling, metrics and `train --init` read the safetensors file with no pickle
involved. The checkpoint holds G, D and G_ema (those the file had, w_avg inside G/G_ema's mapping), a resolved
config whose `model:` section is the network's architecture, the dataset geometry, and `source` (path, sha256, format).
"""

from __future__ import annotations

import os
from pathlib import Path

from ganctl.errors import UsageError


def convert(source: str | os.PathLike, out: str | os.PathLike) -> dict:
    from ganctl.engine.checkpoint import save_checkpoint
    from ganctl.interop.network import read_network

    src, dst = Path(source), Path(out)
    if dst.suffix != ".safetensors":
        raise UsageError(f"{dst}: the output is a ganctl checkpoint; name it *.safetensors")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise UsageError(f"{dst}: output would overwrite the input; choose another path")
    if not dst.parent.is_dir():
        raise UsageError(f"{dst.parent}: output directory does not exist; create it first")
    net = read_network(src)  # everything is checked before anything is written
    tensors, meta = net.checkpoint()
    save_checkpoint(dst, tensors, meta)
    return {"out": str(dst), "source": net.origin(), "networks": net.networks, "resolution": net.resolution,
            "channels": net.channels, "classes": net.num_classes, "model": meta["config"]["model"]}
