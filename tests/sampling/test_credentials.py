"""Signed C2PA content credentials (ganctl[c2pa]) through the real CLI: `sample --grid --sign --key --watermark`
on a tiny trained run, `ganctl provenance --trust` (valid / untrusted / invalid after one pixel changes / unsigned,
with their exit codes), `ganctl watermark detect`, and a signed GIF from write_frames. The certificate chain is an
ephemeral root CA + signing certificate made with `cryptography` (no network, no timestamp authority)."""

from __future__ import annotations

import importlib.util
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("c2pa", reason="content credentials need the c2pa extra: pip install 'ganctl[c2pa]'")

from ganctl.sampling.credentials import make_test_chain  # noqa: E402


def change_one_pixel(src: Path, dst: Path) -> None:
    """Flip the lowest bit of the first pixel inside the PNG's image data, keeping every other chunk (the C2PA
    manifest included) byte for byte: what a tamperer who keeps the credentials would do."""
    data = src.read_bytes()
    chunks, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    raw = bytearray(zlib.decompress(b"".join(b for t, b in chunks if t == b"IDAT")))
    raw[1] ^= 1  # byte 0 is row 0's filter type; byte 1 is the first pixel
    out, done = [data[:8]], False
    for t, b in chunks:
        if t == b"IDAT":
            if done:
                continue
            b, done = zlib.compress(bytes(raw)), True
        out.append(struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b)))
    dst.write_bytes(b"".join(out))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return make_test_chain(tmp_path_factory.mktemp("pki"))


def test_sign_verify_tamper_cli(tiny_cgan_run, chain, tmp_path, cli):
    out = tmp_path / "s"
    res = json.loads(cli("sample", tiny_cgan_run, "--seeds", "0-63", "--grid", "--outdir", out, "--sign", chain["cert"],
                         "--key", chain["key"], "--watermark", "--watermark-payload", "c0ffee00", "--json", "--energy",
                         check=0).stdout)
    # --energy (codecarbon, when installed): the command's energy with its method, in --json.
    assert "note" in res["energy"] if importlib.util.find_spec("codecarbon") is None else res["energy"]["kwh"] > 0
    grid = out / "grid.png"
    assert grid.is_file() and not list(out.glob("*.tmp*")) and not list(out.glob("*.signed"))
    change_one_pixel(grid, tmp_path / "tampered.png")
    from PIL import Image

    Image.open(grid).save(tmp_path / "resaved.png")  # a plain re-save drops the manifest: unsigned
    p = cli("provenance", grid, tmp_path / "tampered.png", tmp_path / "resaved.png", "--trust", chain["ca"], "--json")
    assert p.returncode == 5, p.stderr  # one file is invalid
    good, bad, resaved = json.loads(p.stdout)
    assert good["c2pa"] == "valid" and good["c2pa_signer"] == "ganctl test signer"
    assert good["c2pa_action"] == "c2pa.created" and good["c2pa_digital_source_type"].endswith("trainedAlgorithmicMedia")
    assert good["ai_generated"] and good["kind"] == "grid" and good["seeds"] == "0-63"
    assert bad["c2pa"] == "invalid" and bad["c2pa_errors"]
    assert resaved["c2pa"] == "unsigned"
    # The manifest's contents, read with the library directly: the network's sha256 as ingredient, seed list, psi.
    import c2pa

    with open(grid, "rb") as f:
        m = c2pa.Reader("image/png", f).get_active_manifest()
    sha = good["network_sha256"]
    assert m["ingredients"][0]["instance_id"] == f"sha256:{sha}"
    params = next(x for x in m["assertions"] if x["label"].startswith("c2pa.actions"))["data"]["actions"][0]["parameters"]
    assert params["seeds"] == "0-63" and params["truncation_psi"] == 1.0
    assert m["claim_generator_info"][0]["name"] == "ganctl"
    # CI gates (the CLI's exit code is credentials.exit_code, checked through the CLI above): untrusted without --trust.
    from ganctl import api
    from ganctl.sampling.credentials import exit_code

    assert exit_code(api.provenance_verify([grid]), "trusted") == 4
    assert exit_code(api.provenance_verify([grid], chain["ca"]), "trusted") == 0
    assert exit_code(api.provenance_verify([tmp_path / "resaved.png"], chain["ca"]), "signed") == 3
    assert exit_code(api.provenance_verify([tmp_path / "resaved.png"], chain["ca"]), "any") == 0
    # The watermark survives signing and a re-save, and carries the payload.
    d = cli("watermark", "detect", grid, tmp_path / "resaved.png", "--json", check=0)
    assert [r["payload"] for r in json.loads(d.stdout)] == ["c0ffee00", "c0ffee00"]


def test_signed_gif_and_size_refusal(chain, tmp_path):
    import torch

    from ganctl.errors import UsageError
    from ganctl.sampling.credentials import verify
    from ganctl.sampling.interpolate import write_frames
    from ganctl.sampling.output import make_policy
    from ganctl.sampling.provenance import Provenance

    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (3, 3, 16, 16), dtype=np.uint8))
    pol = make_policy(chain["cert"], chain["key"])
    write_frames(frames, tmp_path / "a.gif", provenance=Provenance(kind="frames", seeds="0-2", output=pol))
    assert verify(tmp_path / "a.gif", chain["ca"])["c2pa"] == "valid"
    with pytest.raises(UsageError, match="at least 128x128"):
        write_frames(frames, tmp_path / "b.gif", provenance=Provenance(output=make_policy(watermark=True)))
    assert not (tmp_path / "b.gif").exists() and not list(tmp_path.glob("*.tmp"))


def test_policy_errors(chain, tmp_path, monkeypatch):
    from ganctl.errors import UsageError
    from ganctl.sampling.output import make_policy

    with pytest.raises(UsageError, match="--sign and --key go together"):
        make_policy(sign=chain["cert"])
    with pytest.raises(UsageError, match="no such file"):
        make_policy(sign=str(tmp_path / "nope.pem"), key=chain["key"])
    monkeypatch.setenv("GANCTL_C2PA_CERT", chain["cert"])
    monkeypatch.setenv("GANCTL_C2PA_KEY", chain["key"])
    assert make_policy().sign_key == chain["key"]
    # A config's provenance.c2pa comes before the env vars.
    with pytest.raises(UsageError, match="--sign x.pem: no such file"):
        make_policy(config={"provenance": {"c2pa": {"cert": "x.pem", "key": chain["key"]}}})
