#!/usr/bin/env python3
"""Build two real datasets no ganctl preset was tuned on, offline, from Debian packages, as prepared ganctl datasets.

  glyphs36  A-Z and 0-9 (36 classes) rendered from every installed font that has all 36 (fonts-* packages; .ci/run and
            the README list the ones used), 32x32 grayscale, white glyph on black, the glyph's ink box scaled to 26 px
            on its longer side and centred. Split BY FONT FAMILY GROUP: every style of a family, and the known metric
            clones of one design (URW base35 / TeX Gyre / GNU FreeFont's Helvetica, Times, Courier, ...), fall on one
            side, and about a fifth of the groups (sha256 of the group name) are the held-out split DEST/val/, so
            held-out glyphs come from designs the training images never show.
  emoji8    colour (RGB) 32x32 emoji from Noto Color Emoji (fonts-noto-color-emoji, rendered by Pillow at its bitmap size
            109) in 8 classes by Unicode block: faces, animals, food, transport, plants, clocks, hands (each of the 5
            skin tones too) and flags (each distinct flag the font draws for a regional-indicator pair). Every emoji is
            drawn VARIANTS times at a seeded random scale (0.7-1.0) and offset on black. Split BY EMOJI: about a fifth
            of the emoji (sha256 of the code points), with all their variants, are DEST/val/.

For each dataset the independent classifier (ganctl.metrics.classifier: a small CNN trained on the training split,
cached by the dataset's sha256) is trained and its accuracy on the held-out split written to DEST/classifier.json;
its penultimate layer is the weight-free feature space of tests/benchmarks/bench_quality.py's Frechet distance.

  python examples/make_datasets.py OUTDIR                 # both, into OUTDIR/glyphs36 and OUTDIR/emoji8
  python examples/make_datasets.py OUTDIR --only glyphs36 --max-fonts 12 --classifier-steps 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = ("/usr/share/fonts", "/usr/share/texmf/fonts/opentype")
GLYPHS = [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [str(d) for d in range(10)]
NOT_TEXT = ("D050000L", "Standard Symbols PS", "Linux Biolinum Keyboard O")  # dingbats, symbols, keyboard-key caps
# One design under several names (URW base35, its TeX Gyre and FreeFont derivatives): one split group each.
CLONES = {"Helvetica": ("Nimbus Sans", "Nimbus Sans Narrow", "TeX Gyre Heros", "TeX Gyre Heros Cn", "FreeSans"),
          "Times": ("Nimbus Roman", "TeX Gyre Termes", "FreeSerif"), "Courier": ("Nimbus Mono PS", "TeX Gyre Cursor", "FreeMono"),
          "Palatino": ("P052", "TeX Gyre Pagella"), "Bookman": ("URW Bookman", "TeX Gyre Bonum"),
          "Century Schoolbook": ("C059", "TeX Gyre Schola"), "Avant Garde": ("URW Gothic", "TeX Gyre Adventor"),
          "Zapf Chancery": ("Z003", "TeX Gyre Chorus"), "Gentium": ("Gentium", "GentiumAlt"), "Bitstream Vera": ("DejaVu Sans", "DejaVu Sans Mono", "DejaVu Serif",
                                                                           "DejaVu Math TeX Gyre", "Hack")}
RES, INK = 32, 26
VAL_SHARE = 5  # 1 in VAL_SHARE groups / emoji is held out
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_BLOCKS = {  # class -> code point ranges (inclusive) of single-code-point emoji
    "faces": [(0x1F600, 0x1F64F), (0x1F910, 0x1F92F), (0x1F970, 0x1F97A)],
    "animals": [(0x1F400, 0x1F43F), (0x1F980, 0x1F9AE)],
    "food": [(0x1F345, 0x1F37F), (0x1F950, 0x1F96F)],
    "transport": [(0x1F680, 0x1F6C5)],
    "plants": [(0x1F330, 0x1F344), (0x1F490, 0x1F490), (0x1F4AE, 0x1F4AE)],
    "clocks": [(0x1F550, 0x1F567)],
    "hands": [(0x1F446, 0x1F450), (0x1F590, 0x1F596), (0x1F918, 0x1F91F), (0x270A, 0x270D)],
}
SKIN_TONES = [""] + [chr(c) for c in range(0x1F3FB, 0x1F400)]
VARIANTS = 6


def _hash_share(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % VAL_SHARE == 0


def _fit(img: Image.Image, box: tuple[int, int, int, int], scale: float = 1.0, offset=(0, 0)) -> Image.Image:
    """The ink box of `img`, scaled so its longer side is INK*scale px, pasted centred (+offset) on a black RES x RES."""
    crop = img.crop(box)
    w, h = crop.size
    k = INK * scale / max(w, h)
    crop = crop.resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS)
    out = Image.new(img.mode, (RES, RES), 0 if img.mode == "L" else (0, 0, 0, 255))
    x, y = (RES - crop.size[0]) // 2 + offset[0], (RES - crop.size[1]) // 2 + offset[1]
    out.paste(crop, (x, y), crop if img.mode == "RGBA" else None)
    return out


def _render_glyph(font, ch: str) -> Image.Image | None:
    img = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(img).text((48, 48), ch, fill=255, font=font, anchor="mm")
    box = img.getbbox()
    return None if box is None else (img, box)


def font_faces(max_fonts: int | None = None) -> list[tuple[str, str, str, Path]]:
    """(group, family, style, path) of every installed font with all 36 glyphs, one per (family, style), sorted."""
    seen, out = set(), []
    group_of = {fam: g for g, fams in CLONES.items() for fam in fams}
    paths = sorted(p for d in FONT_DIRS if Path(d).is_dir() for p in Path(d).rglob("*") if p.suffix.lower() in (".ttf", ".otf"))
    for p in paths:
        try:
            font = ImageFont.truetype(str(p), 56)
        except OSError:  # bitmap-only fonts (Noto Color Emoji) have no size 56
            continue
        family, style = font.getname()
        if family in NOT_TEXT or (family, style) in seen:
            continue
        notdef = _render_glyph(font, "\U0010FFFD")
        renders = [_render_glyph(font, ch) for ch in GLYPHS]
        if any(r is None or (notdef is not None and r[0].tobytes() == notdef[0].tobytes()) for r in renders):
            continue  # a glyph is missing (blank or the .notdef box): not a font for all 36 classes
        seen.add((family, style))
        out.append((group_of.get(family, family.split()[0]), family, style, p))
        if max_fonts and len(out) == max_fonts:
            break
    return out


def build_glyphs(dest: Path, max_fonts: int | None = None) -> dict:
    from ganctl.data.dataset import write_dataset

    faces = font_faces(max_fonts)
    if len(faces) < 2:
        raise SystemExit(f"glyphs36: only {len(faces)} usable fonts under {FONT_DIRS}; apt-get install the fonts-* packages "
                         f"listed in the README")
    sides = {"train": ([], [], []), "val": ([], [], [])}
    for group, family, style, path in faces:
        font = ImageFont.truetype(str(path), 56)
        imgs, labs, srcs = sides["val" if _hash_share(group) else "train"]
        for c, ch in enumerate(GLYPHS):
            img, box = _render_glyph(font, ch)
            imgs.append(np.asarray(_fit(img, box), np.uint8)[None])
            labs.append(c)
            srcs.append({"font": str(path), "family": family, "style": style, "group": group, "glyph": ch})
    if not sides["val"][0] or not sides["train"][0]:
        raise SystemExit("glyphs36: too few font groups to hold out whole groups; install more fonts-* packages")
    info = {}
    for side, (imgs, labs, srcs) in sides.items():
        manifest = {"name": "glyphs36" if side == "train" else "glyphs36-val", "label_names": GLYPHS, "source": "Debian fonts-* packages",
                    "split": "by font family group (clones of one design together); sha256(group) % 5 == 0 held out",
                    "images": srcs, "groups": sorted({s["group"] for s in srcs})}
        write_dataset(dest if side == "train" else dest / "val", np.stack(imgs), np.array(labs), manifest)
        info[side] = {"images": len(imgs), "fonts": len({(s["family"], s["style"]) for s in srcs}), "groups": len(manifest["groups"])}
    return info


def _emoji_sequences(font) -> list[tuple[str, str]]:
    """(class, sequence) of every emoji of EMOJI_BLOCKS and every flag the font draws as one glyph."""
    def width(s):
        box = font.getbbox(s)
        return box[2] - box[0]

    one = width("\U0001F600")
    notdef = _emoji_image(font, "\U0010FFFD")
    out = []
    for cls, ranges in EMOJI_BLOCKS.items():
        for lo, hi in ranges:
            for cp in range(lo, hi + 1):
                for tone in SKIN_TONES if cls == "hands" else [""]:
                    s = chr(cp) + tone
                    im = _emoji_image(font, s)
                    if im is not None and width(s) <= 1.2 * one and (notdef is None or im.tobytes() != notdef.tobytes()):
                        out.append((cls, s))
    # Every regional-indicator pair is drawn one emoji wide: the pairs that are no flag all get one placeholder image
    # (the most common rendering), and a few territories share a flag (FR, GP, MF, ...): keep each distinct flag once.
    ri = [chr(0x1F1E6 + i) for i in range(26)]
    pairs = {a + b: hashlib.sha256(_emoji_image(font, a + b).tobytes()).hexdigest() for a in ri for b in ri}
    placeholder = max(set(pairs.values()), key=list(pairs.values()).count)
    first = {}
    for pair, digest in pairs.items():
        if digest != placeholder:
            first.setdefault(digest, pair)
    out += [("flags", pair) for pair in first.values()]
    return out


def _emoji_image(font, s: str) -> Image.Image | None:
    img = Image.new("RGBA", (200, 160), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((100, 80), s, font=font, anchor="mm", embedded_color=True)
    return img if img.getbbox() is not None else None


def build_emoji(dest: Path) -> dict:
    from ganctl.data.dataset import write_dataset

    if not Path(EMOJI_FONT).is_file():
        raise SystemExit(f"emoji8: {EMOJI_FONT} missing; apt-get install fonts-noto-color-emoji")
    font = ImageFont.truetype(EMOJI_FONT, 109, layout_engine=ImageFont.Layout.RAQM)
    seqs = _emoji_sequences(font)
    names = list(EMOJI_BLOCKS) + ["flags"]
    sides = {"train": ([], [], []), "val": ([], [], [])}
    for cls, s in seqs:
        key = "-".join(f"{ord(ch):X}" for ch in s)
        img = _emoji_image(font, s)
        box = img.getchannel("A").getbbox()
        rs = np.random.RandomState(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
        imgs, labs, srcs = sides["val" if _hash_share(key) else "train"]
        for v in range(VARIANTS):
            scale = rs.uniform(0.7, 1.0)
            room = int((RES - INK * scale) // 2)
            off = tuple(int(o) for o in rs.randint(-room, room + 1, 2))
            rgb = _fit(img, box, scale, off).convert("RGB")
            imgs.append(np.asarray(rgb, np.uint8).transpose(2, 0, 1))
            labs.append(names.index(cls))
            srcs.append({"emoji": key, "class": cls, "variant": v, "scale": round(scale, 4), "offset": off})
    info = {}
    for side, (imgs, labs, srcs) in sides.items():
        manifest = {"name": "emoji8" if side == "train" else "emoji8-val", "label_names": names, "source": EMOJI_FONT,
                    "split": "by emoji (all variants together); sha256(code points) % 5 == 0 held out", "images": srcs}
        write_dataset(dest if side == "train" else dest / "val", np.stack(imgs), np.array(labs), manifest)
        info[side] = {"images": len(imgs), "emoji": len({s["emoji"] for s in srcs}),
                      "per_class": np.bincount(labs, minlength=len(names)).tolist()}
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--only", choices=("glyphs36", "emoji8"), action="append")
    ap.add_argument("--max-fonts", type=int, default=None, help="glyphs36: use only the first N fonts (quick tries)")
    ap.add_argument("--classifier-steps", type=int, default=1000,
                    help="train the independent classifier this many steps and report its held-out accuracy (0: skip)")
    a = ap.parse_args(argv)
    for name in a.only or ("glyphs36", "emoji8"):
        dest = a.outdir / name
        t0 = time.process_time()
        info = build_glyphs(dest, a.max_fonts) if name == "glyphs36" else build_emoji(dest)
        info["build_cpu_seconds"] = round(time.process_time() - t0, 1)
        if a.classifier_steps > 0:
            from ganctl.metrics.classifier import classifier_for

            t0 = time.process_time()
            clf = classifier_for(dest, steps=a.classifier_steps)
            info["classifier"] = {"steps": a.classifier_steps, "test_accuracy": round(clf.real_accuracy, 4),
                                  "test": clf.meta["held_out"]["source"], "cache": clf.meta["path"],
                                  "per_class": [round(x, 3) for x in clf.real_per_class],
                                  "cpu_seconds": round(time.process_time() - t0, 1)}
            tmp = dest / "classifier.json.tmp"
            tmp.write_text(json.dumps(info, indent=1) + "\n")
            tmp.replace(dest / "classifier.json")
        print(f"{name}: {json.dumps(info)}", file=sys.stderr)
        print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
