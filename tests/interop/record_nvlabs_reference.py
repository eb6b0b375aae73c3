"""Record the NVlabs reference fixture ONCE with NVlabs' own code (run by a person, never by the test suite).

    python3 tests/interop/record_nvlabs_reference.py /tmp/nvlabs /tmp/stylegan3

The two arguments are local copies of github.com/NVlabs/stylegan2-ada-pytorch and github.com/NVlabs/stylegan3 (their
code is not part of ganctl and is never committed). Two small networks are built with their classes, every weight
perturbed so each tensor matters (noise strengths, biases, w_avg are zero or constant at init):

- `ada_uncond`: stylegan2-ada-pytorch, 32x32 RGB, unconditional, fp16 layers declared (forced to fp32 here), clamp 256;
- `sg3_cond`: stylegan3 repository's networks_stylegan2 (`--cfg stylegan2`), 16x16 grey, 3 classes, no clamp,
  D architecture 'orig', minibatch-std group 2.

For each, the fixture stores every module's class name, attributes and constructor arguments (the pickle's object
tree minus code), the state dicts under NVlabs' names, and NVlabs' outputs: w = G_ema.mapping(z, c, psi, cutoff) and
img = G_ema(z, c, psi, cutoff, noise_mode='const', force_fp32=True) for z = RandomState(seed).randn(1, z_dim), plus
G's images and D's logits. Output: tests/interop/fixtures/nvlabs_reference.{json,safetensors}.
"""

from __future__ import annotations

import copy
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent / "fixtures"
SEEDS = [0, 1, 2, 5]
TRUNCATIONS = [(1.0, None), (0.7, None), (-0.3, None), (0.5, 2)]  # (psi, cutoff)


def _jsonable(v):
    if isinstance(v, np.generic):
        return {"__numpy__": str(v.dtype), "value": v.item()}
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    raise TypeError(f"cannot record attribute value {v!r}")


def module_tree(m: torch.nn.Module) -> dict:
    """The pickled object tree of an NVlabs persistent module, without tensors' data and without source code."""
    attrs = {k: _jsonable(v) for k, v in m.__dict__.items()
             if not k.startswith("_") and k != "training"}
    return {"class_name": type(m).__name__, "training": m.training, "attrs": attrs,
            "init_args": _jsonable(list(m._init_args)), "init_kwargs": _jsonable(dict(m._init_kwargs)),
            "parameters": list(m._parameters), "buffers": list(m._buffers),
            "non_persistent": sorted(m._non_persistent_buffers_set),
            "modules": {k: (module_tree(s) if s is not None else None) for k, s in m._modules.items()}}


def perturb(module: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("resample_filter"):
                continue
            t.add_(torch.randn(t.shape, generator=gen) * (0.5 if t.ndim <= 1 else 0.2))


def record_case(networks, G_kwargs: dict, D_kwargs: dict, c_dim: int, seed: int) -> tuple[dict, dict]:
    torch.manual_seed(seed)
    G = networks.Generator(**G_kwargs).eval()
    D = networks.Discriminator(**D_kwargs).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    perturb(G, gen)
    perturb(D, gen)
    G_ema = copy.deepcopy(G)
    perturb(G_ema, gen)
    tensors, outputs = {}, {}
    for name, net in (("G", G), ("D", D), ("G_ema", G_ema)):
        for k, v in net.state_dict().items():
            tensors[f"{name}/{k}"] = v.detach().clone().contiguous()
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in SEEDS]))
    classes = [s % c_dim for s in SEEDS] if c_dim else []
    c = torch.nn.functional.one_hot(torch.tensor(classes), c_dim).float() if c_dim else torch.zeros([len(SEEDS), 0])
    with torch.no_grad():
        for i, (psi, cutoff) in enumerate(TRUNCATIONS):
            outputs[f"out/w_{i}"] = G_ema.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            outputs[f"out/img_{i}"] = G_ema(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const",
                                            force_fp32=True)
        outputs["out/G_img"] = G(z, c, noise_mode="const", force_fp32=True)
        outputs["out/D_logits"] = D(outputs["out/img_0"], c, force_fp32=True)
    tensors.update({k: v.float().contiguous() for k, v in outputs.items()})
    meta = {"trees": {n: module_tree(m) for n, m in (("G", G), ("D", D), ("G_ema", G_ema))},
            "seeds": SEEDS, "classes": classes, "truncations": TRUNCATIONS, "c_dim": c_dim}
    return tensors, meta


def _git_head(path: str) -> str:
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def _import_networks(root: str, module: str):
    sys.path.insert(0, root)
    try:
        for name in [m for m in sys.modules if m.split(".")[0] in ("training", "torch_utils", "dnnlib")]:
            del sys.modules[name]
        return importlib.import_module(module)
    finally:
        sys.path.remove(root)


def main(ada_root: str, sg3_root: str) -> None:
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    all_tensors, cases = {}, {}
    ada = _import_networks(ada_root, "training.networks")
    t, m = record_case(ada, dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
                                 mapping_kwargs=dict(num_layers=2),
                                 synthesis_kwargs=dict(channel_base=256, channel_max=32, num_fp16_res=2,
                                                       conv_clamp=256)),
                       dict(c_dim=0, img_resolution=32, img_channels=3, channel_base=256, channel_max=32,
                            num_fp16_res=2, conv_clamp=256, block_kwargs={}, mapping_kwargs={}, epilogue_kwargs={}),
                       c_dim=0, seed=1)
    cases["ada_uncond"] = {**m, "source": "NVlabs/stylegan2-ada-pytorch " + _git_head(ada_root),
                           "module": "training.networks"}
    all_tensors.update({f"ada_uncond/{k}": v for k, v in t.items()})
    sg3 = _import_networks(sg3_root, "training.networks_stylegan2")
    t, m = record_case(sg3, dict(z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=1,
                                 mapping_kwargs=dict(num_layers=2), channel_base=128, channel_max=16,
                                 num_fp16_res=0, conv_clamp=None),
                       dict(c_dim=3, img_resolution=16, img_channels=1, architecture="orig", channel_base=128,
                            channel_max=16, num_fp16_res=0, conv_clamp=None, block_kwargs={},
                            mapping_kwargs=dict(num_layers=2), epilogue_kwargs=dict(mbstd_group_size=2)),
                       c_dim=3, seed=2)
    cases["sg3_cond"] = {**m, "source": "NVlabs/stylegan3 " + _git_head(sg3_root),
                         "module": "training.networks_stylegan2"}
    all_tensors.update({f"sg3_cond/{k}": v for k, v in t.items()})
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(all_tensors, str(OUT / "nvlabs_reference.safetensors"))
    (OUT / "nvlabs_reference.json").write_text(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1))
    print(f"wrote {OUT}/nvlabs_reference.{{json,safetensors}}: {len(all_tensors)} tensors")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} STYLEGAN2_ADA_PYTORCH_DIR STYLEGAN3_DIR")
    main(sys.argv[1], sys.argv[2])
