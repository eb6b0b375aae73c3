"""How much of a colour set's class accuracy lives in the hue: a reference for the BW -> colour (pix2pix `gray`) rows
of the quality table (bench_quality.py).

The held-out images keep their luma (every shape and brightness exactly right) while their chroma is turned by a hue
angle or scaled (tests/_image_tasks.py `recolour`); the dataset's classifier then scores them as it scores a
colouriser's outputs. Given pix2pix runs, their outputs are scored too, in the test mode the table uses, with the two
errors a colouriser can make on the right shapes: the hue error (chroma-weighted mean angle between output and target,
over pixels where both have colour) and the output's chroma over the target's. Outputs on the training images (which
bench_quality's pix2pix runs train on, up to its PAIRS) come next to the held-out ones: a gap between the two is the hue the luminance does not give.

    python tests/benchmarks/bench_colour_reference.py --data emoji8=data/emoji8 [--runs RUN ...]

Prints what it measured; nothing here is a target.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_quality import evenly, image_outputs  # noqa: E402
from _image_tasks import colour_errors, gray_inputs, recolour  # noqa: E402

HUES = (15, 30, 60, 90, 180)
CHROMAS = (0.75, 0.5, 0.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, metavar="NAME=PATH", help="a prepared colour dataset with a held-out split")
    ap.add_argument("--runs", nargs="*", default=[], help="pix2pix runs trained on this set's luminance -> colour pairs")
    ap.add_argument("--num", type=int, default=1000, help="held-out images (evenly spaced), as bench_quality")
    a = ap.parse_args(argv)
    import torch

    from ganctl.data.dataset import PreparedDataset, open_validation
    from ganctl.metrics.classifier import classifier_for
    from ganctl.sampling.generate import load_generator

    torch.set_num_threads(1)
    name, _, path = a.data.partition("=")
    ds, hold, clf = PreparedDataset(path), open_validation(path), classifier_for(path)
    hr, labels = hold.get_batch(evenly(len(hold), a.num))
    seen, seen_labels = ds.get_batch(evenly(len(ds), a.num))
    if hr.shape[1] != 3:
        raise SystemExit(f"{name}: {path} is not a colour set (channels {hr.shape[1]})")
    acc = lambda imgs, y=labels: clf.accuracy(imgs, y)[0]  # noqa: E731
    print(f"{name}: {len(hr)} held-out images; class accuracy under its classifier {Path(clf.meta['path']).stem}")
    print(f"  {'real images':36s} {acc(hr):.3f}")
    print(f"  {'luminance only (the input)':36s} {acc(gray_inputs(hr)):.3f}")
    for h in HUES:
        print(f"  {f'luma kept, hue turned {h} deg':36s} {acc(recolour(hr, hue_deg=h)):.3f}")
    for c in CHROMAS:
        print(f"  {f'luma kept, chroma x{c}':36s} {acc(recolour(hr, chroma_scale=c)):.3f}")
    for run in a.runs:
        gen = load_generator(run, torch.device("cpu"), conditioning=None)
        print(f"  run {run}")
        for what, target, y in (("held-out", hr, labels), ("training", seen, seen_labels)):
            out = image_outputs(gen.G, gray_inputs(target), "AtoB", gen.meta)
            hue_err, ratio = colour_errors(out, target)
            print(f"    {'outputs, ' + what + ' images':34s} {acc(out, y):.3f}  (real {acc(target, y):.3f}; hue error "
                  f"{hue_err:.0f} deg, chroma {ratio:.2f} of the target's)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
