"""Shared Typer options for every generating command: --sign/--key (C2PA content credentials), --watermark,
--watermark-payload. A command adds the four parameters and passes `output_policy(...)` to its api function, which
puts it in the Provenance it writes with (sampling/output.py applies it in save_png / write_frames).

    sign: Optional[str] = sign_option(), key: Optional[str] = key_option(),
    watermark: bool = watermark_option(), watermark_payload: Optional[str] = watermark_payload_option(),
    ...
    policy = output_policy(sign, key, watermark, watermark_payload)
"""

from __future__ import annotations

import typer


def sign_option():
    return typer.Option(None, "--sign", envvar="GANCTL_C2PA_CERT", show_envvar=False, metavar="CERT_CHAIN.pem",
                        help="Sign every output with a C2PA manifest (content credentials) using this PEM certificate "
                             "chain (end-entity first); needs --key and `pip install 'ganctl[c2pa]'`. "
                             "Env: GANCTL_C2PA_CERT.")


def key_option():
    return typer.Option(None, "--key", envvar="GANCTL_C2PA_KEY", show_envvar=False, metavar="KEY.pem",
                        help="The PEM private key of the --sign certificate. Env: GANCTL_C2PA_KEY.")


def watermark_option():
    return typer.Option(False, "--watermark", help="Embed ganctl's invisible watermark (survives JPEG q75; images of at "
                                                   "least 128x128: use --grid for small models). "
                                                   "Read it with `ganctl watermark detect FILE`.")


def watermark_payload_option():
    return typer.Option(None, "--watermark-payload", metavar="HEX8|TEXT",
                        help="32 bits the watermark carries: 8 hex digits, or any text (its sha256's first 32 bits). "
                             "Default: the first 32 bits of the network file's sha256.")


def output_policy(sign, key, watermark, watermark_payload, config: dict | None = None):
    """The OutputPolicy these options ask for (None: nothing beyond the provenance statement)."""
    from ganctl.sampling.output import make_policy

    return make_policy(sign, key, watermark, watermark_payload, config)


def checked_output_policy(no_provenance: bool, sign, key, watermark, watermark_payload):
    """output_policy(...) for a command that also has --no-provenance, refusing the two together."""
    policy = output_policy(sign, key, watermark, watermark_payload)
    if policy is not None and no_provenance:
        from ganctl.errors import UsageError

        raise UsageError("--no-provenance: cannot be combined with --sign/--watermark (they state what the image is)")
    return policy


def energy_option():
    return typer.Option(False, "--energy", help="Measure the command's energy (kWh) and emissions (kg CO2e) with "
                                                "codecarbon, offline (`pip install 'ganctl[energy]'`); in --json under "
                                                "`energy`, with the method. Adds a few seconds (codecarbon's start-up).")


def energy_country_option():
    return typer.Option(None, "--energy-country", metavar="ISO3", help="Grid carbon intensity of this country (e.g. "
                                                                        "FRA); default: world average.")
