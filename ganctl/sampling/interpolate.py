"""Latent interpolation between seeds (lerp or slerp, in Z or, for style-based generators, in W) and frame writers.

Keyframes are the seeds' latents; `steps` frames are made between consecutive keyframes (the last keyframe is
included once, or with `loop` the path returns to the first seed so the animation loops seamlessly).
Writers: a directory -> PNG frames; .gif -> animated GIF (Pillow); .mp4 -> H.264 through ffmpeg when it is installed.
Each carries the provenance statement (sampling/provenance.py): XMP in PNG frames, the GIF comment, MP4 `comment`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

from ganctl.errors import UsageError
from ganctl.sampling.latents import classes_for_seeds, split_truncation, to_uint8, z_for_seeds


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last dimension; falls back to lerp for (nearly) parallel vectors."""
    an = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    bn = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    dot = (an * bn).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-5, lerp(a, b, t), out)


def _path(keys: torch.Tensor, steps: int, loop: bool, fn) -> torch.Tensor:
    if loop:
        keys = torch.cat([keys, keys[:1]])
    frames = []
    t = torch.linspace(0, 1, steps + 1, device=keys.device)[:-1]
    for a, b in zip(keys[:-1], keys[1:]):
        tt = t.view(-1, *([1] * a.ndim))
        frames.append(fn(a.unsqueeze(0).expand(len(t), *a.shape), b.unsqueeze(0).expand(len(t), *b.shape), tt))
    if not loop:
        frames.append(keys[-1:])
    return torch.cat(frames)


@torch.no_grad()
def interpolate_frames(gen, seeds: list[int], steps: int, method: str = "slerp", space: str = "z", loop: bool = False,
                       truncation_psi: float = 1.0, class_idx: int | None = None, batch_size: int = 32) -> torch.Tensor:
    """uint8 frames (F, C, H, W) along the seeds' path."""
    if len(seeds) < 2:
        raise UsageError("--seeds: interpolation needs at least two seeds, e.g. --seeds 1,5,9")
    if steps < 1:
        raise UsageError("--steps: must be at least 1")
    if method not in ("lerp", "slerp"):
        raise UsageError(f"--method {method!r}: use lerp or slerp")
    fn = slerp if method == "slerp" else lerp
    G, dev = gen.G, gen.device
    gen._check_class(class_idx)
    # Keyframes take the family's truncation rule: resampling families truncate the seeds' z, the others pass psi to G.
    resample_psi, truncation_psi = split_truncation(gen.truncation, truncation_psi)
    z = z_for_seeds(seeds, G.z_dim, dev, resample_psi)
    c = classes_for_seeds(seeds, gen.num_classes, class_idx, dev)
    # Class labels are discrete: a frame takes the label of the keyframe it starts from.
    c_path = None
    if c is not None:
        keys_c = torch.cat([c, c[:1]]) if loop else c
        c_path = torch.cat([keys_c[:-1].repeat_interleave(steps)] + ([] if loop else [keys_c[-1:]]))
    if space == "w":
        if not hasattr(G, "mapping"):
            raise UsageError(f"--space w: the {gen.family} generator has no W space; use --space z")
        ws = G.mapping(z, c, truncation_psi=truncation_psi)
        path = _path(ws, steps, loop, lerp if method == "lerp" else fn)
        imgs = [G.synthesis(path[i:i + batch_size], noise_mode="const") for i in range(0, len(path), batch_size)]
    elif space == "z":
        path = _path(z, steps, loop, fn)
        imgs = []
        for i in range(0, len(path), batch_size):
            cc = c_path[i:i + batch_size] if c_path is not None else None
            imgs.append(G(path[i:i + batch_size], cc, truncation_psi=truncation_psi, noise_mode="const"))
    else:
        raise UsageError(f"--space {space!r}: use z or w")
    return to_uint8(torch.cat(imgs)).cpu()


def _frames_hwc(frames: torch.Tensor) -> np.ndarray:
    arr = frames.permute(0, 2, 3, 1).numpy()
    return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr


def write_frames(frames: torch.Tensor, out: str | os.PathLike, fps: int = 24, provenance=True) -> list[str]:
    """`provenance` as in grid.save_png (True: the default statement; None/False: none). Its output policy
    (sampling/output.py) watermarks every frame and signs the GIF/MP4 (PNG frames: through save_png)."""
    from PIL import Image

    from ganctl.sampling.grid import save_png
    from ganctl.sampling.output import mark_pixels, sign_in_place
    from ganctl.sampling.provenance import resolve

    prov = resolve(provenance)
    out = Path(out)
    arr = _frames_hwc(frames)
    suffix = out.suffix.lower()
    if suffix in (".gif", ".mp4"):
        # PNG frames are marked by save_png; a GIF's 256-colour palette costs the mark more than JPEG does (see README).
        arr = np.stack([mark_pixels(a, prov) for a in arr]) if prov is not None and prov.output is not None else arr
    if suffix == ".gif":
        out.parent.mkdir(parents=True, exist_ok=True)
        imgs = [Image.fromarray(a) for a in arr]
        tmp = out.with_name(out.name + ".tmp")
        extra = {"comment": prov.statement().encode()} if prov is not None else {}
        try:
            imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=max(int(1000 / fps), 20),
                         loop=0, **extra)
            sign_in_place(tmp, out.name, prov)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return [str(out)]
    if suffix == ".mp4":
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise UsageError(f"--out {out}: MP4 needs ffmpeg, which is not installed (apt-get install ffmpeg); write a .gif or a folder of PNG frames instead")
        out.parent.mkdir(parents=True, exist_ok=True)
        h, w = arr.shape[1:3]
        # H.264 with yuv420p needs even sizes: pad by one pixel where needed.
        ph, pw = h % 2, w % 2
        if ph or pw:
            arr = np.pad(arr, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
            h, w = h + ph, w + pw
        tmp = out.with_name(out.stem + ".tmp.mp4")
        cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps),
               "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18"]
        cmd += ["-metadata", f"comment={prov.statement()}"] if prov is not None else []
        cmd.append(str(tmp))
        proc = subprocess.run(cmd, input=np.ascontiguousarray(arr).tobytes(), capture_output=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise UsageError(f"--out {out}: ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
        try:
            sign_in_place(tmp, out.name, prov)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, out)
        return [str(out)]
    if suffix:
        raise UsageError(f"--out {out}: unknown output type {suffix!r}; use a .gif, an .mp4 or a folder for PNG frames")
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    native = frames.permute(0, 2, 3, 1).numpy()  # PNG frames keep the images' own channel count
    for i, a in enumerate(native):
        paths.append(str(save_png(a, out / f"frame{i:05d}.png", prov)))
    return paths
