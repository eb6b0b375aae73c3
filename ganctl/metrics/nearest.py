"""Memorisation check: the nearest training images of generated ones, in pixel space and in Inception (pool3) feature
space, against the training set's own nearest-neighbour distances, with near-copies flagged.

Near-copy rule (in the spirit of Carlini et al. 2023, "Extracting Training Data from Diffusion Models", §4: a
generation counts as extracted when it is much closer to one training image than to the other training images near
it): ratio = d(fake, nearest training image) / d(fake, 2nd nearest training image), in pixel space; a fake is flagged
when ratio < `ratio` (default 1/3: the nearest training image is at least 3x closer than any other). The paper
calibrates against the mean of the 50 nearest; the 2nd nearest is the cheap, stricter-to-trigger special case, and the
threshold is ganctl's choice, not a number from the paper: tune it with --ratio. The same ratio in feature space is
reported too. Independently, each fake's nearest distance is compared with the training set's own nearest-neighbour
distances (each of up to `train_queries` training images to its nearest other training image): a generator that
copies puts fakes closer to the training set than training images are to each other.

Pixel distances are RMS differences on the [0, 1] scale (L2 / sqrt(pixels x channels) / 255); feature distances are
L2 on pool3. Everything is batched: the training set streams through in blocks of `block` images and only a running
top-k per query is kept, so memory does not grow with the training set.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ganctl.errors import DataError


def knn(queries: torch.Tensor, ref_blocks, k: int, exclude: torch.Tensor | None = None,
        query_block: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """(dist (Q, k), index (Q, k)) of each query's k nearest refs, ascending. `ref_blocks` yields (offset, (B, D) refs);
    `exclude` (Q,) names each query's own ref index (a training image is not its own neighbour)."""
    q = queries.shape[0]
    best_d = torch.full((q, k), math.inf, device=queries.device)
    best_i = torch.full((q, k), -1, dtype=torch.int64, device=queries.device)
    for off, rb in ref_blocks:
        rb = rb.to(queries.device, torch.float32)
        cols = torch.arange(off, off + rb.shape[0], device=queries.device)
        for s in range(0, q, query_block):
            qb = queries[s:s + query_block].float()
            d = torch.cdist(qb, rb)
            if exclude is not None:
                d[exclude[s:s + query_block, None] == cols[None, :]] = math.inf
            kk = min(k, rb.shape[0])
            dd, ii = d.topk(kk, dim=1, largest=False)
            # cdist's matmul form loses ~1e-4 to cancellation, which would hide exact copies: the kept candidates'
            # distances are recomputed directly (excluded ones stay inf).
            dd = torch.where(torch.isinf(dd), dd, (qb[:, None, :] - rb[ii]).norm(dim=-1))
            all_d = torch.cat([best_d[s:s + query_block], dd], 1)
            all_i = torch.cat([best_i[s:s + query_block], cols[ii]], 1)
            top_d, pos = all_d.topk(k, dim=1, largest=False)
            best_d[s:s + query_block], best_i[s:s + query_block] = top_d, all_i.gather(1, pos)
    return best_d, best_i


def _rgb(u8: torch.Tensor) -> torch.Tensor:
    return u8.repeat(1, 3, 1, 1) if u8.shape[1] == 1 else u8[:, :3]


def pixel_blocks(source, block: int, shape: tuple, workers: int = 0):
    """Yield (offset, (B, C*H*W) float32 in [0, 1]) over a Source's images in item order; every image must be `shape`."""
    from torch.utils.data import DataLoader

    from ganctl.metrics.sources import DecodeDataset, collate

    ds = DecodeDataset(source, list(range(len(source))))
    loader = DataLoader(ds, batch_size=block, shuffle=False, num_workers=workers, collate_fn=collate)
    off = 0
    for batch in loader:
        rows = []
        for i, img in batch:
            if img is None:
                raise DataError(f"{source.spec}: {ds.name(i)} cannot be read; the memorisation check needs every training image")
            chw = img.permute(2, 0, 1)
            if tuple(chw.shape) != shape:
                raise DataError(f"{source.spec}: {ds.name(i)} is {tuple(chw.shape)} (C, H, W), the generated images are "
                                f"{shape}; pixel distances need one size (use a prepared dataset of the run's resolution)")
            rows.append(chw.reshape(-1))
        yield off, torch.stack(rows).float() / 255
        off += len(rows)


def train_images(source, indices) -> torch.Tensor:
    """uint8 (N, 3, H, W) training images by index (for the picture)."""
    from ganctl.metrics.sources import DecodeDataset

    ds = DecodeDataset(source, list(indices))
    return torch.stack([ds[j][1].permute(2, 0, 1) for j in range(len(ds))])


def _quantiles(x: torch.Tensor) -> dict:
    x = x.double().cpu().numpy()
    return {"min": float(x.min()), "p01": float(np.percentile(x, 1)), "p05": float(np.percentile(x, 5)),
            "median": float(np.median(x)), "mean": float(x.mean())}


def _space_report(d_fake, i_fake, d_train, ratio: float) -> dict:
    r = d_fake[:, 0] / d_fake[:, 1].clamp_min(1e-12)
    p05 = float(np.percentile(d_train.double().cpu().numpy(), 5))
    return {"fake_to_train": _quantiles(d_fake[:, 0]), "train_to_train": _quantiles(d_train),
            "fraction_closer_than_train_p05": float((d_fake[:, 0] < p05).float().mean()),
            "ratio": r, "flagged": r < ratio, "dist": d_fake, "index": i_fake}


def find_nearest(fakes_u8: torch.Tensor, train_source, *, k: int = 3, ratio: float = 1 / 3, spaces=("pixel", "feature"),
                 detector=None, protocol=None, device="cpu", block: int = 1024, train_queries: int = 2000,
                 workers: int = 0, train_features: torch.Tensor | None = None) -> dict:
    """The memorisation check on uint8 (N, C, H, W) generated images against a training-set Source.

    `detector`/`protocol`: the Inception detector and its preprocessing (needed for the feature space);
    `train_features`: precomputed (N_train, 2048) pool3 of the training set (else extracted here). Returns per-space
    summaries plus per-image neighbour indices/distances, ratios and flags (tensors, on the CPU)."""
    device = torch.device(device)
    k = max(k, 2)
    fakes = _rgb(fakes_u8)
    n_train = len(train_source)
    if n_train < k + 1:
        raise DataError(f"{train_source.spec}: {n_train} training images; the check needs at least {k + 1}")
    n_q = min(train_queries, n_train)
    out: dict = {"n_generated": int(fakes.shape[0]), "n_train": n_train, "k": k, "ratio_threshold": ratio,
                 "train_queries": n_q, "spaces": {}}
    if "pixel" in spaces:
        shape = tuple(fakes.shape[1:])
        q = fakes.reshape(fakes.shape[0], -1).float().to(device) / 255
        d, i = knn(q, pixel_blocks(train_source, block, shape, workers), k)
        tq = next(iter(pixel_blocks(train_source, n_q, shape, workers)))[1].to(device)
        dt, _ = knn(tq, pixel_blocks(train_source, block, shape, workers), 1,
                    exclude=torch.arange(n_q, device=device))
        scale = 1 / math.sqrt(q.shape[1])  # L2 -> RMS per pixel and channel
        out["spaces"]["pixel"] = _space_report((d * scale).cpu(), i.cpu(), (dt[:, 0] * scale).cpu(), ratio)
    if "feature" in spaces:
        if detector is None or protocol is None:
            raise ValueError("feature space needs the detector and its protocol")
        with torch.inference_mode():
            feats = torch.cat([detector(protocol.device_transform(fakes[s:s + 64].to(device)))[0].float()
                               for s in range(0, fakes.shape[0], 64)])
        tf = train_features.to(device)
        blocks = [(s, tf[s:s + block]) for s in range(0, tf.shape[0], block)]
        d, i = knn(feats, blocks, k)
        dt, _ = knn(tf[:n_q], blocks, 1, exclude=torch.arange(n_q, device=device))
        out["spaces"]["feature"] = _space_report(d.cpu(), i.cpu(), dt[:, 0].cpu(), ratio)
    return out


def near_copies(result: dict) -> torch.Tensor:
    """Boolean (N,) near-copy flags: the pixel-space ratio rule (or feature space when pixels were not searched)."""
    sp = result["spaces"]
    return (sp["pixel"] if "pixel" in sp else sp["feature"])["flagged"]


def picture(fakes_u8: torch.Tensor, result: dict, train_source, rows: int = 16) -> np.ndarray:
    """Each generated image (first `rows`) followed by its k nearest training images per space: one grid row each."""
    from ganctl.sampling.grid import make_grid

    import torch.nn.functional as F

    fakes = _rgb(fakes_u8)[:rows]
    size = tuple(fakes.shape[2:])
    cells = []
    for r in range(fakes.shape[0]):
        cells.append(fakes[r])
        for sp in ("pixel", "feature"):
            if sp in result["spaces"]:
                imgs = train_images(train_source, result["spaces"][sp]["index"][r].tolist())
                if tuple(imgs.shape[2:]) != size:  # feature space allows other sizes: shown at the generated size
                    imgs = F.interpolate(imgs.float(), size=size, mode="bilinear", antialias=True).round().clamp(0, 255).to(torch.uint8)
                cells.extend(imgs)
    cols = 1 + result["k"] * len(result["spaces"])
    return make_grid(torch.stack(cells), cols=cols)


def to_record(result: dict, seeds: list[int]) -> dict:
    """JSON-ready summary: per-space distributions and each image's neighbours, distances, ratio and flag."""
    rec = {k: v for k, v in result.items() if k != "spaces"}
    rec["spaces"] = {}
    flags = near_copies(result)
    for sp, rep in result["spaces"].items():
        rec["spaces"][sp] = {k: v for k, v in rep.items() if k not in ("ratio", "flagged", "dist", "index")}
        rec["spaces"][sp]["flagged"] = int(rep["flagged"].sum())
    rec["near_copies"] = [seeds[j] for j in torch.nonzero(flags).flatten().tolist()]
    rec["images"] = []
    for j, seed in enumerate(seeds):
        item = {"seed": seed, "near_copy": bool(flags[j])}
        for sp, rep in result["spaces"].items():
            item[sp] = {"nearest": rep["index"][j].tolist(), "distances": [round(float(x), 6) for x in rep["dist"][j]],
                        "ratio": round(float(rep["ratio"][j]), 6)}
        rec["images"].append(item)
    return rec


def run_nearest(run: str, data: str, *, num: int = 64, k: int = 3, ratio: float = 1 / 3, space: str = "auto",
                out: str | None = "nearest.png", rows: int = 16, weights: str | None = None, device: str = "auto",
                batch_size: int = 64, workers: int = 0, truncation_psi: float = 1.0, class_idx: int | None = None,
                train_queries: int = 2000, provenance: bool = True, progress: bool = True) -> dict:
    """`ganctl nearest`: generate `num` images (seeds 0..num-1) from `run`, search `data`, write the picture."""
    from ganctl.errors import UsageError
    from ganctl.metrics.compute import _Context, _side, precision
    from ganctl.metrics.sources import resolve_source
    from ganctl.sampling.generate import load_generator

    if space not in ("auto", "both", "pixel", "feature"):
        raise UsageError(f"--space {space!r}: use auto, both, pixel or feature")
    note = None
    if space == "auto":
        # As `diagnose` does: Inception features only when the weights are already here (never a download).
        from ganctl.metrics.weights import candidate_paths

        if weights or any(p.is_file() for p in candidate_paths()):
            space = "both"
        else:
            space = "pixel"
            note = ("Inception weights not found: pixel space only (near-copies are still found; for the feature space "
                    "pass --weights FILE or put pt_inception-2015-12-05-6726825d.pth in the weights cache)")
    if num < 1 or k < 2 or not 0 < ratio < 1:
        raise UsageError("--num must be >= 1, --k >= 2 and --ratio in (0, 1)")
    spaces = ("pixel", "feature") if space == "both" else (space,)
    train = resolve_source(data, allow_stats=False, num=None)
    if train.kind == "generator":
        raise UsageError(f"--data {data}: is a run; give the training images (prepared dataset, folder or zip)")
    ctx = _Context("nearest", weights, "pytorch-fid", device, batch_size, workers, False, progress, truncation_psi, class_idx)
    gen = load_generator(run, ctx.device)
    seeds = list(range(num))
    fakes = torch.cat(list(gen.iter_images(seeds, truncation_psi, class_idx, batch_size)))
    train_feats = None
    sides = [{"path": str(gen.path), "kind": "generator", "n": num}]
    with precision(ctx.device, False):
        if "feature" in spaces:
            ex = ctx.extract(train, "training set", keep_pool=True)
            if ex.skipped:
                raise DataError(f"{data}: {len(ex.skipped)} unreadable training image(s), e.g. {ex.skipped[0]}")
            train_feats = ex.pool3
            sides.append(_side(train, ex))
        else:
            sides.append({**train.record(), "n": len(train)})
        res = find_nearest(fakes, train, k=k, ratio=ratio, spaces=spaces,
                           detector=ctx.model if "feature" in spaces else None, protocol=ctx.protocol,
                           device=ctx.device, train_queries=train_queries, workers=workers, train_features=train_feats)
    rec = to_record(res, seeds)
    if note:
        rec["note"] = note
    if out:
        from ganctl.sampling.grid import save_png
        from ganctl.sampling.provenance import COMPOSITE_SOURCE_TYPE, for_network

        prov = for_network(gen.path, kind="nearest (generated image, then its nearest training images)",
                           seeds=f"0-{num - 1}" if num > 1 else "0", truncation_psi=truncation_psi, class_idx=class_idx,
                           source_type=COMPOSITE_SOURCE_TYPE) if provenance else None
        rec["picture"] = str(save_png(picture(fakes, res, train, rows), out, prov))
    return ctx.record(rec, sides)
