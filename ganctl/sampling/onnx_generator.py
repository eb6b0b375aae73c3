"""Sampling from a graph written by `ganctl export --format onnx`, through onnxruntime: the same per-seed latents,
classes and truncation rules as the PyTorch path (sampling/latents.py), read from the model's `ganctl` metadata, so
`ganctl sample G.onnx --seeds ...` gives the images `ganctl sample NET --seeds ...` gives (within 1e-4 before
rounding to uint8).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError


def is_onnx(source) -> bool:
    return source is not None and Path(source).suffix.lower() == ".onnx"


class OnnxGenerator:
    """The `LoadedGenerator` surface `api.sample` uses (path, num_classes, iter_images, stage), on onnxruntime."""

    def __init__(self, path: str | os.PathLike, device: str = "auto"):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UsageError("sampling an ONNX file needs onnxruntime: pip install 'ganctl[onnx]'") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise UsageError(f"{self.path}: no such ONNX file")
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        elif device not in ("auto", "cpu"):
            raise UsageError(f"--device {device}: onnxruntime here runs on {', '.join(ort.get_available_providers())}")
        opts = ort.SessionOptions()
        import torch

        opts.intra_op_num_threads = torch.get_num_threads()  # the same thread budget as the PyTorch path
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as e:
            raise UsageError(f"{self.path}: onnxruntime cannot load it ({str(e).splitlines()[0][:200]})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "ganctl" not in props:
            raise UsageError(f"{self.path}: not written by `ganctl export` (no ganctl metadata); ganctl samples only its own exports")
        self.info = json.loads(props["ganctl"])
        self.network_sha256 = props.get("network_sha256")
        if self.info.get("conditioning") == "image":  # sample draws latents; these graphs take images
            cmd = "upscale" if self.info["family"] == "sr" else "translate"
            raise UsageError(f"{self.path}: an image-to-image graph ({self.info['family']}: input `input` float32 NCHW "
                             "in [-1, 1]); `sample` draws latents: run it with onnxruntime, or apply the network "
                             f"itself with `ganctl {cmd} NET INPUT... --out DIR`")
        if self.info["part"] != "full":
            raise UsageError(f"{self.path}: holds the {self.info['part']} part; `sample` needs an export with --part full")
        self.num_classes = int(self.info["num_classes"])
        self.label_names = self.info.get("label_names", [])
        self.family = self.info["family"]
        self.inputs = [i.name for i in self.session.get_inputs()]

    def stage(self) -> dict:
        return {k: self.info[k] for k in ("resolution", "alpha") if k in self.info}

    def truncation_psi(self, psi: float) -> float:
        """The psi the images will have: the requested one, or the graph's own when it was fixed at export."""
        fixed = self.info.get("truncation_psi")
        if fixed is None or psi == fixed:
            return psi
        if psi == 1:
            return fixed
        raise UsageError(f"--truncation {psi}: {self.path.name} was exported with --truncation {fixed} fixed; "
                         "drop --truncation or export again without it")

    def check(self, truncation_cutoff, noise_mode: str, class_idx) -> None:
        if noise_mode != self.info["noise_mode"]:
            raise UsageError(f"--noise-mode {noise_mode}: {self.path.name} was exported with noise mode "
                             f"{self.info['noise_mode']}; use that")
        if truncation_cutoff != self.info.get("truncation_cutoff"):
            raise UsageError(f"--truncation-cutoff {truncation_cutoff}: {self.path.name} was exported with cutoff "
                             f"{self.info.get('truncation_cutoff')}; use that")
        if class_idx is not None:
            if not self.num_classes:
                raise UsageError("--class: this generator is unconditional; drop --class")
            if not 0 <= class_idx < self.num_classes:
                raise UsageError(f"--class {class_idx}: out of range; this generator has classes 0..{self.num_classes - 1}")

    def use_standing_stats(self, passes: int, batch_size: int = 64) -> None:
        raise UsageError("--standing-stats: an ONNX graph has fixed batch-norm statistics; apply them before export")

    def run(self, seeds, truncation_psi=1.0, class_idx=None) -> np.ndarray:
        """The graph's output for `seeds`: float32 [-1, 1] or uint8 (N, C, H, W)."""
        from ganctl.sampling.latents import classes_for_seeds, split_truncation, z_for_seeds

        psi = self.truncation_psi(truncation_psi)
        resample_psi, g_psi = split_truncation(self.info["truncation_rule"], psi)
        feeds = {"z": z_for_seeds(seeds, self.info["z_dim"], "cpu", resample_psi).numpy()}
        if "c" in self.inputs:
            feeds["c"] = classes_for_seeds(seeds, self.num_classes, class_idx).numpy()
        if "psi" in self.inputs:
            feeds["psi"] = np.asarray(g_psi, dtype=np.float32)
        return self.session.run(None, feeds)[0]

    def iter_images(self, seeds, truncation_psi=1.0, class_idx=None, batch_size=64, truncation_cutoff=None,
                    noise_mode="const"):
        """uint8 (B, C, H, W) CPU tensors for `seeds` in order, as LoadedGenerator.iter_images."""
        import torch

        from ganctl.sampling.latents import to_uint8

        self.check(truncation_cutoff, noise_mode, class_idx)
        seeds = list(seeds)
        for i in range(0, len(seeds), batch_size):
            out = torch.from_numpy(self.run(seeds[i:i + batch_size], truncation_psi, class_idx))
            yield out if out.dtype == torch.uint8 else to_uint8(out)
