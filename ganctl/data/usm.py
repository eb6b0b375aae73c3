"""Real-ESRGAN's unsharp-masked (USM) targets (BasicSR's USMSharp, basicsr/utils/img_process_util.py): Real-ESRGAN and
Real-ESRNet train against a sharpened copy of each HR patch, and make the LR input from that copy.

    blur = G * img                      (G: cv2.getGaussianKernel(51, 0) x its transpose, i.e. sigma 8; reflect padding)
    residual = img - blur
    mask = |residual| * 255 > threshold (10)
    soft = G * mask
    sharp = clip(img + weight (0.5) * residual, 0, 1)
    usm = soft * sharp + (1 - soft) * img

The Gaussian is separable and reflect padding is a per-axis reflection, so two 1-D passes give BasicSR's 2-D
filter exactly (to float rounding) at a fraction of the cost. numpy only (no torch at import).
"""

from __future__ import annotations

import numpy as np


def gaussian_kernel_1d(size: int) -> np.ndarray:
    """OpenCV's getGaussianKernel(size, 0) for size > 7: sigma = 0.3 ((size - 1) / 2 - 1) + 0.8, normalised."""
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def _blur(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    from scipy.ndimage import correlate1d

    # 'mirror' = torch's reflect padding (BasicSR's filter2D)
    return correlate1d(correlate1d(img, k, axis=-1, mode="mirror"), k, axis=-2, mode="mirror")


def usm_sharp(img: np.ndarray, weight: float = 0.5, radius: int = 50, threshold: float = 10) -> np.ndarray:
    """A (C, H, W) float image in [0, 1], sharpened as Real-ESRGAN sharpens its targets (float64 out)."""
    if radius % 2 == 0:
        radius += 1
    k = gaussian_kernel_1d(radius)
    img = np.asarray(img, dtype=np.float64)
    residual = img - _blur(img, k)
    mask = (np.abs(residual) * 255 > threshold).astype(np.float64)
    soft = _blur(mask, k)
    sharp = np.clip(img + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * img


def usm_sharp_uint8(hr_u8: np.ndarray) -> np.ndarray:
    """A (C, H, W) uint8 patch -> its sharpened copy, rounded to uint8 (how ganctl's batches carry images)."""
    return np.clip(np.round(usm_sharp(hr_u8.astype(np.float64) / 255.0) * 255.0), 0, 255).astype(np.uint8)
