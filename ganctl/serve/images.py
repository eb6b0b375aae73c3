"""What the servers draw, as PNG bytes written by `save_png` with provenance, exactly as the commands write them.

`seed_png` follows `ganctl sample`'s per-seed path step by step (same latents, same uint8 rounding, same provenance
fields), so a served PNG is byte for byte the file `ganctl sample` writes. The explorer's extras (style-mix cells,
interpolation, edit directions) reuse sampling/ and latent/ and state what they are in their provenance `kind`.
Every function here runs on the generation worker's thread (worker.py), which owns the generator.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError


class Renderer:
    def __init__(self, gen, directions=None):
        from ganctl.sampling.provenance import for_network

        self.gen, self.directions = gen, directions
        self.base = for_network(gen.path)  # hashes the network once
        self._tmp = tempfile.TemporaryDirectory(prefix="ganctl-serve-")
        G = gen.G
        self.style = hasattr(G, "mapping") and hasattr(G, "num_ws")
        if directions is not None and not self.style:
            raise UsageError("--directions: edit directions act on W; this generator has no mapping network")

    def info(self) -> dict:
        G, gen = self.gen.G, self.gen
        d = self.directions
        return {"network": gen.path.name, "network_sha256": self.base.network_sha256, "family": gen.family,
                **gen.stage(), "num_classes": gen.num_classes, "label_names": gen.label_names,
                "truncation_rule": gen.truncation, "style": self.style,
                "num_ws": int(G.num_ws) if self.style else 0,
                "directions": [{"index": i, "name": str(n)} for i, n in enumerate(d.names)] if d is not None else []}

    def _png(self, array_hwc: np.ndarray, prov) -> bytes:
        """Through save_png (and whatever hooks it applies), then read back."""
        from ganctl.sampling.grid import save_png

        path = Path(self._tmp.name) / "out.png"  # one worker thread: one file at a time
        save_png(array_hwc, path, prov)
        return path.read_bytes()

    def _prov(self, **fields):
        return self.base.with_(**fields)

    def class_of(self, seed: int, class_idx):
        n = self.gen.num_classes
        return class_idx if class_idx is not None or not n else seed % n

    def seeds(self, seeds, psi=1.0, class_idx=None, cutoff=None, noise_mode="const", batch_size=32):
        """uint8 (N, C, H, W) images, as `ganctl sample` makes them."""
        import torch

        return torch.cat(list(self.gen.iter_images(seeds, psi, class_idx, batch_size, cutoff, noise_mode)))

    def seed_png(self, img, seed, psi, class_idx, noise_mode) -> bytes:
        prov = self._prov(class_idx=class_idx, truncation_psi=psi, noise_mode=noise_mode)
        return self._png(img.permute(1, 2, 0).numpy(), prov.with_(seed=seed, class_idx=self.class_of(seed, class_idx)))

    def grid_png(self, imgs, seeds, psi, class_idx, noise_mode) -> bytes:
        from ganctl.sampling.grid import make_grid
        from ganctl.sampling.provenance import seed_list

        prov = self._prov(class_idx=class_idx, truncation_psi=psi, noise_mode=noise_mode)
        return self._png(make_grid(imgs), prov.with_(kind="grid", seeds=seed_list(seeds)))

    # --- the explorer's extras (style generators) ---------------------------------------------------------------

    def _need_style(self, what: str) -> None:
        if not self.style:
            raise UsageError(f"{what}: needs a style-based generator (a mapping network); this is {self.gen.family}")

    def _ws(self, seeds, psi, class_idx, cutoff):
        from ganctl.sampling.latents import classes_for_seeds, z_for_seeds

        G, dev = self.gen.G, self.gen.device
        self.gen._check_class(class_idx)
        z = z_for_seeds(seeds, G.z_dim, dev)
        c = classes_for_seeds(seeds, self.gen.num_classes, class_idx, dev)
        return G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)

    def _synth(self, ws, noise_mode):
        import torch

        from ganctl.sampling.latents import to_uint8

        with torch.no_grad():
            return to_uint8(self.gen.G.synthesis(ws, noise_mode=noise_mode))[0].cpu().permute(1, 2, 0).numpy()

    def edit_png(self, seed, psi, class_idx, cutoff, noise_mode, direction: int, strength: float) -> bytes:
        from ganctl.latent.directions import apply_direction

        self._need_style("direction")
        if self.directions is None:
            raise UsageError("direction: no edit directions loaded; start with --directions dirs.npz")
        if not 0 <= direction < len(self.directions.names):
            raise UsageError(f"direction {direction}: out of range 0-{len(self.directions.names) - 1}")
        import torch

        with torch.no_grad():
            ws = apply_direction(self._ws([seed], psi, class_idx, cutoff), self.directions, direction, strength)
        name = self.directions.names[direction]
        prov = self._prov(kind=f"edit {name} {strength:+g}", seed=seed, class_idx=self.class_of(seed, class_idx),
                          truncation_psi=psi, noise_mode=noise_mode)
        return self._png(self._synth(ws, noise_mode), prov)

    def mix_png(self, row, col, layers, psi, class_idx, cutoff, noise_mode) -> bytes:
        from ganctl.sampling.stylemix import style_mix_grid

        self._need_style("style mixing")
        _, cells = style_mix_grid(self.gen.G, [row], [col], layers, psi, cutoff, noise_mode, class_idx, self.gen.device)
        prov = self._prov(kind="style-mix", seeds=f"{row},{col}", class_idx=class_idx, truncation_psi=psi,
                          noise_mode=noise_mode)
        return self._png(cells[(row, col)], prov)

    def interp_png(self, a, b, t, psi, class_idx, cutoff, noise_mode) -> bytes:
        """The image a fraction t of the way from seed a to seed b: lerp in W for style generators, slerp in z
        otherwise (what `ganctl interpolate` uses by default for each)."""
        import torch

        from ganctl.sampling.interpolate import slerp
        from ganctl.sampling.latents import to_uint8

        tt = torch.tensor([[float(t)]])
        prov = self._prov(kind=f"interpolation t={t:g}", seeds=f"{a},{b}", class_idx=class_idx, truncation_psi=psi,
                          noise_mode=noise_mode)
        with torch.no_grad():
            if self.style:
                ws = self._ws([a, b], psi, class_idx, cutoff)
                return self._png(self._synth(torch.lerp(ws[:1], ws[1:], float(t)), noise_mode), prov)
            from ganctl.sampling.latents import classes_for_seeds, split_truncation, z_for_seeds

            G, dev = self.gen.G, self.gen.device
            self.gen._check_class(class_idx)
            resample, g_psi = split_truncation(self.gen.truncation, psi)
            z = z_for_seeds([a, b], G.z_dim, dev, resample)
            zt = slerp(z[:1], z[1:], tt.to(dev))
            c = classes_for_seeds([a], self.gen.num_classes, class_idx, dev)
            img = to_uint8(G(zt, c, truncation_psi=g_psi, noise_mode=noise_mode))[0].cpu().permute(1, 2, 0).numpy()
        return self._png(img, prov)

    def close(self) -> None:
        self._tmp.cleanup()
