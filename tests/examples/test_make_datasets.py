"""examples/make_datasets.py builds glyphs36 (fonts) and emoji8 (Noto Color Emoji) from the installed Debian packages:
prepared ganctl datasets whose held-out split shares no font design / no emoji with the training split."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import make_datasets  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    if len(make_datasets.font_faces(40)) < 40:
        pytest.skip("too few fonts: apt-get install the fonts-* packages .ci/run installs")
    if not Path(make_datasets.EMOJI_FONT).is_file():
        pytest.skip("apt-get install fonts-noto-color-emoji")
    out = tmp_path_factory.mktemp("made")
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "make_datasets.py"), str(out), "--classifier-steps", "0"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [str(out / "glyphs36"), str(out / "emoji8")]
    return out


def _sides(path: Path):
    from ganctl.data.dataset import PreparedDataset, open_validation

    return PreparedDataset(path), open_validation(path)


def test_glyphs36_split_by_font_design(built):
    train, val = _sides(built / "glyphs36")
    assert train.label_names == val.label_names == make_datasets.GLYPHS and train.num_classes == 36
    assert train.shape[1:] == (1, 32, 32) and val.shape[1:] == (1, 32, 32)
    for ds in (train, val):  # every font gives all 36 glyphs
        assert (np.bincount(ds.labels, minlength=36) == len(ds) // 36).all()
    mt, mv = train.full_manifest()["images"], val.full_manifest()["images"]
    assert not {m["group"] for m in mt} & {m["group"] for m in mv}
    assert not {m["family"] for m in mt} & {m["family"] for m in mv}
    # Clones of one design stay together: TeX Gyre Heros is Nimbus Sans is FreeSans (Helvetica).
    helv = {m["group"] for m in mt + mv if m["family"] in ("Nimbus Sans", "TeX Gyre Heros", "FreeSans")}
    assert len(helv) <= 1
    assert len(val) >= 0.05 * (len(train) + len(val))
    x = train.get_batch(np.arange(36))[0]
    assert x.max() == 255 and x.min() == 0 and (x[:, 0, :3].max() < 64)  # white glyph, black margin


def test_emoji8_colour_split_by_emoji(built):
    train, val = _sides(built / "emoji8")
    assert train.num_classes == 8 and train.shape[1:] == (3, 32, 32) and val.shape[1:] == (3, 32, 32)
    mt, mv = train.full_manifest()["images"], val.full_manifest()["images"]
    assert not {m["emoji"] for m in mt} & {m["emoji"] for m in mv}
    flags = {m["emoji"] for m in mt + mv if m["class"] == "flags"}
    assert 200 < len(flags) < 300  # the distinct flags, not the 676 pairs (the non-flags share one placeholder)
    assert all((np.bincount(ds.labels, minlength=8) > 0).all() for ds in (train, val))
    x = train.get_batch(np.arange(len(train))[:: max(1, len(train) // 200)])[0].astype(int)
    assert (np.abs(x[:, 0] - x[:, 1]) + np.abs(x[:, 1] - x[:, 2])).mean() > 5  # colour, not gray
