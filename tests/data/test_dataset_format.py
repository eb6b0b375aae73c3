"""write_dataset's streamed safetensors file: readable by the safetensors library and by PreparedDataset, bit-exact."""

from __future__ import annotations

import hashlib
import json

import numpy as np

import ganctl.data.dataset as dataset
from ganctl.data.dataset import PreparedDataset, write_dataset


def test_streamed_file_is_valid_safetensors(tmp_path, monkeypatch):
    from safetensors import safe_open

    monkeypatch.setattr(dataset, "_WRITE_CHUNK", 1000)  # many slices, the last one partial
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 3, 20, 20), dtype=np.uint8)
    labels = np.array([0, 1, 2, -1, 4, 5, 6], dtype=np.int64)
    manifest = {"name": "t", "label_names": ["a"], "images": [{"path": f"{i}.png"} for i in range(7)], "skipped": []}
    write_dataset(tmp_path, images, labels, manifest)
    with safe_open(str(tmp_path / "dataset.safetensors"), "np") as f:
        assert np.array_equal(f.get_tensor("images"), images) and np.array_equal(f.get_tensor("labels"), labels)
        embedded = json.loads(f.metadata()["manifest"])
    text = (tmp_path / "manifest.json").read_text()
    assert "images" not in embedded and embedded["manifest_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    ds = PreparedDataset(tmp_path)
    assert ds.manifest["count"] == 7 and len(ds.full_manifest()["images"]) == 7
    got, lab = ds.get_batch([6, 0, 3, 3])
    assert np.array_equal(got, images[[6, 0, 3, 3]]) and lab.tolist() == [6, 0, -1, -1]
    assert not list(tmp_path.glob("*.tmp"))
