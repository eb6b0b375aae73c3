"""Record the rosinality stylegan2-pytorch reference fixture ONCE with that project's own code (run by a person).

    python3 tests/interop/record_rosinality_reference.py /tmp/rosinality

The argument is a local copy of github.com/rosinality/stylegan2-pytorch (never committed). Two local adjustments,
made here at run time and never to the copy on disk: its `op/` package compiles CUDA kernels at import, so
`torch.utils.cpp_extension.load` is replaced by a no-op while importing it (on CPU, `op` uses its own plain-PyTorch
paths, upfirdn2d_native and the leaky-ReLU fallback, and never touches the compiled modules); and its channel table
(512 up to 32x32) is shrunk to {4: 32, 8: 32, 16: 16} so the fixture stays small.

A 16x16 G/D pair (style_dim 16, n_mlp 2) is built, every weight perturbed, and the fixture stores the state dicts in
rosinality's names, the `args` a training checkpoint carries, `latent_avg` (= g_ema.mean_latent(4096), what its
generate.py truncates towards), and its outputs for z = RandomState(seed).randn(1, 16): w = g_ema.get_latent(z) and
g_ema([z], truncation=psi, truncation_latent=latent_avg, randomize_noise=False) (its const noise buffers), G's images
and D's logits. Output: tests/interop/fixtures/rosinality_reference.{json,safetensors}.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent / "fixtures"
SEEDS = [0, 1, 2, 5]
TRUNCATIONS = [1.0, 0.7, 0.5]
ARGS = {"size": 16, "latent": 16, "n_mlp": 2, "channel_multiplier": 2}


def import_model(root: Path):
    import torch.utils.cpp_extension as cpp

    sys.path.insert(0, str(root))
    real_load = cpp.load
    cpp.load = lambda *a, **k: None  # op/ would compile CUDA kernels here; its CPU paths never use them
    try:
        import op  # noqa: F401
    finally:
        cpp.load = real_load
    src = (root / "model.py").read_text()
    src, n = re.subn(r"channels = \{[^}]*\}", "channels = {4: 32, 8: 32, 16: 16}", src)
    assert n == 2, "expected the G and D channel tables in model.py"
    spec = importlib.util.spec_from_loader("rosinality_model", loader=None)
    mod = importlib.util.module_from_spec(spec)
    exec(compile(src, str(root / "model.py"), "exec"), mod.__dict__)
    return mod


def perturb(module: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("kernel"):  # FIR filters
                continue
            t.add_(torch.randn(t.shape, generator=gen) * (0.5 if t.numel() <= 64 else 0.2))


def main(root: str) -> None:
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    model = import_model(Path(root))
    torch.manual_seed(3)
    g = model.Generator(ARGS["size"], ARGS["latent"], ARGS["n_mlp"], channel_multiplier=ARGS["channel_multiplier"]).eval()
    d = model.Discriminator(ARGS["size"], channel_multiplier=ARGS["channel_multiplier"]).eval()
    gen = torch.Generator().manual_seed(4)
    perturb(g, gen)
    perturb(d, gen)
    g_ema = copy.deepcopy(g)
    perturb(g_ema, gen)
    tensors = {f"{n}/{k}": v.detach().clone().contiguous()
               for n, net in (("g", g), ("d", d), ("g_ema", g_ema)) for k, v in net.state_dict().items()}
    z = torch.from_numpy(np.stack([np.random.RandomState(s).randn(ARGS["latent"]) for s in SEEDS])).float()
    with torch.no_grad():
        torch.manual_seed(5)
        latent_avg = g_ema.mean_latent(4096)[0]
        tensors["latent_avg"] = latent_avg.clone()
        tensors["out/w"] = g_ema.get_latent(z)
        for i, psi in enumerate(TRUNCATIONS):
            tensors[f"out/img_{i}"] = g_ema([z], truncation=psi, truncation_latent=latent_avg,
                                            randomize_noise=False)[0]
        tensors["out/g_img"] = g([z], randomize_noise=False)[0]
        tensors["out/d_logits"] = d(tensors["out/img_0"])
    head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "rosinality_reference.safetensors"))
    (OUT / "rosinality_reference.json").write_text(json.dumps(
        {"source": f"rosinality/stylegan2-pytorch {head}", "torch": torch.__version__, "args": ARGS,
         "seeds": SEEDS, "truncations": TRUNCATIONS}, indent=1))
    print(f"wrote {OUT}/rosinality_reference.{{json,safetensors}}: {len(tensors)} tensors")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} ROSINALITY_STYLEGAN2_PYTORCH_DIR")
    main(sys.argv[1])
