"""Synthetic datasets: `ganctl sample RUN --export-dataset DIR --num N` writes N generated images as a prepared dataset.

DIR/dataset.safetensors + DIR/manifest.json is the format every ganctl command reads (train, fid, cas, audit, ...):
images for seeds 0..N-1 and, for a conditional generator, labels = seed % classes (the rule `ganctl sample` uses, so
the classes are balanced and each image still depends only on its seed). The manifest says the images are synthetic
and names the network (sha256), truncation and seeds.

DIR/images/<class name>/seedNNNNNN.png beside it is the same images in torchvision's ImageFolder layout
(`torchvision.datasets.ImageFolder("DIR/images")`; class folders sort in class-index order because they are prefixed
with the index). Each PNG goes through the PngWriter with its provenance statement, like every generated image.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ganctl.errors import UsageError

IMAGE_DIR = "images"


def class_folder(index: int, name: str | None) -> str:
    """'03-dress': the index first so ImageFolder's sorted class order is the generator's class order."""
    slug = re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")
    return f"{index:02d}-{slug}" if slug else f"{index:02d}"


def export_dataset(gen, out: str | Path, num: int, truncation_psi: float = 1.0, batch_size: int = 64,
                   workers: int | None = None, provenance: bool = True, image_folder: bool = True) -> dict:
    """Generate `num` images from a LoadedGenerator into a prepared dataset at `out` (+ the ImageFolder copy)."""
    from ganctl.data.dataset import DATA_FILE, write_dataset
    from ganctl.sampling.provenance import for_network
    from ganctl.sampling.writer import PngWriter

    if num < 1:
        raise UsageError("--num: the number of images to export must be at least 1")
    out = Path(out)
    if (out / DATA_FILE).exists():
        raise UsageError(f"--export-dataset {out}: already holds a dataset; choose a new folder or delete it")
    seeds = list(range(num))
    k = gen.num_classes
    labels = np.array([s % k for s in seeds] if k else [-1] * num, dtype=np.int64)
    names = list(gen.label_names) if k else []
    prov = for_network(gen.path, truncation_psi=truncation_psi) if provenance else None
    images = None
    with PngWriter(workers if image_folder else 1) as writer:
        pos = 0
        for batch in gen.iter_images(seeds, truncation_psi, None, batch_size):
            if images is None:
                images = np.empty((num, *batch.shape[1:]), np.uint8)
            arr = batch.numpy()
            images[pos:pos + len(arr)] = arr
            if image_folder:
                for j, img in enumerate(arr):
                    s = seeds[pos + j]
                    folder = class_folder(int(labels[s]), names[labels[s]] if labels[s] < len(names) else None) if k \
                        else "generated"
                    path = out / IMAGE_DIR / folder / f"seed{s:06d}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    writer.submit(img.transpose(1, 2, 0), path,
                                  prov.with_(seed=s, class_idx=int(labels[s]) if k else None) if prov else None)
            pos += len(arr)
    manifest = {"name": out.name, "source": str(gen.path), "kind": "images", "generated": True,
                "synthetic": {"checkpoint": str(gen.path), "sha256": _sha256(gen.path), "truncation_psi": truncation_psi,
                              "seeds": f"0-{num - 1}", "labels": "seed % classes" if k else "none"},
                "label_names": names}
    write_dataset(out, images, labels, manifest)
    return {"dataset": str(out), "count": num, "classes": k,
            "image_folder": str(out / IMAGE_DIR) if image_folder else None, "checkpoint": str(gen.path)}


def _sha256(path: Path) -> str:
    from ganctl.interop.info import file_sha256

    return file_sha256(Path(path))
