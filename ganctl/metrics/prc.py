"""`ganctl pr` end to end: VGG16 features of both sides (folders, zips, datasets, runs; sharded under torchrun), then
improved precision/recall (and optionally density/coverage) from ganctl.metrics.manifold.

Protocols (`--protocol`): torch-fidelity (its prc: float32, k=3, 10,000-row blocks) and pr50k3 (NVlabs: 50,000
generated vs up to 50,000 reals by default, float16 features and distances). The returned dict is the FID/IS/KID record
with `precision` and `recall` as numbers (the numeric mode is under `numerics`).
"""

from __future__ import annotations

from ganctl.errors import UsageError
from ganctl.metrics import manifold
from ganctl.metrics.compute import _Context, _side, precision
from ganctl.metrics.sources import resolve_source
from ganctl.metrics.vgg16 import build_vgg16, get_protocol
from ganctl.metrics.weights import VGG16, resolve_weights

PR50K3_N = 50000
BLOCK = 10000


class _VGGContext(_Context):
    get_protocol = staticmethod(get_protocol)
    resolve_weights = staticmethod(lambda explicit: resolve_weights(explicit, VGG16))
    build_detector = staticmethod(build_vgg16)

    def record(self, values: dict, sides: list[dict]) -> dict:
        rec = super().record({}, sides)
        rec["numerics"] = rec.pop("precision")
        rec["numerics"]["distances"] = "float16" if self.protocol.name == "pr50k3" else "float32"
        return {"metric": rec.pop("metric"), **values, **rec}


def precision_recall(real: str, fake: str, *, weights: str | None = None, protocol: str = "torch-fidelity",
                     device: str = "auto", batch_size: int = 64, workers: int = 2, num: int | None = None,
                     truncation_psi: float = 1.0, class_idx: int | None = None, k: int = 3,
                     density_coverage: bool = False, tf32: bool = False, progress: bool = True) -> dict:
    """Precision and recall of FAKE against REAL (argument order as `ganctl fid`)."""
    if k < 1:
        raise UsageError("--k: must be at least 1")
    ctx = _VGGContext("pr", weights, protocol, device, batch_size, workers, tf32, progress, truncation_psi, class_idx)
    nvlabs = ctx.protocol.name == "pr50k3"
    if nvlabs and density_coverage:
        raise UsageError("--density-coverage: NVlabs' pr50k3 has no density/coverage; use --protocol torch-fidelity")
    n = num if num else (PR50K3_N if nvlabs else None)
    srcs = [resolve_source(s, allow_stats=False, num=n) for s in (real, fake)]
    feats, sides = [], []
    with precision(ctx.device, tf32):
        for label, src in zip(("real", "fake"), srcs):
            ex = ctx.extract(src, label, keep_pool=True)
            feats.append(ex.pool3.to(ctx.device))
            sides.append(_side(src, ex, extra={"role": label}))
        if nvlabs:
            values = manifold.precision_recall_nvlabs(feats[0], feats[1], k=k, block=BLOCK)
        else:
            values = manifold.precision_recall(feats[0], feats[1], k=k, block=BLOCK, density_coverage=density_coverage)
    p, r = values["precision"], values["recall"]
    values["f_score"] = 2 * p * r / max(1e-5, p + r)  # torch-fidelity's F-score
    values["k"] = k
    if density_coverage:
        values["density_coverage_k"] = 5
    return ctx.record(values, sides)
