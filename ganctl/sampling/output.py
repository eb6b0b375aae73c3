"""Output policy: what happens to every generated image on its way to disk, besides the provenance statement.

Commands build one `OutputPolicy` from their flags (ganctl/cli/output_options.py), config or env vars and carry it
in `Provenance.output`; the writers (grid.save_png, PngWriter through it, interpolate.write_frames) apply it, so a
command that writes through them with a Provenance gets watermarking and signing without code of its own:

- `watermark`: embed ganctl's invisible mark (sampling/watermark.py) in the pixels before encoding;
- `sign_cert`/`sign_key`: sign the encoded file with a C2PA manifest (sampling/credentials.py) before it is renamed
  into place, so no unsigned file is ever visible under the final name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ganctl.errors import UsageError

ENV_CERT = "GANCTL_C2PA_CERT"
ENV_KEY = "GANCTL_C2PA_KEY"


@dataclass(frozen=True)
class OutputPolicy:
    watermark: bool = False
    watermark_payload: str | None = None   # None: the first 32 bits of the network's sha256
    sign_cert: str | None = None           # PEM certificate chain (end-entity first)
    sign_key: str | None = None            # PEM private key

    @property
    def sign(self) -> bool:
        return self.sign_cert is not None

    @property
    def active(self) -> bool:
        return self.watermark or self.sign


def make_policy(sign: str | None = None, key: str | None = None, watermark: bool = False,
                watermark_payload: str | None = None, config: dict | None = None) -> OutputPolicy | None:
    """The policy for one command: flags first, then `provenance.c2pa: {cert, key}` from a config, then the env vars
    GANCTL_C2PA_CERT / GANCTL_C2PA_KEY. Checks the files and the c2pa extra up front (one line, exit 2)."""
    c2pa_cfg = ((config or {}).get("provenance") or {}).get("c2pa") or {}
    sign = sign or c2pa_cfg.get("cert") or os.environ.get(ENV_CERT) or None
    key = key or c2pa_cfg.get("key") or os.environ.get(ENV_KEY) or None
    if (sign is None) != (key is None):
        raise UsageError("--sign and --key go together: --sign CERT_CHAIN.pem --key KEY.pem "
                         f"(or provenance.c2pa: {{cert, key}}, or {ENV_CERT} and {ENV_KEY})")
    if watermark_payload is not None and not watermark:
        raise UsageError("--watermark-payload: add --watermark (the payload is what the watermark carries)")
    if sign is not None:
        for flag, p in (("--sign", sign), ("--key", key)):
            if not Path(p).is_file():
                raise UsageError(f"{flag} {p}: no such file (a PEM file; see README 'Content credentials')")
        from ganctl.sampling.credentials import require_c2pa

        require_c2pa()
    policy = OutputPolicy(watermark, watermark_payload, sign, key)
    return policy if policy.active else None


def mark_pixels(array_hwc, prov):
    """The pixels to encode: watermarked when the provenance's policy asks (refuses images too small, one line)."""
    policy = getattr(prov, "output", None)
    if policy is None or not policy.watermark:
        return array_hwc
    from ganctl.sampling import watermark

    data = watermark.parse_payload(policy.watermark_payload, prov.network_sha256)
    return watermark.embed(array_hwc, data)


def sign_in_place(tmp: Path, final_name: str, prov) -> None:
    """Sign the encoded temp file when the policy asks (before the caller renames it to its final name)."""
    policy = getattr(prov, "output", None)
    if policy is None or not policy.sign:
        return
    from ganctl.sampling.credentials import sign_file

    sign_file(tmp, prov, policy.sign_cert, policy.sign_key, title=final_name)
