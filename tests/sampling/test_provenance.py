"""Provenance in every file ganctl writes: XMP (IPTC DigitalSourceType = trainedAlgorithmicMedia) in PNGs from sample,
sample --grid, interpolate frames, style-mix and training grids; the GIF comment and MP4 metadata; --no-provenance;
`ganctl provenance` reading them back.

The PNG check does not use ganctl's reader: it walks the PNG chunks by hand (the PNG spec's layout) and parses the XMP
with ElementTree; where exiftool is installed (.ci/run installs Debian's libimage-exiftool-perl) it reads them too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

URI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
IPTC_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def png_itxt(path: Path) -> dict[str, dict]:
    """{keyword: {'compressed', 'lang', 'tkey', 'text'}} for every iTXt chunk, read straight from the file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = {}, 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(ctype + body) == crc
        if ctype == b"iTXt":
            key, rest = body.split(b"\0", 1)
            comp_flag, comp_method, rest = rest[0], rest[1], rest[2:]
            lang, rest = rest.split(b"\0", 1)
            tkey, text = rest.split(b"\0", 1)
            if comp_flag:
                text = zlib.decompress(text)
            out[key.decode("latin-1")] = {"compressed": bool(comp_flag), "lang": lang.decode(), "tkey": tkey.decode(),
                                          "text": text.decode("utf-8")}
        pos += 12 + length
        if ctype == b"IEND":
            break
    return out


def xmp_props(path: Path) -> dict[str, str]:
    """The XMP rdf:Description attributes, as {'{namespace}Name': value}, from the file's one XMP iTXt chunk."""
    chunks = png_itxt(path)
    assert list(chunks) == ["XML:com.adobe.xmp"], chunks.keys()
    c = chunks["XML:com.adobe.xmp"]
    assert not c["compressed"] and c["lang"] == "" and c["tkey"] == ""
    text = c["text"]
    root = ET.fromstring(text[text.index("<x:xmpmeta"):text.index("</x:xmpmeta>") + len("</x:xmpmeta>")])
    (desc,) = list(root.iter(f"{{{RDF_NS}}}Description"))
    return dict(desc.attrib)


def ganctl_fields(props: dict) -> dict:
    return {k.split("}")[1]: v for k, v in props.items() if k.startswith("{urn:ganctl:")}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sample_pngs_carry_xmp_with_seed_class_psi_and_network(tmp_path, tiny_cgan_run, cli):
    cli("sample", tiny_cgan_run, "--seeds", "3-4", "--truncation", "0.8", "--outdir", tmp_path / "s", "--device", "cpu",
        check=0)
    props = xmp_props(tmp_path / "s" / "seed0003.png")
    assert props[f"{{{IPTC_NS}}}DigitalSourceType"] == URI
    f = ganctl_fields(props)
    assert f["Seed"] == "3" and f["Class"] == "3" and f["TruncationPsi"] == "0.8" and f["Tool"] == "ganctl"
    from ganctl.sampling.generate import resolve_checkpoint

    ckpt = resolve_checkpoint(tiny_cgan_run)
    assert f["NetworkSHA256"] == sha256(Path(ckpt)) and f["Network"] == Path(ckpt).name
    assert ganctl_fields(xmp_props(tmp_path / "s" / "seed0004.png"))["Seed"] == "4"
    # Grid: the seeds it shows; --no-provenance: no iTXt chunk at all.
    cli("sample", tiny_cgan_run, "--seeds", "0-3,7", "--grid", "--outdir", tmp_path / "g", "--device", "cpu", check=0)
    assert ganctl_fields(xmp_props(tmp_path / "g" / "grid.png"))["Seeds"] == "0-3,7"
    cli("sample", tiny_cgan_run, "--seeds", "5", "--outdir", tmp_path / "n", "--device", "cpu", "--no-provenance", check=0)
    assert png_itxt(tmp_path / "n" / "seed0005.png") == {}
    # Read back by ganctl.
    res = json.loads(cli("provenance", tmp_path / "s" / "seed0003.png", tmp_path / "n" / "seed0005.png", "--json",
                         check=0).stdout)
    assert res[0]["ai_generated"] is True and res[0]["digital_source_type"] == URI and res[0]["seed"] == "3"
    assert res[1]["ai_generated"] is False and res[1]["digital_source_type"] is None


def test_training_grids_carry_the_statement(tiny_cgan_run):
    """The engine writes its grids through sampling/grid.save_png, whose default is the statement."""
    fakes = sorted(tiny_cgan_run.glob("fakes-*.png"))
    assert fakes
    props = xmp_props(fakes[-1])
    assert props[f"{{{IPTC_NS}}}DigitalSourceType"] == URI and ganctl_fields(props)["Tool"] == "ganctl"


def test_interpolate_frames_gif_and_mp4(tmp_path, tiny_cgan_run, cli):
    cli("interpolate", tiny_cgan_run, "--seeds", "1,5", "--steps", "2", "--out", tmp_path / "frames", "--device", "cpu",
        check=0)
    frames = sorted((tmp_path / "frames").glob("frame*.png"))
    assert len(frames) == 3
    f = ganctl_fields(xmp_props(frames[1]))
    assert f["Kind"] == "frames" and f["Seeds"] == "1,5"
    cli("interpolate", tiny_cgan_run, "--seeds", "1,5", "--steps", "2", "--out", tmp_path / "walk.gif", "--device", "cpu",
        check=0)
    from PIL import Image

    with Image.open(tmp_path / "walk.gif") as im:
        assert URI in im.info["comment"].decode()
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        cli("interpolate", tiny_cgan_run, "--seeds", "1,5", "--steps", "2", "--out", tmp_path / "walk.mp4", "--device",
            "cpu", check=0)
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of", "json",
                            str(tmp_path / "walk.mp4")], capture_output=True, text=True, check=True)
        assert URI in json.loads(r.stdout)["format"]["tags"]["comment"]
        out = cli("provenance", tmp_path / "walk.mp4", tmp_path / "walk.gif", check=0).stdout.splitlines()
        assert all(URI in line and "seeds=1,5" in line for line in out) and len(out) == 2


def test_style_mix_grid_and_singles(tmp_path, tiny_style_run, cli):
    cli("style-mix", tiny_style_run, "--rows", "1-2", "--cols", "3", "--styles", "0-1", "--out", tmp_path / "mix.png",
        "--singles", tmp_path / "cells", "--noise-mode", "none", "--device", "cpu", check=0)
    f = ganctl_fields(xmp_props(tmp_path / "mix.png"))
    assert f["Kind"] == "style-mix" and f["NoiseMode"] == "none" and f["Seeds"] == "rows 1-2 / cols 3"
    assert ganctl_fields(xmp_props(tmp_path / "cells" / "1-3.png"))["Seeds"] == "1,3"


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool missing (apt-get install libimage-exiftool-perl)")
def test_exiftool_reads_the_digital_source_type(tmp_path):
    import numpy as np

    from ganctl.sampling.grid import save_png
    from ganctl.sampling.provenance import Provenance

    save_png(np.full((4, 4, 3), 7, np.uint8), tmp_path / "x.png", Provenance(seed=9, truncation_psi=0.5))
    r = subprocess.run(["exiftool", "-j", "-XMP:all", str(tmp_path / "x.png")], capture_output=True, text=True, check=True)
    tags = json.loads(r.stdout)[0]
    assert tags["DigitalSourceType"] == URI and tags["CreatorTool"].startswith("ganctl ")


def test_provenance_bad_file_is_one_line(tmp_path, cli):
    (tmp_path / "x.png").write_bytes(b"not a png")
    r = cli("provenance", tmp_path / "x.png", check=2)
    assert "x.png" in r.stderr and "Traceback" not in r.stderr
