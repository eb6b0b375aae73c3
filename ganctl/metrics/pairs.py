"""Pair metrics (an output against its reference): PSNR, SSIM, L1 and LPIPS, with BasicSR's conventions exactly.

The convention (what every SR paper's table depends on): images are 8-bit HWC in [0, 255]; `crop_border` pixels are cut
from every side FIRST; then, with `y_channel`, the MATLAB BT.601 luma Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255
(range 16..235; not OpenCV's YCrCb), computed in float32 as BasicSR does; then float64. PSNR = 10 log10(255^2 / MSE)
(inf when equal). SSIM is MATLAB's (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, valid region only,
C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, computed per channel and averaged. L1 = mean |a - b| / 255. Every result
carries its convention (`convention()`), so numbers measured differently are never compared by accident.
"""

from __future__ import annotations

import numpy as np

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5


def convention(crop_border: int, y_channel: bool) -> dict:
    return {"range": "0-255 (8-bit)", "crop_border": crop_border, "channel": "Y (MATLAB BT.601, 16-235)" if y_channel
            else "RGB", "ssim": "MATLAB-compatible: Gaussian 11x11 sigma 1.5, valid region, per channel mean",
            "reference": "BasicSR calculate_psnr / calculate_ssim"}


def prepare(img: np.ndarray, crop_border: int, y_channel: bool) -> np.ndarray:
    """HWC uint8 -> float64 HWC after BasicSR's crop and (optional) Y conversion."""
    if img.ndim == 2:
        img = img[..., None]
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    if y_channel and img.shape[2] == 3:
        f32 = img.astype(np.float32) / np.float32(255.0)
        y = (np.dot(f32, [65.481, 128.553, 24.966]) + 16.0) / 255.0  # float64 dot, then float32 as BasicSR
        img = (y.astype(np.float32) * np.float32(255.0))[..., None]
    elif y_channel:
        img = img.astype(np.float32)
    return img.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 * 255.0 / mse))


def _gaussian_window() -> np.ndarray:
    x = np.arange(SSIM_WINDOW) - (SSIM_WINDOW - 1) / 2
    k = np.exp(-(x ** 2) / (2 * SSIM_SIGMA ** 2))
    k /= k.sum()
    return np.outer(k, k)


def _filter_valid(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    from scipy.signal import correlate2d

    return correlate2d(img, window, mode="valid")


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = _gaussian_window()
    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mu1, mu2 = _filter_valid(x, window), _filter_valid(y, window)
        s1 = _filter_valid(x * x, window) - mu1 ** 2
        s2 = _filter_valid(y * y, window) - mu2 ** 2
        s12 = _filter_valid(x * y, window) - mu1 * mu2
        m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))
        vals.append(m.mean())
    return float(np.mean(vals))


def l1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)) / 255.0)
