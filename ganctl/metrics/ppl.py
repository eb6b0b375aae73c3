"""Perceptual path length (Karras et al. 2019), NVlabs' protocol: for pairs of latents, the LPIPS distance between the
images at t and t + epsilon along the path, divided by epsilon^2; values below the 1st and above the 99th percentile
dropped; the mean.

  space w (style families): lerp between the mapped w0, w1; space z: NVlabs' slerp between z0, z1 (then mapping for
  style families, or the generator itself for the others)
  sampling full: t ~ U(0, 1); end: t = 0
  epsilon 1e-4; crop (optional): rows 3c:7c, columns 2c:6c with c = H // 8; images above 256 box-downsampled to 256
  images as float [0, 255]: never quantised (at epsilon 1e-4 rounding to uint8 would dominate the value)
Style generators draw fresh noise images into their `noise_const` buffers for every batch (shared by the t and
t + epsilon images, as NVlabs does). All random draws (z, t, labels, noise) come from one CPU generator seeded by
`seed`, so a value is reproducible on any device.
"""

from __future__ import annotations

import numpy as np
import torch

from ganctl.errors import UsageError


def slerp_nvlabs(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """NVlabs' slerp: along the great circle from a/|a| toward b/|b|, returning a unit vector."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(dim=-1, keepdim=True)
    p = t * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True)
    d = a * torch.cos(p) + c * torch.sin(p)
    return d / d.norm(dim=-1, keepdim=True)


def is_style(G) -> bool:
    return hasattr(G, "mapping") and hasattr(G, "synthesis")


def to_lpips_range(img: torch.Tensor, crop: bool) -> torch.Tensor:
    """Generator output [-1, 1] -> crop, box-downsample above 256, [0, 255] float, 3 channels."""
    if crop:
        if img.shape[2] != img.shape[3]:
            raise UsageError("--crop: needs square images")
        c = img.shape[2] // 8
        img = img[:, :, c * 3:c * 7, c * 2:c * 6]
    factor = img.shape[2] // 256
    if factor > 1:
        img = img.reshape(-1, img.shape[1], img.shape[2] // factor, factor, img.shape[3] // factor, factor).mean([3, 5])
    img = (img + 1) * (255 / 2)
    return img.repeat(1, 3, 1, 1) if img.shape[1] == 1 else img


def path_distances(G, lpips, z0, z1, t, c, *, epsilon: float = 1e-4, space: str = "w", crop: bool = False) -> torch.Tensor:
    """(B,) LPIPS(img(t), img(t + eps)) / eps^2 for given latents, interpolation points and labels (c may be None)."""
    tt = t.unsqueeze(1)
    if is_style(G):
        cc = None if c is None else torch.cat([c, c])
        if space == "w":
            w0, w1 = G.mapping(torch.cat([z0, z1]), cc).chunk(2)
            wt0, wt1 = w0.lerp(w1, tt.unsqueeze(2)), w0.lerp(w1, tt.unsqueeze(2) + epsilon)
        else:
            wt0, wt1 = G.mapping(torch.cat([slerp_nvlabs(z0, z1, tt), slerp_nvlabs(z0, z1, tt + epsilon)]), cc).chunk(2)
        img = G.synthesis(torch.cat([wt0, wt1]), noise_mode="const", force_fp32=True)
    else:
        if space != "z":
            raise UsageError("--space w: this generator has no W space (not a style family); use --space z")
        zt = torch.cat([slerp_nvlabs(z0, z1, tt), slerp_nvlabs(z0, z1, tt + epsilon)])
        img = G(zt, None if c is None else torch.cat([c, c]), truncation_psi=1.0, noise_mode="const")
    img = to_lpips_range(img.float(), crop)
    a, b = img.chunk(2)
    return lpips(a, b) / epsilon ** 2


def randomize_noise(G, gen: torch.Generator) -> None:
    for name, buf in G.named_buffers():
        if name.endswith(".noise_const") or name == "noise_const":
            buf.copy_(torch.randn(buf.shape, generator=gen).to(buf.device))


def filtered_mean(dist: np.ndarray) -> float:
    """NVlabs' reduction: keep values within the 1st ('lower') and 99th ('higher') percentiles, then the mean."""
    lo = np.percentile(dist, 1, method="lower")
    hi = np.percentile(dist, 99, method="higher")
    return float(np.extract(np.logical_and(dist >= lo, dist <= hi), dist).mean())


@torch.no_grad()
def sample_distances(G, lpips, num: int, *, epsilon=1e-4, space="w", sampling="end", crop=False, batch_size=16,
                     seed=0, num_classes=0, class_idx=None, device="cpu") -> np.ndarray:
    if space not in ("w", "z"):
        raise UsageError(f"--space {space!r}: use w or z")
    if sampling not in ("full", "end"):
        raise UsageError(f"--sampling {sampling!r}: use full or end")
    if num < 1 or batch_size < 1 or not epsilon > 0:
        raise UsageError("--num and --batch-size must be >= 1 and --epsilon > 0")
    if space == "w" and not is_style(G):
        raise UsageError("--space w: this generator has no W space (not a style family); use --space z")
    gen = torch.Generator().manual_seed(seed)
    out = []
    done = 0
    while done < num:
        b = min(batch_size, num - done)
        t = torch.rand(b, generator=gen) * (1 if sampling == "full" else 0)
        z0, z1 = torch.randn(2 * b, G.z_dim, generator=gen).chunk(2)
        c = None
        if num_classes:
            c = (torch.full((b,), int(class_idx), dtype=torch.int64) if class_idx is not None
                 else torch.randint(0, num_classes, (b,), generator=gen))
            c = c.to(device)
        if is_style(G):
            randomize_noise(G, gen)
        out.append(path_distances(G, lpips, z0.to(device), z1.to(device), t.to(device), c, epsilon=epsilon,
                                  space=space, crop=crop).double().cpu())
        done += b
    return torch.cat(out).numpy()


def perceptual_path_length(run: str, *, num: int = 50000, epsilon: float = 1e-4, space: str = "w",
                           sampling: str = "end", crop: bool = False, batch_size: int = 16, seed: int = 0,
                           class_idx: int | None = None, weights: str | None = None, lpips_weights: str | None = None,
                           device: str = "auto", progress: bool = True) -> dict:
    """`ganctl ppl`: the PPL of a run's generator (G_ema); returns the record with `ppl` and the distance spread."""
    import time

    from ganctl.metrics.compute import _versions
    from ganctl.metrics.lpips import build_lpips, lin_weights_path
    from ganctl.metrics.weights import VGG16, resolve_weights, sha256_file
    from ganctl.sampling.generate import load_generator

    t0 = time.perf_counter()
    gen = load_generator(run, device)
    gen._check_class(class_idx)
    vgg = resolve_weights(weights, VGG16)
    lin = lin_weights_path(lpips_weights)
    lp = build_lpips(vgg, lin, gen.device)
    dist = sample_distances(gen.G, lp, num, epsilon=epsilon, space=space, sampling=sampling, crop=crop,
                            batch_size=batch_size, seed=seed, num_classes=gen.num_classes, class_idx=class_idx,
                            device=gen.device)
    if not np.isfinite(dist).all():
        raise UsageError(f"{run}: the generator produced non-finite images; PPL is undefined")
    return {"metric": "ppl", "ppl": filtered_mean(dist), "num": num, "space": space, "sampling": sampling,
            "epsilon": epsilon, "crop": crop, "seed": seed,
            "distances": {"median": float(np.median(dist)), "p01": float(np.percentile(dist, 1)),
                          "p99": float(np.percentile(dist, 99))},
            "network": {"path": str(gen.path), "family": gen.family, "sha256": sha256_file(gen.path)},
            "weights": {"vgg16": {"path": str(vgg), "sha256": sha256_file(vgg)},
                        "lpips": {"path": str(lin), "sha256": sha256_file(lin)}},
            "device": str(gen.device), "seconds": round(time.perf_counter() - t0, 3), "versions": _versions()}
