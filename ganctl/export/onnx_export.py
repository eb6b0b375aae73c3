"""`ganctl export --format onnx`: a generator (or its mapping / synthesis part) as an ONNX graph with a dynamic batch.

The graph is traced with torch.export (torch.onnx's dynamo exporter) while every native op runs its plain-PyTorch
reference (GANCTL_OPS=ref), so only standard ONNX operators appear. What the graph takes and returns is documented in
ganctl/export/graphs.py and written into the model: each input's and output's doc string, and metadata properties
`ganctl_version`, `network`, `network_sha256`, `family`, `part` plus `ganctl` (JSON: everything `ganctl sample
G.onnx` needs to draw the same latents as PyTorch). The file is written to a temp name and renamed, after
onnxruntime (when installed) has run it on two seeds and matched the PyTorch output.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ganctl.errors import GanctlError, UsageError

MIN_OPSET = 18          # the dynamo exporter's lowest
DEFAULT_OPSET = 18      # onnxruntime 1.16+ runs it; a later one only if asked
PARITY_TOL = 1e-4       # |onnxruntime - PyTorch| on [-1, 1] images


def require_onnx():
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter builds the graph with it)
    except ImportError as e:
        raise UsageError(f"ONNX export needs {e.name}: pip install 'ganctl[onnx]'") from None
    return onnx


@contextlib.contextmanager
def reference_ops():
    """Native ops off (their references are plain PyTorch, which exports to standard operators)."""
    old = os.environ.get("GANCTL_OPS")
    os.environ["GANCTL_OPS"] = "ref"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GANCTL_OPS", None)
        else:
            os.environ["GANCTL_OPS"] = old


def check_options(family, part: str, truncation_psi, truncation_cutoff, noise_mode: str, uint8: bool, opset: int,
                  max_opset: int, direction: str = "AtoB") -> None:
    """One-line refusals for what the family's graph cannot be."""
    if family.export is None:
        raise UsageError(f"export: the {family.name} family declares no ONNX export (ganctl/models/family.py Export)")
    if direction not in family.export.directions:
        if len(family.export.directions) < 2:
            raise UsageError(f"--direction {direction}: the {family.name} family has one generator; drop --direction")
        raise UsageError(f"--direction {direction}: use {' or '.join(family.export.directions)}")
    if family.image_conditioned and (truncation_psi is not None or truncation_cutoff is not None):
        raise UsageError(f"--truncation: the {family.name} family maps images to images (no latent to truncate); "
                         "drop it")
    if part not in family.export.parts:
        raise UsageError(f"--part {part}: the {family.name} family exports {', '.join(family.export.parts)}")
    if not MIN_OPSET <= opset <= max_opset:
        raise UsageError(f"--opset {opset}: use {MIN_OPSET}..{max_opset} (the exporter's lowest is {MIN_OPSET}; "
                         f"the installed onnx knows up to {max_opset})")
    if noise_mode not in ("const", "none"):
        raise UsageError(f"--noise-mode {noise_mode!r}: a graph holds const or none noise (random noise would not "
                         "follow the seed); use const or none")
    if truncation_psi is not None:
        if family.truncation == "z_resample":
            raise UsageError(f"--truncation: {family.name} truncates by redrawing z before G (a host-side loop); "
                             "export without --truncation and pass it to `ganctl sample G.onnx --truncation PSI`")
        if part == "synthesis":
            raise UsageError("--truncation: the synthesis part takes w, truncated already; export --part mapping with it")
    if truncation_cutoff is not None and family.truncation != "w_avg":
        raise UsageError(f"--truncation-cutoff: only style families truncate per layer ({family.name} does not)")
    if uint8 and part == "mapping":
        raise UsageError("--uint8: the mapping part outputs w, not an image; drop --uint8")


def export_onnx(source, out, part: str = "full", truncation_psi: float | None = None,
                truncation_cutoff: int | None = None, noise_mode: str = "const", uint8: bool = False,
                opset: int = DEFAULT_OPSET, verify: bool = True, direction: str = "AtoB") -> dict:
    onnx = require_onnx()
    import torch

    from ganctl import __version__
    from ganctl.export.graphs import Options, latent_graph
    from ganctl.models import get_family
    from ganctl.sampling.generate import load_generator
    from ganctl.sampling.provenance import for_network

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"--out {out}: name the file *.onnx")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    gen = load_generator(source, "cpu", conditioning=None)  # latent and image-to-image networks alike
    family = get_family(gen.family)
    check_options(family, part, truncation_psi, truncation_cutoff, noise_mode, uint8, int(opset),
                  onnx.defs.onnx_opset_version(), direction)
    G = gen.G
    if hasattr(G, "stage"):
        G.stage()  # read a growing network's stage while its buffers hold data (the trace sees constants)
    options = Options(part, truncation_psi, truncation_cutoff, noise_mode, uint8, dict(family.export.call_kwargs),
                      direction, int(gen.meta.get("dataset", {}).get("channels", 0) or 0))
    build = family.export.graph or (lambda G_, p, o: latent_graph(G_, p, o, family.truncation))
    graph = build(G, part, options)

    from torch.export import Dim

    dims = {}

    def dim(spec):  # "N": any size; ("H", m): a multiple of m, at least 2m (see Graph.dynamic)
        name, multiple = (spec, 0) if isinstance(spec, str) else spec
        if name not in dims:
            if not multiple:
                dims[name] = Dim(name, min=1, max=1 << 16)
            elif multiple == 1:
                dims[name] = Dim(name, min=2, max=1 << 15)
            else:
                dims[name] = multiple * Dim(f"{name}_over_{multiple}", min=2, max=(1 << 15) // multiple)
        return dims[name]

    shapes = tuple({axis: dim(spec) for axis, spec in graph.dynamic[n].items()} if n in graph.dynamic else None
                   for n in graph.input_names)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with reference_ops(), torch.no_grad(), _quiet():
            program = torch.onnx.export(graph.module, graph.args, input_names=graph.input_names,
                                        output_names=graph.output_names, opset_version=int(opset), dynamo=True,
                                        dynamic_shapes=shapes, external_data=False, optimize=True, verbose=False)
        model = program.model_proto
    except Exception as e:  # the exporter's errors are long; the first line says what failed
        tmp.unlink(missing_ok=True)
        raise GanctlError(f"export: torch.onnx could not export the {family.name} generator's {part} part: "
                          f"{str(e).strip().splitlines()[0][:300]}") from None

    sha = for_network(gen.path).network_sha256
    info = {"format": 1, "family": family.name, "part": part, "truncation_rule": family.truncation,
            "truncation_psi": truncation_psi, "truncation_cutoff": truncation_cutoff, "noise_mode": noise_mode,
            "uint8": uint8, "z_dim": int(getattr(G, "z_dim", 0)), "num_classes": gen.num_classes,
            "label_names": gen.label_names, "num_ws": int(getattr(G, "num_ws", 0) or 0),
            "w_dim": int(getattr(G, "w_dim", 0) or 0), "channels": int(getattr(G, "img_channels", 0) or options.channels),
            "conditioning": family.conditioning, "direction": direction if len(family.export.directions) > 1 else None,
            **gen.stage(), "inputs": graph.input_names, "outputs": graph.output_names, "doc": graph.doc}
    props = {"ganctl_version": __version__, "network": gen.path.name, "network_sha256": sha, "family": family.name,
             "part": part, "ganctl": json.dumps(info)}
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=str(v))
    model.producer_name, model.producer_version = "ganctl", __version__
    model.doc_string = (f"ganctl export of {gen.path.name} (sha256 {sha}), {family.name} {part}: "
                        + "; ".join(f"{k}: {v}" for k, v in graph.doc.items()))
    for value in list(model.graph.input) + list(model.graph.output):
        value.doc_string = graph.doc.get(value.name, "")
    try:
        onnx.save(model, str(tmp))
        parity = _verify(tmp, graph) if verify else None
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"out": str(out), "network": str(gen.path), "network_sha256": sha, "family": family.name, "part": part,
            "direction": info["direction"],
            "opset": int(opset), "inputs": graph.input_names, "outputs": graph.output_names, "bytes": out.stat().st_size,
            "max_abs_diff": parity}


def _verify(path: Path, graph) -> float | None:
    """Run the file in onnxruntime on fresh inputs of another batch size; refuse it if it differs from PyTorch."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    import numpy as np
    import torch

    gen = torch.Generator().manual_seed(0)
    feeds, args = {}, []
    for name, example in zip(graph.input_names, graph.args):
        if example.dtype == torch.int64:
            t = torch.zeros((3, *example.shape[1:]), dtype=torch.int64)  # class 0 exists in every conditional model
        elif example.ndim == 0:
            t = example.clone()
        else:
            t = torch.randn((3, *example.shape[1:]), generator=gen)
        args.append(t)
        feeds[name] = t.numpy()
    with reference_ops(), torch.no_grad():
        want = graph.module(*args).float().numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)[0]
    tol = 1.0 if got.dtype == np.uint8 else PARITY_TOL  # uint8: one level where a value sits on a rounding edge
    diff = float(np.abs(got.astype(np.float32) - want).max())
    if not diff <= tol:
        raise GanctlError(f"export: onnxruntime's output differs from PyTorch's by {diff:.3g} (> {tol}); "
                          "file not written")
    return diff


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress lines to stdout; stdout is for results here."""
    import io
    import sys
    import warnings

    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
        warnings.simplefilter("ignore")
        yield
