"""Checkpoints: safetensors files holding everything resume needs, written atomically and verified on load.

A checkpoint is tensors (network weights and buffers, optimizer moments, RNG states) plus a JSON metadata string
(format version, config, counters, optimizer hyper-parameters, and a sha256 of the tensor payload). Nothing is ever
unpickled. Writes go to a temp file that is fsynced and renamed into place, then `latest` is re-pointed, so a crash
at any moment leaves either the old or the new checkpoint as `latest`, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import torch

from ganctl.errors import CheckpointError

FORMAT = "ganctl-checkpoint"
FORMAT_VERSION = 1
LATEST = "latest"
BEST = "best"  # -> the checkpoint with the best value of the first train.metrics entry (engine/metric_eval.py)
_NAME = re.compile(r"^state-(\d+)\.safetensors$")


def payload_digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous().cpu()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def flatten_module(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}/{k}": v.detach().clone().contiguous() for k, v in module.state_dict().items()}


def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for name, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{prefix}/state/{idx}/{name}"] = val.detach().clone().contiguous()
            else:
                scalars[f"{idx}/{name}"] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(prefix: str, tensors: dict, meta: dict) -> dict:
    state: dict = {}
    pre = prefix + "/state/"
    for key, val in tensors.items():
        if key.startswith(pre):
            idx, name = key[len(pre):].split("/", 1)
            state.setdefault(int(idx), {})[name] = val
    for key, val in meta.get("scalars", {}).items():
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = val
    return {"state": state, "param_groups": meta["param_groups"]}


def module_state(prefix: str, tensors: dict) -> dict:
    pre = prefix + "/"
    return {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write atomically: temp file + fsync + rename. On any failure the temp file is removed and the error re-raised."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, payload_sha256=payload_digest(tensors))
    tmp = path.with_name(path.name + ".tmp")
    try:
        # Serialise in memory and write ourselves, so I/O failures surface as OSError with errno intact.
        blob = save(tensors, metadata={"ganctl": json.dumps(meta)})
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:  # disk full, quota, file-size limit: the previous checkpoint stays `latest`
        tmp.unlink(missing_ok=True)
        prev = latest_checkpoint(path.parent)
        keep = f"; {prev} is intact and stays the one resume uses" if prev else ""
        raise CheckpointError(f"{path}: could not write checkpoint ({e.strerror or e}){keep}. Free disk space, then `ganctl resume`") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_stale_temps(ckpt_dir: Path) -> int:
    """Delete temp files left by a process killed mid-write; they are never complete checkpoints."""
    n = 0
    for p in Path(ckpt_dir).glob("*.tmp"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def _point(ckpt_dir: Path, name: str, target: Path) -> None:
    link = ckpt_dir / name
    tmp = ckpt_dir / (name + ".tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target.name, tmp)
    os.replace(tmp, link)
    _fsync_dir(ckpt_dir)


def point_latest(ckpt_dir: Path, target: Path) -> None:
    """Atomically re-point `latest` (a symlink) at `target`."""
    _point(Path(ckpt_dir), LATEST, Path(target))


def point_best(ckpt_dir: Path, target: Path) -> None:
    """Atomically re-point `best` (a symlink) at `target`; `prune_checkpoints` never deletes what it points at."""
    _point(Path(ckpt_dir), BEST, Path(target))


def best_checkpoint(ckpt_dir: Path) -> Path | None:
    link = Path(ckpt_dir) / BEST
    return link.resolve() if link.exists() else None


def prune_checkpoints(ckpt_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints, except the targets of `latest` and `best`; returns what was deleted."""
    ckpt_dir = Path(ckpt_dir)
    if not keep or keep <= 0:
        return []
    pinned = {Path(os.readlink(p)).name for p in (ckpt_dir / LATEST, ckpt_dir / BEST) if p.is_symlink()}
    gone = [p for p in list_checkpoints(ckpt_dir)[:-keep] if p.name not in pinned]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) after verifying the file is complete and its payload hash matches; CheckpointError otherwise."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            raw_meta = (f.metadata() or {}).get("ganctl")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for truncated/garbled files
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({type(e).__name__}: {str(e)[:120]}){_offer(path)}") from None
    if raw_meta is None:
        raise CheckpointError(f"{path}: not a ganctl checkpoint (no ganctl metadata); convert it first")
    try:
        meta = json.loads(raw_meta)
    except ValueError:
        raise CheckpointError(f"{path}: checkpoint metadata is corrupt{_offer(path)}") from None
    if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint format {meta.get('format')} v{meta.get('format_version')}; upgrade ganctl")
    if payload_digest(tensors) != meta.get("payload_sha256"):
        raise CheckpointError(f"{path}: checkpoint fails its integrity check (payload hash mismatch){_offer(path)}")
    return tensors, meta


def read_meta(path: Path) -> dict:
    """Only the metadata (cheap: reads the header), without verifying the payload."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return json.loads((f.metadata() or {})["ganctl"])
    except Exception:
        raise CheckpointError(f"{path}: unreadable checkpoint{_offer(Path(path))}") from None


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoints in a directory, oldest first (temp files are never listed)."""
    if not ckpt_dir.is_dir():
        return []
    found = [(n, p) for p in ckpt_dir.iterdir() if (n := checkpoint_nimg(p)) is not None]
    return [p for _, p in sorted(found)]


def checkpoint_nimg(path: Path) -> int | None:
    """Images shown when a checkpoint file was written (from its name), or None for any other file."""
    m = _NAME.match(Path(path).name)
    return int(m.group(1)) if m else None


def _offer(path: Path) -> str:
    others = [p for p in list_checkpoints(path.parent) if p.name != path.name]
    if others:
        return f"; the previous checkpoint {others[-1]} looks intact: resume from it with `ganctl resume {path.parent.parent} --checkpoint {others[-1].name}`"
    return ""


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    link = ckpt_dir / LATEST
    if link.exists():
        return link.resolve()
    found = list_checkpoints(ckpt_dir)
    return found[-1] if found else None


def checkpoint_name(cur_nimg: int) -> str:
    return f"state-{cur_nimg:012d}.safetensors"
