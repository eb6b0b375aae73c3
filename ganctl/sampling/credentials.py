"""Signed C2PA content credentials (via the c2pa-python library, extra `ganctl[c2pa]`): signing and verifying.

The manifest says what the XMP statement says, but signed: action c2pa.created with digital source type
trainedAlgorithmicMedia, ganctl and its version as software agent, the generation parameters (seed, class,
truncation, noise mode) and the network file as an ingredient named by its sha256. No timestamp authority and no
remote manifests: signing and verifying work offline. Anyone can make a certificate, so a signature proves who
signed only as far as the verifier trusts the certificate's issuer (`--trust CA.pem`, or a public C2PA trust list).

Verification states (and `ganctl provenance` exit codes, worst file wins): valid (signature checks out and the signer
chains to a trust anchor, 0), untrusted (intact but the signer is not trusted, 4 with --require trusted),
unsigned (no manifest, 3 with --require signed/trusted), invalid (pixels or manifest changed after signing, 5 always).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ganctl.errors import GanctlError, UsageError

EXIT_UNSIGNED = 3
EXIT_UNTRUSTED = 4
EXIT_INVALID = 5
MIME = {".png": "image/png", ".gif": "image/gif", ".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
        ".webp": "image/webp"}


def require_c2pa():
    try:
        import c2pa
    except ImportError:
        raise UsageError("--sign needs the c2pa-python library: pip install 'ganctl[c2pa]'") from None
    return c2pa


def manifest(prov, title: str) -> dict:
    """The manifest definition for one output (a plain dict; c2pa adds the claim, hashes and signature)."""
    params = {k: v for k, v in {"seed": prov.seed, "seeds": prov.seeds, "class": prov.class_idx,
                                "truncation_psi": prov.truncation_psi, "noise_mode": prov.noise_mode,
                                "kind": prov.kind}.items() if v is not None}
    agent = {"name": prov.tool, "version": prov.version}
    m = {"claim_generator_info": [agent], "title": title,
         "assertions": [
             {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": prov.source_type,
                                                             "softwareAgent": agent, "parameters": params}]}},
             {"label": "org.ganctl.generation", "data": {**prov.fields()}}]}
    if prov.network_sha256:
        # The network file is not a C2PA asset type, so it is named, not embedded: its sha256 is the instance id.
        m["ingredients"] = [{"title": prov.network or "network", "format": "application/octet-stream",
                             "relationship": "inputTo", "instance_id": f"sha256:{prov.network_sha256}"}]
    return m


def _alg(key_pem: bytes):
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    c2pa = require_c2pa()
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise UsageError(f"--key: not an unencrypted PEM private key ({e})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: c2pa.C2paSigningAlg.ES256, 384: c2pa.C2paSigningAlg.ES384, 521: c2pa.C2paSigningAlg.ES512}[key.curve.key_size]
    if isinstance(key, rsa.RSAPrivateKey):
        return c2pa.C2paSigningAlg.PS256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    raise UsageError("--key: use an EC (P-256/384/521), RSA or Ed25519 key")


def sign_file(path: Path, prov, cert: str, key: str, title: str | None = None) -> None:
    """Sign `path` in place (to a sibling temp file, then rename): the file gains an embedded C2PA manifest."""
    c2pa = require_c2pa()
    path = Path(path)
    mime = MIME.get(Path(title or path.name).suffix.lower())
    if mime is None:
        raise UsageError(f"--sign: cannot sign {path.name} (supported: {', '.join(sorted(MIME))})")
    key_pem, cert_pem = Path(key).read_bytes(), Path(cert).read_bytes()
    signed = path.with_name(path.name + ".signed")
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(_alg(key_pem), cert_pem, key_pem, None))
        # No thumbnail in GIF manifests: c2pa renders one by decoding the whole animation (4.5 s for 3 tiny frames).
        ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}}) if mime == "image/gif" else None
        builder = c2pa.Builder.from_json(manifest(prov, title or path.name), context=ctx)
        with open(path, "rb") as src, open(signed, "w+b") as dst:
            builder.sign(signer, mime, src, dst)
        os.replace(signed, path)
    except c2pa.C2paError as e:
        signed.unlink(missing_ok=True)
        raise GanctlError(f"--sign {cert}: signing {title or path.name} failed: {e} (see README 'Content credentials' "
                          "for what the certificate needs)") from None
    except BaseException:
        signed.unlink(missing_ok=True)
        raise


def verify(path: str | os.PathLike, trust: str | None = None) -> dict:
    """{'c2pa': valid|untrusted|invalid|unsigned|not checked, 'c2pa_signer', 'c2pa_errors', 'c2pa_manifest'}."""
    try:
        import c2pa
    except ImportError:
        return {"c2pa": "not checked", "c2pa_note": "pip install 'ganctl[c2pa]' to verify content credentials"}
    p = Path(path)
    cfg: dict = {"verify": {"verify_trust": True, "remote_manifest_fetch": False}}
    if trust:
        if not Path(trust).is_file():
            raise UsageError(f"--trust {trust}: no such file (a PEM file of trusted root certificates)")
        cfg["trust"] = {"user_anchors": Path(trust).read_text()}
    try:
        ctx = c2pa.Context.from_dict(cfg)
        with open(p, "rb") as f:
            reader = c2pa.Reader(MIME.get(p.suffix.lower(), ""), f, context=ctx)
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
            active = reader.get_active_manifest() or {}
    except c2pa.C2paError as e:
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in str(e):
            return {"c2pa": "unsigned"}
        return {"c2pa": "invalid", "c2pa_errors": [str(e)]}
    failures = [f"{x.get('code')}: {x.get('explanation', '')}" for x in
                (results.get("activeManifest") or {}).get("failure", [])]
    untrusted_only = all(f.startswith("signingCredential.untrusted") for f in failures)
    status = {"Trusted": "valid"}.get(state) or ("untrusted" if state == "Valid" or (failures and untrusted_only) else "invalid")
    sig = active.get("signature_info") or {}
    out = {"c2pa": status, "c2pa_signer": sig.get("common_name"), "c2pa_issuer": sig.get("issuer")}
    if failures:
        out["c2pa_errors"] = failures
    actions = [a for x in active.get("assertions", []) if x.get("label", "").startswith("c2pa.actions")
               for a in x["data"].get("actions", [])]
    if actions:
        out["c2pa_action"] = actions[0].get("action")
        out["c2pa_digital_source_type"] = actions[0].get("digitalSourceType")
    return out


def exit_code(results: list[dict], require: str = "any") -> int:
    """CI gate: 5 if any file's credentials are invalid; with --require signed, 3 if any is unsigned; with --require
    trusted also 4 if any is signed by an untrusted certificate; else 0."""
    states = {r.get("c2pa") for r in results}
    if "invalid" in states:
        return EXIT_INVALID
    if require in ("signed", "trusted") and ({"unsigned", "not checked"} & states):
        return EXIT_UNSIGNED
    if require == "trusted" and "untrusted" in states:
        return EXIT_UNTRUSTED
    return 0


def make_test_chain(dest: Path, days: int = 30) -> dict:
    """An ephemeral ES256 root CA and signing certificate (what C2PA's profile checks accept), for tests and for
    trying --sign locally: {'cert': chain.pem, 'key': key.pem, 'ca': ca.pem}. Proves nothing to anyone else."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ganctl test")])

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(days=1), not_valid_after=now + datetime.timedelta(days=days))
    ck, ek = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder(**valid).subject_name(name("ganctl test root")).issuer_name(name("ganctl test root"))
          .public_key(ck.public_key()).serial_number(x509.random_serial_number())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ck.public_key()), False).sign(ck, hashes.SHA256()))
    ee = (x509.CertificateBuilder(**valid).subject_name(name("ganctl test signer")).issuer_name(ca.subject)
          .public_key(ek.public_key()).serial_number(x509.random_serial_number())
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ek.public_key()), False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ck.public_key()), False).sign(ck, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    dest.mkdir(parents=True, exist_ok=True)
    paths = {"cert": dest / "chain.pem", "key": dest / "key.pem", "ca": dest / "ca.pem"}
    paths["cert"].write_bytes(pem(ee) + pem(ca))
    paths["ca"].write_bytes(pem(ca))
    paths["key"].write_bytes(ek.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}
