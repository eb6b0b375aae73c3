"""Real-ESRGAN's second-order degradation (Wang et al. 2021): how an LR training input is made from one HR patch.

Stage 1: a random blur kernel (isotropic/anisotropic Gaussian, generalized Gaussian, plateau, or with p `sinc_prob` a
2-D sinc low-pass), a random resize (up/down/keep, area/bilinear/bicubic), Gaussian or Poisson noise (colour or gray),
real JPEG. Stage 2: the same with its own settings (blur only with p `second_blur_prob`), resized relative to the
final size. Final stage, in random order: [resize to 1/scale, sinc filter (p `final_sinc_prob`), JPEG] or [JPEG,
resize, sinc]; rounded to 8 bits. Defaults are the published ones (Real-ESRGAN's train_realesrgan_x4plus.yml).

Every random draw comes from one numpy Generator made from (seed, image position), so an LR input is a pure function
of its HR patch and (seed, position), whatever the batch it lands in (the BatchSource contract, models/family.py).
Unlike Real-ESRGAN, images are degraded one at a time on the CPU (its code does it per batch on the GPU), JPEG is
Pillow's real codec (its code uses a differentiable JPEG), and blur pads by mirroring at any image size.
"""

from __future__ import annotations

import io
import math

import numpy as np

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")

# Published defaults (Real-ESRGAN options/train_realesrgan_x4plus.yml), under the same names.
DEFAULT_PARAMS = {
    "kernel_size_range": [7, 21],            # odd sizes only
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],   # in KERNEL_TYPES order
    "sinc_prob": 0.1,
    "blur_sigma": [0.2, 3.0],
    "betag_range": [0.5, 4.0],
    "betap_range": [1.0, 2.0],
    "resize_prob": [0.2, 0.7, 0.1],          # up, down, keep
    "resize_range": [0.15, 1.5],
    "gaussian_noise_prob": 0.5,
    "noise_range": [1.0, 30.0],
    "poisson_scale_range": [0.05, 3.0],
    "gray_noise_prob": 0.4,
    "jpeg_range": [30, 95],
    "second_blur_prob": 0.8,
    "sinc_prob2": 0.1,
    "blur_sigma2": [0.2, 1.5],
    "resize_prob2": [0.3, 0.4, 0.3],
    "resize_range2": [0.3, 1.2],
    "gaussian_noise_prob2": 0.5,
    "noise_range2": [1.0, 25.0],
    "poisson_scale_range2": [0.05, 2.5],
    "gray_noise_prob2": 0.4,
    "jpeg_range2": [30, 95],
    "final_sinc_prob": 0.8,
}

_PROBS = ("sinc_prob", "gaussian_noise_prob", "gray_noise_prob", "second_blur_prob", "sinc_prob2",
          "gaussian_noise_prob2", "gray_noise_prob2", "final_sinc_prob")
_DISTRIBUTIONS = {"kernel_prob": 6, "resize_prob": 3, "resize_prob2": 3}


def check_params(p: dict) -> None:
    """Refuse settings the pipeline cannot use, naming the key (config key model.degradation_params.*)."""
    from ganctl.errors import UsageError

    def bad(k, why):
        raise UsageError(f"config key model.degradation_params.{k}: {p[k]!r} {why}")

    for k in _PROBS:
        if not 0.0 <= p[k] <= 1.0:
            bad(k, "is not a probability in [0, 1]")
    for k, n in _DISTRIBUTIONS.items():
        if len(p[k]) != n or min(p[k]) < 0 or abs(sum(p[k]) - 1.0) > 1e-6:
            bad(k, f"must be {n} non-negative probabilities summing to 1")
    for k, v in p.items():
        if k in _DISTRIBUTIONS or k in _PROBS:
            continue
        if len(v) != 2 or v[0] > v[1] or v[0] < 0:
            bad(k, "must be a range [low, high] with 0 <= low <= high")
    lo, hi = p["kernel_size_range"]
    if lo < 3 or lo % 2 == 0 or hi % 2 == 0:
        bad("kernel_size_range", "must hold odd kernel sizes >= 3, e.g. [7, 21]")
    for k in ("jpeg_range", "jpeg_range2"):
        if p[k][0] < 1 or p[k][1] > 100:
            bad(k, "must be JPEG qualities within [1, 100]")
    for k in ("blur_sigma", "blur_sigma2", "betag_range", "betap_range", "resize_range", "resize_range2"):
        if p[k][0] <= 0:
            bad(k, "must be positive")


# ---- blur kernels (formulas as in BasicSR's degradations.py) ----

def _grid(size: int) -> np.ndarray:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def _mahalanobis(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """x^T Sigma^-1 x on the kernel grid, Sigma = R diag(sigma_x^2, sigma_y^2) R^T (R rotates by theta)."""
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rot.T)
    xy = _grid(size)
    return np.sum((xy @ inv) * xy, axis=-1)


def gaussian_kernel(size, sigma_x, sigma_y, theta):
    k = np.exp(-0.5 * _mahalanobis(size, sigma_x, sigma_y, theta))
    return k / k.sum()


def generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, beta):
    k = np.exp(-0.5 * np.power(_mahalanobis(size, sigma_x, sigma_y, theta), beta))
    return k / k.sum()


def plateau_kernel(size, sigma_x, sigma_y, theta, beta):
    k = 1.0 / (np.power(_mahalanobis(size, sigma_x, sigma_y, theta), beta) + 1.0)
    return k / k.sum()


def sinc_kernel(cutoff: float, size: int) -> np.ndarray:
    """2-D circular low-pass (sinc) kernel: cutoff * J1(cutoff r) / (2 pi r), centre cutoff^2 / (4 pi), normalised."""
    from scipy.special import j1

    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r = np.hypot(x - c, y - c)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * j1(cutoff * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = cutoff ** 2 / (4 * np.pi)
    return k / k.sum()


def random_kernel(rng: np.random.Generator, p: dict, sinc_prob: float, sigma: list) -> np.ndarray:
    lo, hi = p["kernel_size_range"]
    size = int(rng.choice(np.arange(lo, hi + 1, 2)))
    if rng.uniform() < sinc_prob:
        # Real-ESRGAN: small kernels get a higher lowest cutoff to avoid ringing wider than the kernel.
        cutoff = rng.uniform(np.pi / 3, np.pi) if size < 13 else rng.uniform(np.pi / 5, np.pi)
        return sinc_kernel(cutoff, size)
    kind = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=np.asarray(p["kernel_prob"]) / sum(p["kernel_prob"])))]
    sx = rng.uniform(*sigma)
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, theta = sx, 0.0
    else:
        sy, theta = rng.uniform(*sigma), rng.uniform(-np.pi, np.pi)
    if kind in ("iso", "aniso"):
        return gaussian_kernel(size, sx, sy, theta)
    beta_range = p["betag_range"] if kind.startswith("generalized") else p["betap_range"]
    # BasicSR: beta below or above 1 with equal chance.
    beta = rng.uniform(beta_range[0], 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, beta_range[1])
    if kind.startswith("generalized"):
        return generalized_gaussian_kernel(size, sx, sy, theta, beta)
    return plateau_kernel(size, sx, sy, theta, beta)


# ---- operations on one float64 image (C, H, W) in [0, 1] ----

def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy.ndimage import correlate

    # 'mirror' = torch's reflect padding (Real-ESRGAN's filter2D), defined even when the kernel outgrows the image.
    return np.stack([correlate(ch, kernel, mode="mirror") for ch in img])


def resize(img: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(img))[None]
    size = (max(1, size[0]), max(1, size[1]))
    out = F.interpolate(t, size=size, mode=mode) if mode == "area" else F.interpolate(t, size=size, mode=mode,
                                                                                       align_corners=False)
    return out[0].numpy()


def _gray(img: np.ndarray) -> np.ndarray:
    if img.shape[0] == 3:
        return (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    return img.mean(axis=0, keepdims=True)


def add_noise(img: np.ndarray, rng: np.random.Generator, gauss_prob: float, sigma_range: list,
              poisson_range: list, gray_prob: float) -> np.ndarray:
    gaussian = rng.uniform() < gauss_prob
    gray = rng.uniform() < gray_prob
    if gaussian:
        sigma = rng.uniform(*sigma_range) / 255.0
        shape = (1,) + img.shape[1:] if gray else img.shape
        noise = rng.standard_normal(shape) * sigma
    else:
        scale = rng.uniform(*poisson_range)
        src = _gray(img) if gray else img
        src = np.round(np.clip(src, 0, 1) * 255) / 255   # BasicSR draws from the 8-bit image
        # Poisson with as many levels as the image has distinct 8-bit values, rounded up to a power of two.
        vals = 2 ** math.ceil(math.log2(max(len(np.unique(src)), 1)))
        noise = (rng.poisson(src * vals) / vals - src) * scale
    return np.clip(img + noise, 0, 1)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Real JPEG round trip through Pillow (8-bit), back to float."""
    from PIL import Image

    u8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    planes = [u8.transpose(1, 2, 0)] if u8.shape[0] == 3 else list(u8)
    out = []
    for plane in planes:
        buf = io.BytesIO()
        Image.fromarray(plane).save(buf, format="JPEG", quality=int(quality))
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue()))))
    arr = out[0].transpose(2, 0, 1) if u8.shape[0] == 3 else np.stack(out)
    return arr.astype(np.float64) / 255.0


def _random_resize(img, rng, prob, rng_range, base_hw):
    kind = int(rng.choice(3, p=np.asarray(prob) / sum(prob)))
    s = rng.uniform(1.0, rng_range[1]) if kind == 0 else rng.uniform(rng_range[0], 1.0) if kind == 1 else 1.0
    mode = ("area", "bilinear", "bicubic")[int(rng.integers(3))]
    return resize(img, (int(base_hw[0] * s), int(base_hw[1] * s)), mode)


def degrade(hr_u8: np.ndarray, scale: int, rng: np.random.Generator, p: dict) -> np.ndarray:
    """One HR patch (C, H, W) uint8 -> its LR input (C, H/scale, W/scale) uint8, all draws from `rng`."""
    img = hr_u8.astype(np.float64) / 255.0
    h, w = img.shape[1:]
    # Kernels are drawn first, as Real-ESRGAN's dataset does, then the model's degradation order.
    k1 = random_kernel(rng, p, p["sinc_prob"], p["blur_sigma"])
    k2 = random_kernel(rng, p, p["sinc_prob2"], p["blur_sigma2"])
    if rng.uniform() < p["final_sinc_prob"]:
        lo, hi = p["kernel_size_range"]
        k3 = sinc_kernel(rng.uniform(np.pi / 3, np.pi), int(rng.choice(np.arange(lo, hi + 1, 2))))
    else:
        k3 = None   # Real-ESRGAN's pulse kernel: the identity
    # Stage 1.
    img = blur(img, k1)
    img = _random_resize(img, rng, p["resize_prob"], p["resize_range"], img.shape[1:])
    img = add_noise(img, rng, p["gaussian_noise_prob"], p["noise_range"], p["poisson_scale_range"], p["gray_noise_prob"])
    img = jpeg(img, int(rng.integers(p["jpeg_range"][0], p["jpeg_range"][1] + 1)))
    # Stage 2: resize relative to the final LR size, as Real-ESRGAN does.
    if rng.uniform() < p["second_blur_prob"]:
        img = blur(img, k2)
    img = _random_resize(img, rng, p["resize_prob2"], p["resize_range2"], (h / scale, w / scale))
    img = add_noise(img, rng, p["gaussian_noise_prob2"], p["noise_range2"], p["poisson_scale_range2"],
                    p["gray_noise_prob2"])
    # Final stage, in one of two orders.
    mode = ("area", "bilinear", "bicubic")[int(rng.integers(3))]
    quality = int(rng.integers(p["jpeg_range2"][0], p["jpeg_range2"][1] + 1))
    if rng.uniform() < 0.5:
        img = resize(img, (h // scale, w // scale), mode)
        img = blur(img, k3) if k3 is not None else img
        img = jpeg(img, quality)
    else:
        img = jpeg(img, quality)
        img = resize(img, (h // scale, w // scale), mode)
        img = blur(img, k3) if k3 is not None else img
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
