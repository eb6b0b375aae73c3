"""The run directory: creation (numbered, rank 0 only), and the files every run keeps (config, env, argv, logs)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import yaml

CONFIG = "config.yaml"
ENV = "env.json"
ARGV = "argv.txt"
STATS = "stats.jsonl"
METRICS = "metrics.jsonl"
LOG = "log.txt"
CHECKPOINTS = "checkpoints"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-") or "run"


def create_run_dir(outdir: str | os.PathLike, cfg: dict, dataset_name: str, resolution: int) -> Path:
    """runs/<preset>/00007-<dataset>-<res>-b<batch>[-desc]; the number is one more than the highest present."""
    parent = Path(outdir) / _slug(cfg["preset"])
    parent.mkdir(parents=True, exist_ok=True)
    nums = [int(m.group(1)) for p in parent.iterdir() if (m := re.match(r"^(\d{5})-", p.name))]
    name = f"{max(nums, default=-1) + 1:05d}-{_slug(dataset_name)}-{resolution}-b{cfg['train']['batch']}"
    if cfg["data"].get("desc"):
        name += f"-{_slug(cfg['data']['desc'])}"
    run_dir = parent / name
    run_dir.mkdir()
    (run_dir / CHECKPOINTS).mkdir()
    return run_dir


def write_config(run_dir: Path, cfg: dict) -> None:
    tmp = run_dir / (CONFIG + ".tmp")
    tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.replace(tmp, run_dir / CONFIG)


def read_config(run_dir: Path) -> dict:
    from ganctl.errors import UsageError

    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise UsageError(f"{run_dir}: not a ganctl run directory (no {CONFIG})")
    return yaml.safe_load(path.read_text())


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment_info(device) -> dict:
    import torch

    import ganctl

    info = {
        "ganctl": ganctl.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device": str(device),
        "git_sha": _git_sha(),
        "num_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        info["tf32_cudnn"] = torch.backends.cudnn.allow_tf32
    try:
        from ganctl import ops

        info["ops"] = ops.status()
    except Exception as e:  # ops status is informational; never block a run on it
        info["ops"] = f"unavailable: {type(e).__name__}"
    return info


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def write_start_files(run_dir: Path, device, argv: list[str]) -> None:
    (run_dir / ENV).write_text(json.dumps(environment_info(device), indent=1, default=str) + "\n")
    with open(run_dir / ARGV, "a") as f:
        f.write(" ".join(argv) + "\n")


def truncate_jsonl(path: Path, key: str, max_value: float) -> int:
    """Drop records whose `key` exceeds max_value (atomically); returns how many were dropped."""
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:  # a line torn by a kill mid-write
            dropped += 1
            continue
        if rec.get(key, 0) > max_value + 1e-9:
            dropped += 1
        else:
            keep.append(line)
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(k + "\n" for k in keep))
        os.replace(tmp, path)
    return dropped


def update_env(run_dir: Path, extra: dict) -> None:
    path = Path(run_dir) / ENV
    info = json.loads(path.read_text()) if path.is_file() else {}
    info.update(extra)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=1, default=str) + "\n")
    os.replace(tmp, path)
