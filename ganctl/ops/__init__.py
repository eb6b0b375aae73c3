"""ganctl.ops: the hot ops of StyleGAN-family models (fused bias + activation, upfirdn2d resampling,
StyleGAN3's filtered leaky ReLU).

Importing this package never compiles anything: native kernels (native/, C++ and CUDA) are built on first use
with impl='auto'/'native' or by `ganctl ops build`, and the plain-PyTorch reference is always there as fallback.
`status()` reports, per op, which implementation is active and why.
"""

from ganctl.ops.functional import (bias_act, downsample2d, filter2d, filtered_lrelu, setup_filter, upfirdn2d,
                                   upsample2d)


def status(build: bool = False) -> dict:
    """Per-op dict: {'active': 'native'|'ref', 'reason', 'cpu', 'cuda', 'cache_dir'}; build=True tries the build first."""
    from ganctl.ops import loader

    return loader.status(build=build)


__all__ = ["bias_act", "setup_filter", "upfirdn2d", "upsample2d", "downsample2d", "filter2d", "filtered_lrelu",
           "status"]
