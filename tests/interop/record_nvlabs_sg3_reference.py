"""Record the NVlabs StyleGAN3 reference fixture ONCE with NVlabs' own code (run by a person, never by the tests).

    python3 tests/interop/record_nvlabs_sg3_reference.py /tmp/stylegan3

The argument is a local copy of github.com/NVlabs/stylegan3 (never committed). Its code needs `pkg_resources`
(setuptools), which recent environments lack: a stand-in with `parse_version` from `packaging` is installed for
this run only. Two small networks are built with networks_stylegan3.Generator and networks_stylegan2.Discriminator,
every weight perturbed so each tensor matters (magnitude EMAs multiplicatively, so they stay positive; the designed
FIR filters and the identity `transform` are kept):

- `sg3_t`: -t, 16x16 RGB, unconditional, NVlabs' default 14 layers / margin 10, fp16 layers declared (forced to fp32);
- `sg3_r`: -r (1x1 convs, radial filters, channels doubled vs D), 16x16 grey, 3 classes, 6 layers, margin 4.

Stored (tests/interop/fixtures/nvlabs_sg3_reference.{json,safetensors}): each module's class name, attributes and
constructor arguments (the pickle's object tree minus code; numpy arrays as lists), the state dicts under NVlabs'
names, and NVlabs' outputs: w = G_ema.mapping(z, c, psi, cutoff), img = G_ema(z, c, psi, cutoff, noise_mode='const',
force_fp32=True) for z = RandomState(seed).randn(1, z_dim), G's images, D's logits, and the image with
synthesis.input.transform = inverse(gen_images.make_transform(TRANSLATE, ROTATE)) as their gen_images.py sets it.

Before writing, it also pickles the NVlabs objects themselves (with their persistence module: real files) and reads
them back with ganctl's reader, checking ganctl's images against theirs; the result is printed, not stored.
"""

from __future__ import annotations

import copy
import importlib
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent / "fixtures"
SEEDS = [0, 1, 2, 5]
TRUNCATIONS = [(1.0, None), (0.7, None), (-0.3, None), (0.5, 3)]  # (psi, cutoff)
TRANSLATE, ROTATE = (0.15, -0.1), 20.0


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return {"__ndarray__": str(v.dtype), "value": v.tolist()}
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
    attrs = {k: _jsonable(v) for k, v in m.__dict__.items() if not k.startswith("_") and k != "training"}
    return {"class_name": type(m).__name__, "training": m.training, "attrs": attrs,
            "init_args": _jsonable(list(m._init_args)), "init_kwargs": _jsonable(dict(m._init_kwargs)),
            "parameters": [k for k, v in m._parameters.items() if v is not None],
            "buffers": [k for k, v in m._buffers.items() if v is not None],
            "non_persistent": sorted(m._non_persistent_buffers_set),
            "modules": {k: (module_tree(s) if s is not None else None) for k, s in m._modules.items()}}


def perturb(module: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith(("resample_filter", "up_filter", "down_filter", "transform")):
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("magnitude_ema"):
                t.mul_(torch.exp(noise * 0.5))
            else:
                t.add_(noise * (0.5 if t.ndim <= 1 else 0.2))


def outputs_of(G, G_ema, D, z, c, make_transform) -> dict:
    out = {}
    with torch.no_grad():
        for i, (psi, cutoff) in enumerate(TRUNCATIONS):
            out[f"out/w_{i}"] = G_ema.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
            out[f"out/img_{i}"] = G_ema(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const",
                                        force_fp32=True)
        out["out/G_img"] = G(z, c, noise_mode="const", force_fp32=True)
        out["out/D_logits"] = D(out["out/img_0"], c, force_fp32=True)
        saved = G_ema.synthesis.input.transform.clone()
        m = np.linalg.inv(make_transform(TRANSLATE, ROTATE))
        G_ema.synthesis.input.transform.copy_(torch.from_numpy(m))
        out["out/img_transform"] = G_ema(z, c, noise_mode="const", force_fp32=True)
        G_ema.synthesis.input.transform.copy_(saved)
    return out


def record_case(n3, n2, make_transform, G_kwargs, D_kwargs, c_dim, seed):
    torch.manual_seed(seed)
    G = n3.Generator(**G_kwargs).eval()
    D = n2.Discriminator(**D_kwargs).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    perturb(G, gen)
    perturb(D, gen)
    G_ema = copy.deepcopy(G)
    perturb(G_ema, gen)
    tensors = {f"{n}/{k}": v.detach().clone().contiguous() for n, net in (("G", G), ("D", D), ("G_ema", G_ema))
               for k, v in net.state_dict().items()}
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in SEEDS]))
    classes = [s % c_dim for s in SEEDS] if c_dim else []
    c = torch.nn.functional.one_hot(torch.tensor(classes), c_dim).float() if c_dim else torch.zeros([len(SEEDS), 0])
    out = outputs_of(G, G_ema, D, z, c, make_transform)
    tensors.update({k: v.float().contiguous() for k, v in out.items()})
    meta = {"trees": {n: module_tree(m) for n, m in (("G", G), ("D", D), ("G_ema", G_ema))}, "seeds": SEEDS,
            "classes": classes, "truncations": TRUNCATIONS, "c_dim": c_dim, "translate": TRANSLATE, "rotate": ROTATE}
    return tensors, meta, (G, D, G_ema, z, c, out)


def selfcheck(objs, name) -> str:
    """Pickle NVlabs' own objects (a real file, their embedded source included) and compare ganctl's images."""
    import pickle

    G, D, G_ema, z, c, out = objs
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from ganctl.interop.network import read_network
    from ganctl.models import build_networks

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"{name}.pkl"
        p.write_bytes(pickle.dumps({"G": G, "D": D, "G_ema": G_ema, "augment_pipe": None}))
        net = read_network(p)
    tensors, meta = net.checkpoint()
    Gg, _ = build_networks(meta["config"], net.resolution, net.channels, net.num_classes)
    Gg.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("G_ema/")})
    with torch.no_grad():
        img = Gg(z.float(), c.argmax(1) if net.num_classes else None, noise_mode="const")
    return f"{name}: real NVlabs pickle through ganctl, max |img diff| = {float((img - out['out/img_0']).abs().max()):.2e}"


def main(sg3_root: str) -> None:
    import packaging.version
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    sys.modules.setdefault("pkg_resources", types.SimpleNamespace(parse_version=packaging.version.parse))
    sys.path.insert(0, sg3_root)
    n3 = importlib.import_module("training.networks_stylegan3")
    n2 = importlib.import_module("training.networks_stylegan2")
    make_transform = importlib.import_module("gen_images").make_transform
    head = subprocess.run(["git", "-C", sg3_root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    all_tensors, cases, checks = {}, {}, []
    specs = {
        "sg3_t": (dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                       channel_base=512, channel_max=16, num_fp16_res=2),
                  dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=512, channel_max=16, num_fp16_res=2,
                       conv_clamp=256, block_kwargs={}, mapping_kwargs={}, epilogue_kwargs={}), 0, 3),
        "sg3_r": (dict(z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=1, mapping_kwargs=dict(num_layers=2),
                       channel_base=512, channel_max=32, num_layers=6, margin_size=4, num_fp16_res=0, conv_kernel=1,
                       use_radial_filters=True, magnitude_ema_beta=0.99),
                  dict(c_dim=3, img_resolution=16, img_channels=1, channel_base=256, channel_max=16, num_fp16_res=0,
                       conv_clamp=256, block_kwargs={}, mapping_kwargs=dict(num_layers=2), epilogue_kwargs={}), 3, 4),
    }
    for name, (gk, dk, c_dim, seed) in specs.items():
        t, m, objs = record_case(n3, n2, make_transform, gk, dk, c_dim, seed)
        cases[name] = {**m, "source": "NVlabs/stylegan3 " + head, "module": "training.networks_stylegan3"}
        all_tensors.update({f"{name}/{k}": v for k, v in t.items()})
        checks.append(selfcheck(objs, name))
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(all_tensors, str(OUT / "nvlabs_sg3_reference.safetensors"))
    (OUT / "nvlabs_sg3_reference.json").write_text(json.dumps({"torch": torch.__version__, "cases": cases}, indent=1))
    print(f"wrote {OUT}/nvlabs_sg3_reference.{{json,safetensors}}: {len(all_tensors)} tensors")
    print("\n".join(checks))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} STYLEGAN3_DIR")
    main(sys.argv[1])
