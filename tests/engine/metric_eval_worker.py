"""Run under torchrun by test_metric_eval.py and test_translation_metrics.py: one TrainingMetrics evaluation per rank; each rank writes what it returned."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def main(run: str, out: str, weights: str, metrics: str, num: int) -> None:
    from ganctl.config.load import validate_resolved
    from ganctl.data.dataset import open_dataset
    from ganctl.engine import distributed, rundir
    from ganctl.engine.metric_eval import TrainingMetrics
    from ganctl.sampling.generate import load_generator

    rank, world = distributed.maybe_init("cpu")
    cfg = validate_resolved(rundir.read_config(Path(run)))
    cfg["train"].update(metrics=metrics.split(","), metric_num=num)
    ds = open_dataset(cfg["data"]["path"])  # any kind: image sets, pairs, two domains
    out_dir = Path(out)
    tm = TrainingMetrics(cfg, ds, out_dir if rank == 0 else None, torch.device("cpu"), weights=weights)
    recs = tm.evaluate(load_generator(run, "cpu", conditioning=None).G, 64)  # latent or image-to-image
    (out_dir / f"rank{rank}.json").write_text(json.dumps({"world": world, "records": recs, "best": tm.best()}))
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
