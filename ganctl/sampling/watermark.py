"""ganctl's invisible watermark: a keyed spread-spectrum mark in the luminance 8x8-DCT mid-frequencies.

Why not a library method: at GAN sizes (256x256) invisible-watermark's dwtDct is lost after JPEG q90 and dwtDctSvd
keeps only 83% of bits at q75, and both cost 26.6 dB PSNR (FACTS.md). This design (measured in
tests/benchmarks/bench_watermark.py) reaches ~40 dB and survives JPEG q75:

- Where: luminance only (the same delta on R, G and B, so colours do not shift), in 15 mid-frequency coefficients of
  every 8x8 DCT block, aligned with JPEG's own blocks. Those are the coefficients JPEG quantises with small steps (6-14
  at q75) and that carry little visible energy; DC is never touched, so a brightness offset does not reach the mark.
- What: 64 payload bits (32 fixed "ganctl" magic bits + 32 data bits) and a pilot. A tile of 8x8 blocks (64x64 px)
  has 960 coefficient slots; a keyed permutation gives each bit 12 slots and the pilot 192, each with a keyed sign.
  The tile repeats over the image, so every bit is spread over 12 coefficients per 64x64 px (192 at 256x256).
- How: improved spread spectrum (Malvar & Florencio 2003): for each bit the host's own projection on its pattern is
  cancelled and replaced by +-STRENGTH, so the image content does not interfere with detection. Embedding is repeated
  a few times on the clipped, rounded uint8 result, so black or white backgrounds (clipping) cost little.
- Detection: fold every block onto the tile and correlate. A crop moves the grid, so the detector searches the 64 pixel
  offsets of the 8x8 grid and the 64 block shifts of the tile for the strongest pilot (FFT correlation), then reads
  the bits there. Verdict: how many of the 32 magic bits match (the data bits are unknown to the detector).

The key is public (anyone with ganctl can detect and, with effort, remove the mark): it is a label that survives
re-encoding, not a secret. Images smaller than MIN_SIDE on a side are refused: too few coefficients per bit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ganctl.errors import UsageError

KEY = b"ganctl-watermark-v1"
MAGIC = 0x67616E63  # "ganc": the fixed identifier every ganctl mark carries
MAGIC_BITS = 32
DATA_BITS = 32
NBITS = MAGIC_BITS + DATA_BITS
TILE = 8                  # tile of TILE x TILE blocks (64x64 px)
SLOTS_PER_BIT = 12
MIN_SIDE = 128            # smaller images are refused (see the benchmark: bits get unreliable below this)
STRENGTH = 4.0            # target correlation per coefficient (luminance units, orthonormal DCT)
ITERATIONS = 3            # re-embed on the clipped, rounded image
# Mid band of the 8x8 DCT, u+v in 3..5 (15 coefficients): JPEG q75 quantises them with steps 6-14, and they carry
# less host energy than u+v 2..4 (cancelling the host costs less: 38.3 vs 34.4 dB on Fashion-MNIST grids).
BAND = [(u, v) for u in range(8) for v in range(8) if 3 <= u + v <= 5]
# Detection thresholds on matching magic bits (of 32); false-positive rate measured by
# tests/benchmarks/fpr_watermark.py (see README "Invisible watermark").
THRESHOLD = 28
LIKELY = 25


@lru_cache(maxsize=1)
def _layout() -> tuple[np.ndarray, np.ndarray]:
    """(owner, sign), each (TILE, TILE, len(BAND)): which bit (NBITS = pilot) each slot carries, and its +-1 sign."""
    seed = int.from_bytes(hashlib.sha256(KEY).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    nslots = TILE * TILE * len(BAND)
    owner = np.full(nslots, NBITS, dtype=np.int64)  # the rest is the pilot
    owner[:NBITS * SLOTS_PER_BIT] = np.repeat(np.arange(NBITS), SLOTS_PER_BIT)
    owner = rng.permutation(owner)
    sign = rng.choice(np.array([-1.0, 1.0]), size=nslots)
    return owner.reshape(TILE, TILE, len(BAND)), sign.reshape(TILE, TILE, len(BAND))


def payload_bits(data: int) -> np.ndarray:
    """The 64 embedded bits (as +-1): 32 magic bits, then `data` (a 32-bit unsigned int), most significant first."""
    word = (MAGIC << DATA_BITS) | (int(data) & 0xFFFFFFFF)
    return np.array([1.0 if (word >> (NBITS - 1 - i)) & 1 else -1.0 for i in range(NBITS)])


def parse_payload(text: str | None, network_sha256: str | None) -> int:
    """--watermark-payload: 8 hex digits are taken as they are, any other text is hashed (first 32 bits of its sha256);
    default: the first 32 bits of the network file's sha256 (0 when unknown)."""
    if text is None:
        return int(network_sha256[:8], 16) if network_sha256 else 0
    t = text.strip().lower().removeprefix("0x")
    if len(t) == 8 and all(c in "0123456789abcdef" for c in t):
        return int(t, 16)
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def check_size(h: int, w: int, what: str = "image") -> None:
    if min(h, w) < MIN_SIDE:
        raise UsageError(f"--watermark: the {what} is {w}x{h}; the watermark needs at least {MIN_SIDE}x{MIN_SIDE} pixels "
                         f"(write a --grid, or generate at a larger resolution)")


def _luma(arr: np.ndarray) -> np.ndarray:
    a = arr.astype(np.float64)
    if a.ndim == 2:
        return a
    if a.shape[-1] == 1:
        return a[..., 0]
    return a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114


def _blocks(y: np.ndarray) -> np.ndarray:
    """(H, W) -> (By, Bx, len(BAND)): the orthonormal 8x8 DCT of the whole blocks, band coefficients only."""
    from scipy.fft import dctn

    by, bx = y.shape[0] // 8, y.shape[1] // 8
    b = y[:by * 8, :bx * 8].reshape(by, 8, bx, 8).transpose(0, 2, 1, 3)
    c = dctn(b, axes=(2, 3), norm="ortho")
    u, v = zip(*BAND)
    return c[:, :, list(u), list(v)]


def _band_to_pixels(delta_band: np.ndarray, h: int, w: int) -> np.ndarray:
    """Inverse of _blocks for a change in the band coefficients only: a (H, W) luminance delta (zero in partial blocks)."""
    from scipy.fft import idctn

    by, bx = delta_band.shape[:2]
    full = np.zeros((by, bx, 8, 8))
    u, v = zip(*BAND)
    full[:, :, list(u), list(v)] = delta_band
    pix = idctn(full, axes=(2, 3), norm="ortho").transpose(0, 2, 1, 3).reshape(by * 8, bx * 8)
    out = np.zeros((h, w))
    out[:by * 8, :bx * 8] = pix
    return out


def _slot_maps(by: int, bx: int) -> tuple[np.ndarray, np.ndarray]:
    """The tile's owner/sign maps repeated over a by x bx block grid."""
    owner, sign = _layout()
    ri, ci = np.arange(by) % TILE, np.arange(bx) % TILE
    return owner[ri][:, ci], sign[ri][:, ci]


def embed(arr: np.ndarray, data: int = 0, strength: float = STRENGTH) -> np.ndarray:
    """uint8 (H, W[, C]) -> a marked copy. Refuses images under MIN_SIDE (one line naming the size)."""
    h, w = arr.shape[:2]
    check_size(h, w)
    bits = payload_bits(data)
    by, bx = h // 8, w // 8
    owner, sign = _slot_maps(by, bx)
    # Flat black or white blocks (backgrounds) are left alone: half of any change there is clipped away, and noise on a
    # flat background is what the eye sees first. They stay flat through JPEG, so they add no noise to detection either.
    blk = _luma(arr)[:by * 8, :bx * 8].reshape(by, 8, bx, 8)
    flat = (blk.max(axis=(1, 3)) <= 2) | (blk.min(axis=(1, 3)) >= 253)
    live = np.where(flat[..., None], 0.0, 1.0) * np.ones(owner.shape)
    target = np.concatenate([bits, [1.0]]) * strength  # the pilot always carries +strength
    counts = np.maximum(np.bincount(owner.ravel(), weights=live.ravel(), minlength=NBITS + 1), 1)
    out = arr.copy()
    for _ in range(ITERATIONS):
        coeffs = _blocks(_luma(out))
        # Per bit: the mean of sign*coefficient over its live slots (the host's projection on the bit's pattern).
        # Where it is short of +-strength in the bit's direction, add exactly the shortfall (informed embedding: a host
        # that already agrees costs nothing, one that disagrees is cancelled, as in improved spread spectrum).
        proj = np.bincount(owner.ravel(), weights=(sign * coeffs).ravel(), minlength=NBITS + 1) / counts
        want = np.sign(target)
        delta = (want * np.maximum(0.0, np.abs(target) - want * proj))[owner] * sign * live
        d = _band_to_pixels(delta, h, w)
        if np.abs(d).max() < 0.5:
            break
        base = out.astype(np.float64)
        if base.ndim == 3:
            base[..., :3] += d[..., None]  # the same change on R, G and B (or the one grey channel); alpha untouched
        else:
            base += d
        out = np.clip(np.rint(base), 0, 255).astype(np.uint8)
    return out


@dataclass
class Detection:
    matching_bits: int          # magic bits that match (of MAGIC_BITS)
    total_bits: int
    payload: str                # the decoded 32 data bits as 8 hex digits
    verdict: str                # watermarked, likely, not detected
    pilot_z: float              # pilot correlation at the chosen alignment, in noise standard deviations
    offset: tuple[int, int]     # pixel offset of the block grid found (0, 0 when not cropped)

    def as_dict(self) -> dict:
        return {"matching_bits": self.matching_bits, "total_bits": self.total_bits, "payload": self.payload,
                "verdict": self.verdict, "pilot_z": round(self.pilot_z, 2), "offset": list(self.offset)}


def verdict(matching: int) -> str:
    return "watermarked" if matching >= THRESHOLD else "likely" if matching >= LIKELY else "not detected"


def detect(arr: np.ndarray, search: bool = True) -> Detection:
    """Read the mark from a uint8 (H, W[, C]) image. `search`: try every grid offset and tile shift (survives crops)."""
    h, w = arr.shape[:2]
    check_size(h, w)
    y = _luma(arr)
    owner, sign = _layout()
    pilot = np.where(owner == NBITS, sign, 0.0)
    fp = np.conj(np.fft.fft2(pilot, axes=(0, 1)))
    best = None
    if search:
        # An uncropped image is read where it was written first: there the host is cancelled (ISS) and the bits are
        # exact, while the pilot search below still sees the host's own correlation at the other alignments.
        aligned = detect(arr, search=False)
        if aligned.verdict == "watermarked":
            return aligned
    for oy, ox in ([(a, b) for a in range(8) for b in range(8)] if search else [(0, 0)]):
        coeffs = _blocks(y[oy:, ox:])
        folded = np.zeros((TILE, TILE, len(BAND)))
        for r in range(TILE):
            for c in range(TILE):
                folded[r, c] = coeffs[r::TILE, c::TILE].sum(axis=(0, 1))
        # Circular cross-correlation of the folded tile with the pilot for all 64 tile shifts at once.
        corr = np.real(np.fft.ifft2(np.fft.fft2(folded, axes=(0, 1)) * fp, axes=(0, 1))).sum(axis=2)
        noise = np.sqrt((folded ** 2).mean() * np.count_nonzero(pilot)) + 1e-9
        z = corr / noise
        if not search:
            z = z[:1, :1]
        k = np.unravel_index(np.argmax(z), z.shape)
        if best is None or z[k] > best[0]:
            best = (float(z[k]), (oy, ox), (int(k[0]), int(k[1])), folded)
    z, off, shift, folded = best
    # The correlation peaks at shift k when folded row r holds pattern row (r - k) mod TILE.
    ri = (np.arange(TILE) - shift[0]) % TILE
    ci = (np.arange(TILE) - shift[1]) % TILE
    o, s = owner[ri][:, ci], sign[ri][:, ci]
    soft = np.bincount(o.ravel(), weights=(s * folded).ravel(), minlength=NBITS + 1)[:NBITS]
    bits = soft > 0
    magic = payload_bits(0)[:MAGIC_BITS] > 0
    matching = int((bits[:MAGIC_BITS] == magic).sum())
    data = 0
    for b in bits[MAGIC_BITS:]:
        data = (data << 1) | int(b)
    return Detection(matching, MAGIC_BITS, f"{data:08x}", verdict(matching), z, off)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
