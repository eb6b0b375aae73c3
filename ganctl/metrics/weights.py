"""Finding a detector's weights file: --weights, its env var, the ganctl cache, torch hub's cache; else download once.

Detectors (one `DetectorFile` each):
  inception  pytorch-fid's pt_inception-2015-12-05-6726825d.pth (torch-fidelity's
             weights-inception-2015-12-05-6726825d.pth has the same content and is accepted too); $GANCTL_INCEPTION_WEIGHTS
  vgg16      torchvision's ImageNet VGG16, vgg16-397923af.pth (precision/recall, LPIPS trunk); $GANCTL_VGG16_WEIGHTS
  vgg19      torchvision's ImageNet VGG19, vgg19-dcbb9e9d.pth (super-resolution's perceptual loss); $GANCTL_VGG19_WEIGHTS
When the file is nowhere and the machine is online, it is downloaded once into the ganctl cache and checked: like torch
hub, the 8 hex digits in the file name are the start of its sha256. GANCTL_OFFLINE=1 (or no network) turns a missing
file into one clear error.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ganctl.errors import UsageError


@dataclass(frozen=True)
class DetectorFile:
    what: str                 # human name in messages
    file: str                 # canonical file name (in the ganctl cache and torch hub's cache)
    aliases: tuple[str, ...]  # other names with the same content, looked for in torch hub's cache
    url: str
    sha256_prefix: str
    env: str


INCEPTION = DetectorFile("Inception weights", "pt_inception-2015-12-05-6726825d.pth",
                         ("weights-inception-2015-12-05-6726825d.pth",),
                         "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
                         "6726825d", "GANCTL_INCEPTION_WEIGHTS")
VGG16 = DetectorFile("VGG16 weights", "vgg16-397923af.pth", (), "https://download.pytorch.org/models/vgg16-397923af.pth",
                     "397923af", "GANCTL_VGG16_WEIGHTS")
VGG19 = DetectorFile("VGG19 weights", "vgg19-dcbb9e9d.pth", (), "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                     "dcbb9e9d", "GANCTL_VGG19_WEIGHTS")

# The Inception names, kept for callers that predate the VGG16 detector.
WEIGHTS_FILE = INCEPTION.file
FIDELITY_WEIGHTS_FILE = INCEPTION.aliases[0]
WEIGHTS_URL = INCEPTION.url
SHA256_PREFIX = INCEPTION.sha256_prefix
ENV_WEIGHTS = INCEPTION.env


def cache_dir() -> Path:
    base = os.environ.get("GANCTL_CACHE")
    return Path(base) / "weights" if base else Path.home() / ".cache" / "ganctl" / "weights"


def _torch_hub_checkpoints() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "torch")
    return Path(home) / "hub" / "checkpoints"


def candidate_paths(det: DetectorFile = INCEPTION) -> list[Path]:
    """Where a missing --weights is looked for, in order."""
    out = []
    env = os.environ.get(det.env)
    if env:
        out.append(Path(env))
    out.append(cache_dir() / det.file)
    hub = _torch_hub_checkpoints()
    out += [hub / det.file] + [hub / a for a in det.aliases]
    return out


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(det: DetectorFile, dest: Path) -> Path:
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    print(f"ganctl: downloading {det.url} -> {dest}", file=sys.stderr)
    try:
        with urllib.request.urlopen(det.url, timeout=30) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
        digest = sha256_file(tmp)
        if not digest.startswith(det.sha256_prefix):
            raise UsageError(f"downloaded {det.file} has sha256 {digest}, expected it to start with {det.sha256_prefix}; "
                             "not using it")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def _missing_message(det: DetectorFile, looked: list[Path]) -> str:
    return (f"{det.what} {det.file} not found (looked in: {', '.join(str(p) for p in looked)}); "
            f"download {det.url} and put it in {cache_dir()}, or pass --weights PATH / set {det.env}")


def resolve_weights(explicit: str | None = None, det: DetectorFile = INCEPTION, flag: str = "--weights") -> Path:
    """The weights file to use: `flag` if given (must exist), else the first candidate that exists, else download."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise UsageError(f"{flag} {explicit}: no such file; point it at {det.file} ({det.url})")
        return p
    looked = candidate_paths(det)
    for p in looked:
        if p.is_file():
            return p
    if os.environ.get("GANCTL_OFFLINE", "") not in ("", "0"):
        raise UsageError(_missing_message(det, looked))
    try:
        return _download(det, cache_dir() / det.file)
    except UsageError:
        raise
    except Exception:  # offline or blocked: the same one-line instruction as when downloads are disabled
        raise UsageError(_missing_message(det, looked)) from None
