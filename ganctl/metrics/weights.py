"""Finding the Inception weights file: --weights, $GANCTL_INCEPTION_WEIGHTS, the ganctl cache, torch hub's cache.

The file is pytorch-fid's pt_inception-2015-12-05-6726825d.pth (torch-fidelity's
weights-inception-2015-12-05-6726825d.pth has the same content and is accepted too). When it is nowhere and the
machine is online, it is downloaded once into the ganctl cache and checked: like torch hub, the 8 hex digits in the
file name are the start of its sha256. GANCTL_OFFLINE=1 (or no network) turns a missing file into one clear error.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from ganctl.errors import UsageError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FIDELITY_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
SHA256_PREFIX = "6726825d"
ENV_WEIGHTS = "GANCTL_INCEPTION_WEIGHTS"


def cache_dir() -> Path:
    base = os.environ.get("GANCTL_CACHE")
    return Path(base) / "weights" if base else Path.home() / ".cache" / "ganctl" / "weights"


def _torch_hub_checkpoints() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "torch")
    return Path(home) / "hub" / "checkpoints"


def candidate_paths() -> list[Path]:
    """Where a missing --weights is looked for, in order."""
    out = []
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        out.append(Path(env))
    out.append(cache_dir() / WEIGHTS_FILE)
    hub = _torch_hub_checkpoints()
    out += [hub / WEIGHTS_FILE, hub / FIDELITY_WEIGHTS_FILE]
    return out


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(dest: Path) -> Path:
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    print(f"ganctl: downloading {WEIGHTS_URL} -> {dest}", file=sys.stderr)
    try:
        with urllib.request.urlopen(WEIGHTS_URL, timeout=30) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
        digest = sha256_file(tmp)
        if not digest.startswith(SHA256_PREFIX):
            raise UsageError(f"downloaded {WEIGHTS_FILE} has sha256 {digest}, expected it to start with {SHA256_PREFIX}; "
                             "not using it")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def _missing_message(looked: list[Path]) -> str:
    return (f"Inception weights {WEIGHTS_FILE} not found (looked in: {', '.join(str(p) for p in looked)}); "
            f"download {WEIGHTS_URL} and put it in {cache_dir()}, or pass --weights PATH / set {ENV_WEIGHTS}")


def resolve_weights(explicit: str | None = None) -> Path:
    """The weights file to use: --weights if given (must exist), else the first candidate that exists, else download."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise UsageError(f"--weights {explicit}: no such file; point it at {WEIGHTS_FILE} ({WEIGHTS_URL})")
        return p
    looked = candidate_paths()
    for p in looked:
        if p.is_file():
            return p
    if os.environ.get("GANCTL_OFFLINE", "") not in ("", "0"):
        raise UsageError(_missing_message(looked))
    try:
        return _download(cache_dir() / WEIGHTS_FILE)
    except UsageError:
        raise
    except Exception:  # offline or blocked: the same one-line instruction as when downloads are disabled
        raise UsageError(_missing_message(looked)) from None
