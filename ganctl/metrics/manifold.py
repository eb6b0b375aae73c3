"""k-NN manifold metrics on detector features: improved precision/recall (Kynkäänniemi et al. 2019) and density/
coverage (Naeem et al. 2020), batched so that no N x N matrix is ever held (rows in blocks of `block`).

Each set's manifold is the union of balls around its points, the radius being the distance to the point's k-th nearest
neighbour in its own set (kthvalue(k + 1): the point itself is its 0-th neighbour). Precision: the fraction of fakes
inside the reals' manifold; recall: the fraction of reals inside the fakes' manifold (both with <=, as the reference
tools). Density: the mean number of real balls (k = 5) holding each fake, divided by k; coverage: the fraction of reals
whose nearest fake lies strictly inside its ball (both with strict <, as Naeem et al.'s code).

Distances are torch.cdist over column blocks of `block` inside row blocks of `block`, the same blocking as
torch-fidelity, because cdist's matrix-multiply path rounds differently for other block shapes and a point on a ball's
edge must land on the same side. The torch-fidelity path computes the real x fake distances once (its
calculate_precision_recall_full does too) and reads recall from the rows and precision from the columns; the pr50k3
path follows NVlabs: float16 features and distances, radii from a float32 kthvalue cast back to float16, and one
probe-rows pass per direction.
"""

from __future__ import annotations

import torch


def _rows_vs(rows: torch.Tensor, cols: torch.Tensor, block: int) -> torch.Tensor:
    """(len(rows), len(cols)) distances, computed in column blocks."""
    if rows.dtype == torch.float16 and rows.device.type == "cpu":
        # CPU cdist has no float16 kernel for every shape: float32 from the float16 features, rounded to float16.
        return torch.cat([torch.cdist(rows.float(), c.float()).half() for c in cols.split(block)], dim=1)
    return torch.cat([torch.cdist(rows, c) for c in cols.split(block)], dim=1)


def kth_radii(feats: torch.Tensor, ks: tuple[int, ...], block: int) -> dict[int, torch.Tensor]:
    """{k: (N,) distance of each point to its k-th nearest neighbour in `feats`} from one pass over row blocks."""
    out: dict[int, list] = {k: [] for k in ks}
    for rb in feats.split(block):
        d = _rows_vs(rb, feats, block)
        if d.dtype == torch.float16:
            d = d.float()  # NVlabs: kthvalue in float32, radii back in float16
            for k in ks:
                out[k].append(d.kthvalue(k + 1, dim=1).values.half())
        else:
            for k in ks:
                out[k].append(d.kthvalue(k + 1, dim=1).values)
        del d
    return {k: torch.cat(v) for k, v in out.items()}


def _check(real: torch.Tensor, fake: torch.Tensor, k: int) -> None:
    from ganctl.errors import DataError

    for name, f in (("real", real), ("fake", fake)):
        if f.shape[0] <= k:
            raise DataError(f"{name} side: {f.shape[0]} images; k-NN radii with k={k} need at least {k + 1} per side")


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, block: int = 10000,
                     density_coverage: bool = False, dc_k: int = 5) -> dict:
    """torch-fidelity's improved precision/recall (float32), plus density/coverage when asked."""
    _check(real, fake, max(k, dc_k) if density_coverage else k)
    ks = (k, dc_k) if density_coverage and dc_k != k else (k,)
    r_real = kth_radii(real, ks, block)
    r_fake = kth_radii(fake, (k,), block)[k]
    recall_in, precision_in = [], torch.zeros(fake.shape[0], dtype=torch.bool, device=fake.device)
    dens = torch.zeros(fake.shape[0], dtype=torch.float64, device=fake.device)
    cover = []
    start = 0
    for rb in real.split(block):
        d = _rows_vs(rb, fake, block)  # reals x fakes, as torch-fidelity's dist_2_1
        rr = r_real[k][start:start + rb.shape[0]]
        recall_in.append((d <= r_fake).any(dim=1))
        precision_in |= (d <= rr[:, None]).any(dim=0)
        if density_coverage:
            r5 = r_real[dc_k][start:start + rb.shape[0]]
            dens += (d < r5[:, None]).sum(dim=0, dtype=torch.float64)
            cover.append(d.min(dim=1).values < r5)
        start += rb.shape[0]
        del d
    out = {"precision": precision_in.float().mean().item(), "recall": torch.cat(recall_in).float().mean().item()}
    if density_coverage:
        out["density"] = float(dens.sum().item() / (dc_k * fake.shape[0]))
        out["coverage"] = torch.cat(cover).float().mean().item()
    return out


def _inside(probes: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor, block: int) -> torch.Tensor:
    return torch.cat([(_rows_vs(pb, manifold, block) <= radii).any(dim=1) for pb in probes.split(block)])


def precision_recall_nvlabs(real: torch.Tensor, fake: torch.Tensor, k: int = 3, block: int = 10000) -> dict:
    """NVlabs' compute_pr: float16 features, probe rows against the manifold, one pass per direction."""
    _check(real, fake, k)
    real, fake = real.half(), fake.half()
    out = {}
    for name, manifold, probes in (("precision", real, fake), ("recall", fake, real)):
        radii = kth_radii(manifold, (k,), block)[k]
        out[name] = _inside(probes, manifold, radii, block).float().mean().item()
    return out
