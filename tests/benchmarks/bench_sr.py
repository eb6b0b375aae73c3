"""Super-resolution speed, side by side with the reference code, on the same weights and images (CPU):

1. `ganctl upscale` vs Real-ESRGAN's own inference code (`RealESRGANer` from realesrgan/utils.py, driven like its
   inference_realesrgan.py: cv2.imread, enhance, cv2.imwrite per image), untiled and tiled (--tile, pad 10), on one
   RealESRGAN_x4plus-layout .pth (`params_ema`) saved from BasicSR's own RRDBNet; checks that both write the same
   pixels within 1/255 and prints CPU seconds per image for both and the ratio (theirs / ours: > 1 means ganctl is
   faster). Both sides include reading the network, reading and writing the PNGs; ganctl also hashes the network and
   writes its provenance statement.
2. One `esrgan-x4` training step: BasicSR's own ESRGANModel.optimize_parameters (built from train_ESRGAN_x4's options:
   L1 1e-2 + VGG19 conv5_4 perceptual + RaGAN 5e-3, Adam, EMA 0.999) vs ganctl's engine step (Trainer._train_step:
   feed, G phase, D phase, EMA), both with the same seeded random VGG19 (nothing downloads), gt 128 patches (BasicSR's
   VGG-style D takes 128 or 256 only), batch --batch.

    pip install opencv-python-headless          # Real-ESRGAN and BasicSR import cv2 (not a ganctl dependency)
    python tests/benchmarks/bench_sr.py REALESRGAN_DIR BASICSR_DIR [--size 96] [--n 4] [--num-block 6] [--tile 48]
                                        [--train-block 23] [--batch 2] [--steps 3] [--threads 1] [--device cpu]

REALESRGAN_DIR / BASICSR_DIR (or $REALESRGAN_DIR / $BASICSR_DIR) are local copies of github.com/xinntao/Real-ESRGAN
and github.com/XPixelGroup/BasicSR (never committed; basicsr is imported from BASICSR_DIR without installing it: its
generated version module is supplied here). Without them (e.g. on an offline GPU machine) only ganctl's rows are
printed. On CPU the times are CPU seconds (time.process_time, steadier than wall time on a shared machine); on CUDA
wall seconds after synchronising. Compare ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import io
import os
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _testdata import load_fmnist  # noqa: E402


def import_references(realesrgan_dir: str, basicsr_dir: str):
    """(basicsr package, RealESRGANer) from the two source trees, without installing either."""
    version = types.ModuleType("basicsr.version")  # written by BasicSR's setup.py, absent from a plain checkout
    version.__version__, version.__gitsha__ = "source", "unknown"
    sys.modules["basicsr.version"] = version
    sys.path.insert(0, str(Path(basicsr_dir).resolve()))
    import basicsr  # noqa: F401
    import basicsr.archs.rrdbnet_arch  # noqa: F401
    import basicsr.models.esrgan_model  # noqa: F401

    spec = importlib.util.spec_from_file_location("realesrgan_utils", Path(realesrgan_dir) / "realesrgan" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)  # realesrgan/__init__ would import its training code too; the helper is all we need
    return sys.modules["basicsr"], utils.RealESRGANer


def hr_images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """n real Fashion-MNIST images as size x size RGB (bicubic up, each channel a different shift); seeded noise where
    the dataset is not installed (the speed does not depend on the content)."""
    try:
        imgs, _ = load_fmnist("train", n)
    except BaseException:  # pytest.skip outside pytest
        imgs = np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    out = []
    for i, g in enumerate(imgs):
        a = np.asarray(Image.fromarray(g).resize((size, size), Image.BICUBIC))
        out.append(np.stack([a, np.roll(a, 3 + i, axis=1), 255 - a], axis=-1))
    return out


def seconds(fn, device: str) -> float:
    """CPU seconds on the CPU; wall seconds (synchronised) on CUDA."""
    if device != "cuda":
        t0 = time.process_time()
        fn()
        return time.process_time() - t0
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench_upscale(args, RealESRGANer, tmp: Path) -> None:
    from ganctl import api

    if RealESRGANer is not None:
        from basicsr.archs.rrdbnet_arch import RRDBNet
    else:
        from ganctl.models.sr.generators import RRDBNet  # BasicSR's module names, so the same .pth layout
    torch.manual_seed(0)
    kw = dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=args.num_block, num_grow_ch=32, scale=4)
    net = RRDBNet(**kw)
    pth = tmp / "RealESRGAN_x4plus.pth"
    torch.save({"params_ema": net.state_dict()}, pth)
    src = tmp / "in"
    src.mkdir()
    for i, a in enumerate(hr_images(args.n, args.size)):
        Image.fromarray(a).save(src / f"{i}.png")

    def reference(tile: int, out: Path):
        """inference_realesrgan.py's loop (fp32, pre_pad 0, outscale 4), its per-tile prints silenced."""
        import cv2

        out.mkdir()
        with contextlib.redirect_stdout(io.StringIO()):
            up = RealESRGANer(scale=4, model_path=str(pth), model=RRDBNet(**kw), tile=tile, tile_pad=10, pre_pad=0,
                              half=False, device=torch.device(args.device))
            for path in sorted(glob.glob(str(src / "*"))):
                img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
                output, _ = up.enhance(img, outscale=4)
                cv2.imwrite(str(out / Path(path).name), output)

    def ours(tile: int, out: Path):
        api.upscale(str(pth), [str(src)], str(out), tile=tile, tile_pad=10, device=args.device)

    if RealESRGANer is not None:
        reference(0, tmp / "warm_ref")  # first calls pay one-off costs (imports, allocator): not part of either number
    ours(0, tmp / "warm_ours")
    print(f"upscale x4: RRDBNet {args.num_block} blocks (RealESRGAN_x4plus layout), {args.n} RGB images of "
          f"{args.size}x{args.size}, {args.device}, {torch.get_num_threads()} thread(s)")
    for tile in (0, args.tile):
        what = f"tile {tile} pad 10" if tile else "whole image"
        t_ours = seconds(lambda: ours(tile, tmp / f"ours{tile}"), args.device)
        if RealESRGANer is None:
            print(f"  {what:<16} ganctl upscale {t_ours / args.n:7.3f} s/img   (no Real-ESRGAN copy given: no baseline)")
            continue
        t_ref = seconds(lambda: reference(tile, tmp / f"ref{tile}"), args.device)
        diff = max(int(np.abs(np.asarray(Image.open(tmp / f"ref{tile}" / f"{i}.png"), np.int16)
                              - np.asarray(Image.open(tmp / f"ours{tile}" / f"{i}.png"), np.int16)).max())
                   for i in range(args.n))
        print(f"  {what:<16} RealESRGANer {t_ref / args.n:7.3f} s/img   ganctl upscale {t_ours / args.n:7.3f} s/img   "
              f"ratio {t_ref / t_ours:.2f}x   max pixel difference {diff}/255 {'(ok)' if diff <= 1 else '(MISMATCH)'}")


def basicsr_esrgan_model(args, vgg_path: Path):
    """BasicSR's ESRGANModel from train_ESRGAN_x4's options (CPU, no pretrained G, random VGG19 from vgg_path)."""
    import yaml
    from basicsr.models.esrgan_model import ESRGANModel

    opt = yaml.safe_load((Path(args.basicsr) / "options/train/ESRGAN/train_ESRGAN_x4.yml").read_text())
    opt.update(num_gpu=int(args.device == "cuda"), dist=False, rank=0, world_size=1, is_train=True)
    opt["network_g"]["num_block"] = args.train_block
    opt["path"] = {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None}
    # BasicSR reads the VGG19 weights from this path relative to the working directory (else it downloads them)
    dest = Path("experiments/pretrained_models/vgg19-dcbb9e9d.pth")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(vgg_path.read_bytes())
    return ESRGANModel(opt)


def bench_train_step(args, tmp: Path, reference: bool) -> None:
    import torchvision

    from ganctl.config import resolve_config
    from ganctl.data.dataset import PreparedDataset, write_dataset
    from ganctl.engine.training import Trainer

    import warnings

    warnings.filterwarnings("ignore", module="torchvision")  # BasicSR's vgg19(pretrained=False) is deprecated there
    torch.manual_seed(0)
    vgg_path = tmp / "vgg19-random.pth"
    torch.save(torchvision.models.vgg19().state_dict(), vgg_path)  # seeded random weights for both sides
    imgs = hr_images(8, 128)
    ds_dir = write_dataset(tmp / "hr128", np.stack(imgs).transpose(0, 3, 1, 2), np.zeros(8, np.int64),
                           {"name": "hr128", "label_names": []})
    if reference:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            model = basicsr_esrgan_model(args, vgg_path)
        finally:
            os.chdir(cwd)
    g = torch.Generator().manual_seed(1)
    gt = torch.rand(args.batch, 3, 128, 128, generator=g)
    lq = torch.nn.functional.interpolate(gt, scale_factor=0.25, mode="bicubic", antialias=True).clamp(0, 1)
    gt, lq = gt.to(args.device), lq.to(args.device)

    def theirs():
        for it in range(1, args.steps + 1):
            model.feed_data({"lq": lq, "gt": gt})
            model.optimize_parameters(it)

    cfg = resolve_config("esrgan-x4", overrides=[f"model.num_block={args.train_block}", f"train.batch={args.batch}",
                                                 "train.workers=0", f"train.threads={torch.get_num_threads()}",
                                                 f"loss.vgg19_weights={vgg_path}", "train.precision=fp32"])
    cfg["data"]["path"] = str(ds_dir)
    tr = Trainer(cfg, PreparedDataset(ds_dir), None, torch.device(args.device))
    tr.feed = tr._new_feed()
    stats: dict = {}

    def ours():
        for _ in range(args.steps):
            tr._train_step(stats)

    ours()  # warm-up step
    t_ours = seconds(ours, args.device)
    print(f"esrgan-x4 training step: RRDBNet {args.train_block} blocks, VGG-style D, L1 + VGG19 conv5_4 + RaGAN, EMA, "
          f"batch {args.batch}, gt 128 / lq 32, {args.device}, {torch.get_num_threads()} thread(s)")
    if not reference:
        print(f"  ganctl engine step {t_ours / args.steps:7.3f} s/step   (no BasicSR copy given: no baseline)")
        return
    theirs()
    t_ref = seconds(theirs, args.device)
    print(f"  BasicSR ESRGANModel {t_ref / args.steps:7.3f} s/step   ganctl engine step {t_ours / args.steps:7.3f} s/step"
          f"   ratio {t_ref / t_ours:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("realesrgan", nargs="?", default=os.environ.get("REALESRGAN_DIR"))
    ap.add_argument("basicsr", nargs="?", default=os.environ.get("BASICSR_DIR"))
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--num-block", type=int, default=6, help="RRDB blocks of the upscaling network (x4plus: 23)")
    ap.add_argument("--tile", type=int, default=48)
    ap.add_argument("--train-block", type=int, default=23)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    RealESRGANer = None
    if args.realesrgan and args.basicsr:
        _, RealESRGANer = import_references(args.realesrgan, args.basicsr)
    else:
        print("no REALESRGAN_DIR / BASICSR_DIR given: ganctl's numbers only")
    with tempfile.TemporaryDirectory() as tmp:
        bench_upscale(args, RealESRGANer, Path(tmp))
        if not args.skip_train:
            bench_train_step(args, Path(tmp), RealESRGANer is not None)


if __name__ == "__main__":
    main()
