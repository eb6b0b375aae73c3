"""Networks trained elsewhere, read without executing anything from their files: NVlabs StyleGAN2 / StyleGAN2-ADA /
StyleGAN3 pickles (restricted unpickler) and rosinality stylegan2-pytorch checkpoints (weights-only torch.load), mapped
onto ganctl's stylegan2 / stylegan3 families. `read_network(path)` -> ImportedNetwork (imported.py); convert.py writes
it as a ganctl checkpoint, info.py describes any network file, init.py starts a training run from one.
"""

from ganctl.interop.imported import ImportedNetwork
from ganctl.interop.network import is_foreign, read_network

__all__ = ["ImportedNetwork", "is_foreign", "read_network"]
