"""Provenance of generated images: an XMP packet in every PNG, a comment in GIFs and MP4s, and reading them back.

The statement is IPTC's: `Iptc4xmpExt:DigitalSourceType` = trainedAlgorithmicMedia (the IPTC NewsCodes term for media
made by a model trained on sampled content), which image viewers, news-photo tools and search engines read. In PNG the
XMP packet lives in one iTXt chunk with keyword `XML:com.adobe.xmp`, uncompressed, with empty language and translated
keyword (what the XMP spec, exiftool and Pillow's `im.info["xmp"]` expect). Next to it go ganctl's own fields: tool
and version, the network file's sha256, seed(s), class, truncation psi, noise mode. GIF has one comment extension and
MP4 a `comment` metadata tag: both get a one-line statement with the same URI and fields.

This is a label, not a signature: anyone can strip or forge it. A Provenance can carry an output policy
(sampling/output.py) that also watermarks the pixels and signs the file with a C2PA manifest (sampling/credentials.py);
signing needs the user's certificate, so it is never a default.
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

if TYPE_CHECKING:
    from ganctl.sampling.output import OutputPolicy

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# IPTC's term for a picture that combines generated and other (here: real training) images, e.g. `ganctl nearest`.
COMPOSITE_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
GANCTL_NS = "urn:ganctl:provenance:1.0#"
XMP_KEY = "XML:com.adobe.xmp"
STATEMENT = "AI-generated image (IPTC DigitalSourceType: " + DIGITAL_SOURCE_TYPE + ")"

# ganctl's XMP property name for each field.
_FIELDS = {"tool": "Tool", "version": "Version", "network_sha256": "NetworkSHA256", "network": "Network", "seed": "Seed",
           "seeds": "Seeds", "class_idx": "Class", "truncation_psi": "TruncationPsi", "noise_mode": "NoiseMode",
           "kind": "Kind"}


def _version() -> str:
    from ganctl import __version__

    return __version__


@dataclass(frozen=True)
class Provenance:
    """What ganctl states about one output. None fields are left out."""

    kind: str = "image"                 # image, grid, frames, style-mix, training-grid
    network: str | None = None          # the checkpoint's file name
    network_sha256: str | None = None
    seed: int | None = None
    seeds: str | None = None            # grids and animations: the seeds shown, e.g. "0-15" or "1,5,9"
    class_idx: int | None = None
    truncation_psi: float | None = None
    noise_mode: str | None = None
    tool: str = "ganctl"
    version: str = field(default_factory=_version)
    source_type: str = DIGITAL_SOURCE_TYPE  # the IPTC DigitalSourceType URI
    # What the writers do besides stating this: watermark, C2PA signing (sampling/output.py). Not written as a field.
    output: "OutputPolicy | None" = field(default=None, compare=False)

    def fields(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and k not in ("source_type", "output")}

    def with_(self, **kw) -> "Provenance":
        return replace(self, **kw)

    def xmp(self) -> str:
        """The XMP packet (UTF-8 text): one rdf:Description with the IPTC statement and ganctl's fields."""
        attrs = [f"Iptc4xmpExt:DigitalSourceType={quoteattr(self.source_type)}",
                 f"xmp:CreatorTool={quoteattr(f'{self.tool} {self.version}')}"]
        attrs += [f"ganctl:{_FIELDS[k]}={quoteattr(str(v))}" for k, v in self.fields().items()]
        body = "\n    ".join(attrs)
        return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
                '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
                f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
                f'  <rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{IPTC_EXT_NS}" xmlns:xmp="{XMP_NS}"'
                f' xmlns:ganctl="{GANCTL_NS}"\n    {body}/>\n'
                ' </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="r"?>')

    def statement(self) -> str:
        """One line for a GIF comment or MP4 metadata: the URI plus ganctl's fields as key=value."""
        head = STATEMENT if self.source_type == DIGITAL_SOURCE_TYPE else f"IPTC DigitalSourceType: {self.source_type}"
        return head + "; " + "; ".join(f"{k}={v}" for k, v in self.fields().items())


# What save_png writes when the caller says nothing (training grids): the statement, the tool and its version.
DEFAULT = Provenance(kind="image")


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def for_network(path: str | os.PathLike, **fields) -> Provenance:
    """Provenance naming the checkpoint at `path` by file name and sha256 (hashed once per file version)."""
    p = Path(path)
    st = p.stat()
    return Provenance(network=p.name, network_sha256=_sha256(str(p.resolve()), st.st_size, st.st_mtime_ns), **fields)


def resolve(provenance) -> Provenance | None:
    """The save functions' `provenance` argument: True -> DEFAULT, False/None -> none, a Provenance -> itself."""
    if provenance is True:
        return DEFAULT
    if provenance is None or provenance is False:
        return None
    if isinstance(provenance, Provenance):
        return provenance
    raise TypeError(f"provenance must be a Provenance, True or None, not {type(provenance).__name__}")


def png_info(provenance):
    """A PngInfo carrying the XMP packet, or None when there is nothing to state."""
    prov = resolve(provenance)
    if prov is None:
        return None
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt(XMP_KEY, prov.xmp(), lang="", tkey="", zip=False)
    return info


def parse_xmp(xmp: str | bytes) -> dict:
    """{'digital_source_type': URI or None, 'creator_tool': ..., plus ganctl's fields} from an XMP packet."""
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return {}
    root = ET.fromstring(text[start:end + len("</x:xmpmeta>")])
    out: dict = {}
    names = {v: k for k, v in _FIELDS.items()}
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        items = dict(desc.attrib)
        items.update({child.tag: (child.text or "").strip() for child in desc})  # element form, as other tools write
        for tag, value in items.items():
            if tag == f"{{{IPTC_EXT_NS}}}DigitalSourceType":
                out["digital_source_type"] = value
            elif tag == f"{{{XMP_NS}}}CreatorTool":
                out["creator_tool"] = value
            elif tag.startswith(f"{{{GANCTL_NS}}}") and tag[len(GANCTL_NS) + 2:] in names:
                out[names[tag[len(GANCTL_NS) + 2:]]] = value
    return out


def parse_statement(text: str) -> dict:
    """The fields of a GIF/MP4 comment written by `Provenance.statement`."""
    out: dict = {}
    for uri in (DIGITAL_SOURCE_TYPE, COMPOSITE_SOURCE_TYPE):
        if uri in text.split("; ")[0]:
            out["digital_source_type"] = uri
    for part in text.split("; ")[1:]:
        k, sep, v = part.partition("=")
        if sep and k in _FIELDS:
            out[k] = v
    return out


def _mp4_comment(path: Path) -> str:
    import shutil
    import subprocess

    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        from ganctl.errors import UsageError

        raise UsageError(f"{path}: reading MP4 metadata needs ffprobe (apt-get install ffmpeg)")
    r = subprocess.run([ffprobe, "-v", "error", "-show_entries", "format_tags=comment", "-of",
                        "default=noprint_wrappers=1:nokey=1", str(path)], capture_output=True, text=True)
    return r.stdout.strip()


def read(path: str | os.PathLike) -> dict:
    """{'file', 'format', 'ai_generated', 'digital_source_type', ...fields} for a PNG, GIF or MP4."""
    from ganctl.errors import UsageError

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such file")
    fmt = p.suffix.lower().lstrip(".")
    if fmt == "mp4":
        found = parse_statement(_mp4_comment(p))
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(p) as im:
                fmt = (im.format or fmt).lower()
                info = dict(im.info)
        except (UnidentifiedImageError, OSError) as e:
            raise UsageError(f"{p}: not a readable image ({e})") from None
        if info.get("xmp"):
            found = parse_xmp(info["xmp"])
        elif info.get("comment"):
            c = info["comment"]
            found = parse_statement(c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c))
        else:
            found = {}
    return {"file": str(p), "format": fmt,
            "ai_generated": found.get("digital_source_type") in (DIGITAL_SOURCE_TYPE, COMPOSITE_SOURCE_TYPE),
            "digital_source_type": found.get("digital_source_type"), **{k: v for k, v in found.items() if k != "digital_source_type"}}


def seed_list(seeds) -> str:
    """Seeds as the CLI writes them: runs of consecutive seeds collapsed, e.g. [0, 1, 2, 3, 7] -> '0-3,7'."""
    seeds = [int(s) for s in seeds]
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if j == i else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(parts)
