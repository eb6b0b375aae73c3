"""An imported network in memory, whatever reader produced it: `ImportedNetwork` (tensors under ganctl's state_dict
names, the derived `model:` section, image geometry, origin), the check that it fits the ganctl family it names, and
the JSON-safe copy of recorded constructor arguments.

The one home of what every reader in interop/ returns (NVlabs StyleGAN2 and StyleGAN3 pickles, rosinality
checkpoints); readers import this module, and `network.py` (which picks a reader by content) imports them, so there
is no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganctl.errors import UsageError


@dataclass
class ImportedNetwork:
    path: Path
    sha256: str
    format: str                      # nvlabs-pickle | rosinality-pt | basicsr-pth | pix2pix-cyclegan-pth
    model: dict                      # ganctl `model:` section (family, conditional, mapped keys)
    resolution: int
    channels: int
    num_classes: int
    tensors: dict                    # "G/…", "D/…", "G_ema/…" in ganctl state_dict names
    kimg: float | None = None
    dataset_name: str | None = None
    dataset_count: int = 0
    extra: dict = field(default_factory=dict)
    loss: dict | None = None         # the training objective; None: the family's natural loss (stylegan2, sr, ...)

    @property
    def networks(self) -> list[str]:
        return [n for n in ("G", "D", "G_ema") if any(k.startswith(n + "/") for k in self.tensors)]

    @property
    def label_names(self) -> list[str]:
        return [str(i) for i in range(self.num_classes)]

    def origin(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "format": self.format}

    def config(self) -> dict:
        """A valid resolved ganctl config: defaults with this network's `model:` and `loss:` sections."""
        from ganctl.config.load import validate_resolved
        from ganctl.models import get_family

        loss = dict(self.loss) if self.loss else {"type": get_family(self.model.get("family", "stylegan2")).losses[0]}
        return validate_resolved({"preset": "converted", "model": dict(self.model), "loss": loss})

    def checkpoint(self) -> tuple[dict, dict]:
        """(tensors, meta) as a ganctl checkpoint holds them; what `convert` writes and `sample` reads in memory."""
        meta = {"config": self.config(),
                "dataset": {"name": self.dataset_name or self.path.stem, "resolution": self.resolution,
                            "channels": self.channels, "label_names": self.label_names, "count": self.dataset_count},
                "source": {**self.origin(), "kimg": self.kimg, "networks": self.networks,
                           "arguments": self.extra.get("arguments", {})},
                "precision": "fp32"}
        return _own_storage(self.tensors), meta


def _own_storage(tensors: dict) -> dict:
    """Each tensor in its own storage (safetensors refuses shared ones); copies only views and shared buffers."""
    out, seen = {}, set()
    for k, t in tensors.items():
        t = t.contiguous()
        st = t.untyped_storage()
        if st.data_ptr() in seen or st.nbytes() != t.numel() * t.element_size():
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[k] = t
    return out


def plain_data(value):
    """JSON-safe copy of recorded arguments: numbers, strings, bools, None, lists and dicts of them; others dropped."""
    if isinstance(value, dict):
        items = ((str(k), plain_data(v)) for k, v in value.items())
        return {k: v for k, v in items if v is not _DROP}
    if isinstance(value, (list, tuple)):
        return [x for x in map(plain_data, value) if x is not _DROP]
    if isinstance(value, (bool, int, float, str, type(None))):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return value.item()
    return _DROP


_DROP = object()


def build_meta(model: dict, resolution: int, channels: int, num_classes: int):
    """(G, D) of the model's ganctl family on the meta device: names and shapes, no memory, no initialisation cost."""
    from ganctl.models import get_family

    family = get_family(model.get("family", "stylegan2"))
    with torch.device("meta"):
        # Readers give the keys they derive; the family's defaults fill the rest, as the config layer would.
        cfg = {**family.defaults, **{k: v for k, v in model.items() if k not in ("family", "conditional")}}
        return family.build(cfg, resolution, channels, num_classes)


def check_fits(net: ImportedNetwork) -> None:
    """Every network's tensors match the ganctl family's names and shapes exactly (no missing, no extra)."""
    G, D = build_meta(net.model, net.resolution, net.channels, net.num_classes)
    for prefix in net.networks:
        want = {k: tuple(v.shape) for k, v in (D if prefix == "D" else G).state_dict().items()}
        have = {k[len(prefix) + 1:]: tuple(v.shape) for k, v in net.tensors.items() if k.startswith(prefix + "/")}
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        shapes = [k for k in want if k in have and want[k] != have[k]]
        if missing or extra or shapes:
            what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra
                    else f"{shapes[0]} is {have[shapes[0]]}, expected {want[shapes[0]]}")
            family = {"stylegan2": "StyleGAN2", "stylegan3": "StyleGAN3", "sr": "super-resolution",
                       "pix2pix": "pix2pix", "cyclegan": "CycleGAN"}.get(
                net.model.get("family"), "network")
            raise UsageError(f"{net.path}: {prefix} does not fit ganctl's {family} with the recorded arguments "
                             f"({what}); this network's architecture is not one ganctl supports")
