"""`ganctl compare REF OUT`: pair metrics (metrics/pairs.py) over images matched by relative path, per image and mean,
with the convention stated in the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganctl.errors import UsageError
from ganctl.metrics import pairs

METRICS = ("psnr", "ssim", "l1", "lpips")
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def match(ref: Path, out: Path) -> list[tuple[Path, Path, str]]:
    """(reference, output, relative name) pairs: two files, or two folders matched by relative path (extension
    ignored, so ref/x.jpg pairs with out/x.png)."""
    if ref.is_file() and out.is_file():
        return [(ref, out, out.name)]
    for p in (ref, out):
        if not p.exists():
            raise UsageError(f"{p}: no such file or folder")
    if not (ref.is_dir() and out.is_dir()):
        raise UsageError(f"compare {ref} {out}: give two files or two folders")

    def index(root):
        return {f.relative_to(root).with_suffix("").as_posix(): f for f in sorted(root.rglob("*"))
                if f.is_file() and f.suffix.lower() in SUFFIXES}

    a, b = index(ref), index(out)
    common = sorted(set(a) & set(b))
    if not common:
        raise UsageError(f"no images in {out} match {ref} by relative path")
    return [(a[k], b[k], k) for k in common]


def read_u8(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as e:
        raise UsageError(f"{path}: not a readable image ({type(e).__name__})") from None
    return arr[..., None] if arr.ndim == 2 else arr


def compare(ref: str, out: str, metrics=("psnr", "ssim"), crop_border: int = 0, y_channel: bool = False,
            device: str = "cpu") -> dict:
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise UsageError(f"--metrics {','.join(metrics)}: choose from {', '.join(METRICS)}")
    if crop_border < 0:
        raise UsageError("--crop-border: must be >= 0")
    pairs_ = match(Path(ref), Path(out))
    lp = None
    if "lpips" in metrics:
        import torch

        from ganctl.metrics.lpips import build_lpips, lin_weights_path
        from ganctl.metrics.weights import VGG16, resolve_weights

        lp = build_lpips(resolve_weights(None, VGG16), lin_weights_path(None), device)
    rows = []
    for a_path, b_path, name in pairs_:
        a, b = read_u8(a_path), read_u8(b_path)
        if a.shape != b.shape:
            raise UsageError(f"{b_path}: {b.shape[1]}x{b.shape[0]}x{b.shape[2]} but its reference {a_path} is "
                             f"{a.shape[1]}x{a.shape[0]}x{a.shape[2]}; compare images of the same size and channels")
        if 2 * crop_border >= min(a.shape[:2]):
            raise UsageError(f"--crop-border {crop_border}: larger than {a_path} ({a.shape[1]}x{a.shape[0]}) allows")
        pa, pb = pairs.prepare(a, crop_border, y_channel), pairs.prepare(b, crop_border, y_channel)
        row = {"name": name, "reference": str(a_path), "output": str(b_path)}
        if "psnr" in metrics:
            row["psnr"] = pairs.psnr(pa, pb)
        if "ssim" in metrics:
            if min(pa.shape[:2]) < pairs.SSIM_WINDOW:
                raise UsageError(f"{a_path}: SSIM needs at least {pairs.SSIM_WINDOW}x{pairs.SSIM_WINDOW} pixels after the crop")
            row["ssim"] = pairs.ssim(pa, pb)
        if "l1" in metrics:
            row["l1"] = pairs.l1(pa, pb)
        if lp is not None:
            def t(x):
                x = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float().div(127.5).sub(1)
                return x.expand(-1, 3, -1, -1).to(device)
            with torch.no_grad():
                row["lpips"] = float(lp(t(a), t(b)).item())  # LPIPS on the whole RGB image (its own convention)
        rows.append(row)
    means = {m: float(np.mean([r[m] for r in rows])) for m in metrics}
    return {"count": len(rows), "mean": means, "convention": pairs.convention(crop_border, y_channel), "images": rows}
