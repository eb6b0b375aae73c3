"""Cost of checkpointing: time to write (atomic, fsynced, hashed) and to load + verify a full training state, per
preset, against the time of one training tick measured in the same run.

    python tests/benchmarks/bench_checkpoint.py [--presets dcgan-fashion-mnist,stylegan-tiny]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import make_dataset  # noqa: E402

from ganctl.config import resolve_config  # noqa: E402
from ganctl.data.dataset import PreparedDataset  # noqa: E402
from ganctl.engine import checkpoint as ckpt  # noqa: E402
from ganctl.engine.training import Trainer  # noqa: E402

import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="dcgan-fashion-mnist,cgan-fashion-mnist,stylegan-tiny")
    a = ap.parse_args()
    print(f"{'preset':<22}{'state MB':>9}{'save ms':>9}{'load+verify ms':>16}{'tick s':>8}{'save/tick':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        ds = PreparedDataset(make_dataset(Path(tmp) / "d", 1024, 32, "fm32"))
        for name in a.presets.split(","):
            cfg = resolve_config(name, None, ["train.tick_kimg=0.256", "train.grid_size=4", "train.batch=32"])
            run = Path(tmp) / name
            (run / "checkpoints").mkdir(parents=True)
            tr = Trainer(cfg, ds, run, torch.device("cpu"))
            t0 = time.perf_counter()
            tr.run(total_kimg=0.256)  # one tick (its final checkpoint included)
            tick = time.perf_counter() - t0
            saves = []
            for i in range(3):
                t0 = time.perf_counter()
                path = tr.save_checkpoint()
                saves.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ckpt.load_checkpoint(path)
            load = time.perf_counter() - t0
            mb = path.stat().st_size / 2**20
            save = sorted(saves)[1]
            print(f"{name:<22}{mb:>9.1f}{save * 1000:>9.1f}{load * 1000:>16.1f}{tick:>8.2f}{save / tick:>11.3f}")


if __name__ == "__main__":
    main()
