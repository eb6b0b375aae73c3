"""Record BasicSR super-resolution reference outputs ONCE with BasicSR's own network code (run by a person, never by
the test suite).

    git clone https://github.com/XPixelGroup/BasicSR /tmp/BasicSR   # recorded at commit 8d56e3a
    python3 tests/interop/record_basicsr_reference.py /tmp/BasicSR

BasicSR's code is not part of ganctl and is never committed. Only its arch files are loaded (rrdbnet_arch, srvgg_arch,
srresnet_arch and their arch_util), with the package's heavy imports (the compiled deformable-conv op, the logger,
the registry) replaced by inert stand-ins that those three networks never call. Small networks are built with BasicSR's
classes, every weight perturbed from its seeded initialisation so each tensor matters, and run on a seeded [0, 1] input.
Output: tests/interop/fixtures/basicsr_reference.safetensors holding, per case NAME, `NAME/input`, `NAME/output` and
the state dict under `NAME/params/<BasicSR key>`, plus the constructor arguments in the metadata.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import torch

CASES = {
    "rrdbnet_x4": ("rrdbnet_arch", "RRDBNet", dict(num_in_ch=3, num_out_ch=3, scale=4, num_feat=16, num_block=2, num_grow_ch=8)),
    "rrdbnet_x2": ("rrdbnet_arch", "RRDBNet", dict(num_in_ch=3, num_out_ch=3, scale=2, num_feat=16, num_block=1, num_grow_ch=8)),
    "srvgg_x4": ("srvgg_arch", "SRVGGNetCompact", dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=4,
                                                      act_type="prelu")),
    "msrresnet_x4": ("srresnet_arch", "MSRResNet", dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_block=2, upscale=4)),
}


def _stub_package(root: Path) -> None:
    """Inert stand-ins for what basicsr/__init__ and arch_util import, so the arch files load alone."""
    class Registry:
        def register(self, obj=None, suffix=None):
            return obj if obj is not None else (lambda o: o)

    def pkg(name, path=None, **attrs):
        mod = types.ModuleType(name)
        if path is not None:
            mod.__path__ = [str(path)]
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
        return mod

    pkg("basicsr", root / "basicsr")
    pkg("basicsr.utils", root / "basicsr" / "utils", get_root_logger=lambda *a, **k: None)
    pkg("basicsr.utils.registry", ARCH_REGISTRY=Registry())
    pkg("basicsr.ops", root / "basicsr" / "ops")
    pkg("basicsr.ops.dcn", ModulatedDeformConvPack=torch.nn.Module, modulated_deform_conv=None)
    pkg("basicsr.archs", root / "basicsr" / "archs")


def main(root: str) -> None:
    _stub_package(Path(root))
    tensors, meta = {}, {}
    for i, (name, (module, cls, kwargs)) in enumerate(CASES.items()):
        arch = importlib.import_module(f"basicsr.archs.{module}")
        torch.manual_seed(100 + i)
        net = getattr(arch, cls)(**kwargs).eval()
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        x = torch.rand(2, 3, 12, 10, generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            y = net(x)
        tensors[f"{name}/input"] = x
        tensors[f"{name}/output"] = y.contiguous()
        for k, v in net.state_dict().items():
            tensors[f"{name}/params/{k}"] = v.contiguous()
        meta[name] = {"class": cls, "kwargs": kwargs}
    from safetensors.torch import save_file

    dest = Path(__file__).resolve().parent / "fixtures" / "basicsr_reference.safetensors"
    save_file(tensors, str(dest), metadata={"cases": json.dumps(meta), "source": "XPixelGroup/BasicSR 8d56e3a"})
    print(dest, sum(t.numel() for t in tensors.values()))


if __name__ == "__main__":
    main(sys.argv[1])
