"""The engine on a CUDA GPU (skipped without one; run by tests/benchmarks/gpu_session.sh stylegan on a lent GPU):
StyleGAN2's fp16 top layers really compute in fp16 and train to finite losses, the out-of-memory probe lowers
batch_gpu without changing what is computed, and the compiled / CUDA-graph paths train.

Data is synthetic (the GPU machines have no datasets and no internet): smooth random blobs, written in the prepared
dataset format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ganctl.engine.checkpoint import latest_checkpoint

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TINY = ["train.batch=8", "train.tick_kimg=0.016", "train.grid_size=4", "optim.g_reg_interval=2",
        "optim.d_reg_interval=2", "--device", "cuda"]


def blobs(dest: Path, n: int, res: int, channels: int) -> Path:
    from ganctl.data.dataset import write_dataset

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:res, 0:res] / res
    imgs = np.zeros((n, channels, res, res), np.float32)
    for i in range(n):
        for _ in range(3):
            cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
            colour = rng.uniform(0, 1, channels)[:, None, None]
            imgs[i] += colour * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    u8 = (np.clip(imgs, 0, 1) * 255).astype(np.uint8)
    write_dataset(dest, u8, np.zeros(n, np.int64), {"name": f"blobs{res}", "source": "synthetic"})
    return dest


@pytest.fixture(scope="module")
def blobs32(tmp_path_factory) -> Path:
    return blobs(tmp_path_factory.mktemp("b32") / "blobs32", 256, 32, 3)


def test_fp16_layers_compute_in_fp16():
    from ganctl.config.load import resolve_config
    from ganctl.models.stylegan2 import build

    cfg = resolve_config("stylegan-tiny", overrides=["model.num_fp16_res=2"])
    G, D = build(cfg["model"], 32, 3, 0)
    G, D = G.cuda(), D.cuda()
    seen = {}
    for name, m in G.synthesis.named_children():
        m.register_forward_hook(lambda mod, args, out, name=name: seen.__setitem__(name, out[0].dtype))
    img = G(torch.randn(4, G.z_dim, device="cuda"), None)
    assert img.dtype == torch.float32 and torch.isfinite(img).all()
    assert torch.float16 in seen.values() and torch.float32 in seen.values(), seen
    logits = D(img, None)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_stylegan_fp16_trains_and_resumes_on_cuda(tmp_path, blobs32, cli):
    args = ["--preset", "stylegan-tiny", "--data", blobs32, *TINY, "model.num_fp16_res=2"]
    run = Path(cli("train", *args, "--kimg", "0.032", "--outdir", tmp_path, check=0).stdout.strip())
    env = json.loads((run / "env.json").read_text())
    assert "cuda" in json.dumps(env).lower()
    cli("resume", run, "--kimg", "0.048", check=0)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(stats) >= 3
    for s in stats:
        for k, v in s.items():
            if k.startswith("Loss/"):
                assert np.isfinite(v), (k, v)
    cli("sample", run, "--seeds", "0-3", "--outdir", tmp_path / "s", "--device", "cuda", check=0)
    assert len(list((tmp_path / "s").glob("*.png"))) == 4


def test_oom_probe_lowers_batch_gpu_and_keeps_the_result(tmp_path, cli):
    """A per-GPU batch that cannot fit (StyleGAN2 at 256x256, 1024 images at once) is lowered to one that does,
    with the message, and training goes on; the global batch is unchanged."""
    data = blobs(tmp_path / "b256", 1024, 256, 3)
    p = cli("train", "--preset", "stylegan-ffhq256", "--data", data, "--kimg", "1", "--outdir", tmp_path / "r",
            "--device", "cuda", "train.batch=1024", "train.tick_kimg=1", "train.grid_size=4", check=0)
    assert "out of GPU memory at batch_gpu 1024" in p.stderr, p.stderr[-2000:]
    run = Path(p.stdout.strip())
    state = load_file(str(latest_checkpoint(run / "checkpoints")))
    assert all(torch.isfinite(v).all() for k, v in state.items() if v.is_floating_point())


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_training_on_cuda(tmp_path, blobs32, cli, mode):
    args = ["--preset", "stylegan-tiny", "--data", blobs32, *TINY, "model.num_fp16_res=2"]
    a = Path(cli("train", *args, "--kimg", "0.032", "--outdir", tmp_path / "a", check=0).stdout.strip())
    b = Path(cli("train", *args, "--kimg", "0.032", "--outdir", tmp_path / "b", f"train.compile={mode}",
                 check=0).stdout.strip())
    sa = [json.loads(x) for x in (a / "stats.jsonl").read_text().splitlines()]
    sb = [json.loads(x) for x in (b / "stats.jsonl").read_text().splitlines()]
    for key in ("Loss/G/loss", "Loss/D/loss"):
        assert sb[0][key] == pytest.approx(sa[0][key], rel=0.05, abs=0.02), key
