"""Array sources: the real Fashion-MNIST idx files, a hand-made MNIST idx folder, and CIFAR-10 python tarballs
written in the real format (Python-2-style pickles as in the official file, and Python-3 pickles)."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from ganctl.data.arrays import FASHION_MNIST_CLASSES
from ganctl.data.dataset import PreparedDataset
from ganctl.data.prepare import PrepareOptions, prepare_dataset
from ganctl.errors import DataError


def _idx_raw(path):
    raw = gzip.open(path).read()
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)


def test_real_fashion_mnist_train(fashion, tmp_path):
    r = prepare_dataset(fashion, tmp_path / "fm", PrepareOptions())
    ds = PreparedDataset(tmp_path / "fm")
    assert (r.count, r.source_kind, ds.shape) == (60000, "fashion-mnist-idx", (60000, 1, 28, 28))
    assert ds.label_names == FASHION_MNIST_CLASSES and r.skipped_counts == {}
    raw = _idx_raw(fashion / "train-images-idx3-ubyte.gz")
    idx = np.random.default_rng(0).integers(0, 60000, 64)
    imgs, labels = ds.get_batch(idx)
    assert np.array_equal(imgs[:, 0], raw[idx])  # pixels survive exactly
    assert labels[:10].tolist() == ds.labels[idx[:10]].tolist() and ds.labels[:3].tolist() == [9, 0, 0]
    m = ds.full_manifest()
    assert m["images"][7]["path"] == "train-images-idx3-ubyte.gz[7]"
    assert m["images"][7]["sha256"] == hashlib.sha256(raw[7].tobytes()).hexdigest()


def test_real_fashion_mnist_test_split_resized_to_rgb(fashion, tmp_path):
    r = prepare_dataset(fashion, tmp_path / "fm", PrepareOptions(split="test", resolution=32, channels=3, max_images=50))
    ds = PreparedDataset(tmp_path / "fm")
    assert r.count == 50 and ds.shape == (50, 3, 32, 32)
    imgs, _ = ds.get_batch(range(50))
    assert np.array_equal(imgs[:, 0], imgs[:, 2]) and imgs.max() > 200  # grey replicated to RGB, not blank
    assert ds.full_manifest()["images"][0]["path"] == "t10k-images-idx3-ubyte.gz[0]"


def _write_idx(path, arr):
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_mnist_idx_folder_digits_and_split_all(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "mnist"
    src.mkdir()
    train, test = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    _write_idx(src / "train-images-idx3-ubyte.gz", train)
    _write_idx(src / "train-labels-idx1-ubyte.gz", np.arange(20, dtype=np.uint8) % 10)
    _write_idx(src / "t10k-images-idx3-ubyte.gz", test)
    _write_idx(src / "t10k-labels-idx1-ubyte.gz", np.arange(7, dtype=np.uint8))
    r = prepare_dataset(src, tmp_path / "out", PrepareOptions(split="all"))
    ds = PreparedDataset(tmp_path / "out")
    assert r.source_kind == "mnist-idx" and ds.label_names == [str(i) for i in range(10)] and len(ds) == 27
    assert np.array_equal(ds.get_batch(range(27))[0][:, 0], np.concatenate([train, test]))
    # A truncated idx file is one clear error, not a traceback.
    raw = gzip.open(src / "t10k-images-idx3-ubyte.gz").read()
    with gzip.open(src / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        prepare_dataset(src, tmp_path / "out2", PrepareOptions(split="test"))


# ---- CIFAR-10 ----------------------------------------------------------------------------------------------------


class _Py2Pickle:
    """Emit protocol-2 opcodes the way Python 2's cPickle wrote the official CIFAR-10 batches (str as BINSTRING,
    numpy.core.multiarray._reconstruct for arrays). Python 3 cannot produce these, so they are spelled out here."""

    def __init__(self):
        self.out = io.BytesIO()

    def s(self, b: bytes):
        self.out.write((b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b)

    def obj(self, x):
        w = self.out.write
        if isinstance(x, bytes):
            self.s(x)
        elif isinstance(x, bool):
            w(b"\x88" if x else b"\x89")
        elif isinstance(x, int):
            w(b"J" + struct.pack("<i", x))
        elif isinstance(x, list):
            w(b"](")
            for v in x:
                self.obj(v)
            w(b"e")
        elif isinstance(x, tuple):
            w(b"(")
            for v in x:
                self.obj(v)
            w(b"t")
        elif isinstance(x, dict):
            w(b"}(")
            for k, v in x.items():
                self.obj(k)
                self.obj(v)
            w(b"u")
        elif isinstance(x, np.ndarray):
            w(b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n")
            self.obj((0,))
            self.s(b"b")
            w(b"tR(")
            self.obj(1)
            self.obj(tuple(x.shape))
            w(b"cnumpy\ndtype\n(")
            self.s(b"u1")
            w(b"\x89\x88tR(")
            self.obj(3)
            self.s(b"|")
            w(b"NNN")
            self.obj(-1)
            self.obj(-1)
            self.obj(0)
            w(b"tb\x89")
            self.s(x.tobytes())
            w(b"tb")
        else:
            raise TypeError(type(x))

    @classmethod
    def dumps(cls, x) -> bytes:
        p = cls()
        p.out.write(b"\x80\x02")
        p.obj(x)
        p.out.write(b".")
        return p.out.getvalue()


CIFAR_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def _batch(seed, n):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch", b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"f%d.png" % i for i in range(n)]}


def _cifar_tarball(path, batches: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_cifar_tarball_python2_and_python3_pickles(tmp_path):
    b1, b2, bt = _batch(1, 6), _batch(2, 5), _batch(3, 4)
    meta = {b"num_cases_per_batch": 6, b"label_names": CIFAR_NAMES, b"num_vis": 3072}
    tar = tmp_path / "cifar-10-python.tar.gz"
    _cifar_tarball(tar, {"batches.meta": _Py2Pickle.dumps(meta), "data_batch_1": _Py2Pickle.dumps(b1),
                         "data_batch_2": pickle.dumps(b2, protocol=2), "test_batch": pickle.dumps(bt, protocol=4)})
    r = prepare_dataset(tar, tmp_path / "train", PrepareOptions())
    ds = PreparedDataset(tmp_path / "train")
    assert (r.source_kind, ds.shape) == ("cifar10", (11, 3, 32, 32))
    assert ds.label_names == [n.decode() for n in CIFAR_NAMES]
    want = np.concatenate([b1[b"data"], b2[b"data"]]).reshape(-1, 3, 32, 32)  # CIFAR rows are R plane, G plane, B plane
    assert np.array_equal(ds.get_batch(range(11))[0], want)
    assert ds.labels.tolist() == b1[b"labels"] + b2[b"labels"]
    m = ds.full_manifest()
    assert m["images"][6]["path"] == "data_batch_2[0]"
    assert m["images"][6]["sha256"] == hashlib.sha256(want[6].transpose(1, 2, 0).tobytes()).hexdigest()

    # the extracted folder gives the same test split
    with tarfile.open(tar) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    prepare_dataset(tmp_path / "x" / "cifar-10-batches-py", tmp_path / "test", PrepareOptions(split="test"))
    assert np.array_equal(PreparedDataset(tmp_path / "test").get_batch(range(4))[0], bt[b"data"].reshape(-1, 3, 32, 32))


def test_cifar_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    meta = {b"label_names": CIFAR_NAMES}
    tar = tmp_path / "cifar-10-python.tar.gz"
    _cifar_tarball(tar, {"batches.meta": pickle.dumps(meta, protocol=2), "data_batch_1": pickle.dumps({b"data": Evil()}, protocol=2)})
    with pytest.raises(DataError, match="refusing to load (posix|os).system"):
        prepare_dataset(tar, tmp_path / "out", PrepareOptions())
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_resampling_array_sources_in_parallel_matches_serial(fashion, tmp_path, monkeypatch):
    import ganctl.data.prepare as prep

    monkeypatch.setattr(prep, "_FIT_CHUNK", 16)  # several worker tasks from a small slice
    opts = dict(split="test", resolution=20, policy="pad", max_images=70)
    prepare_dataset(fashion, tmp_path / "serial", PrepareOptions(workers=1, **opts))
    prepare_dataset(fashion, tmp_path / "pool", PrepareOptions(workers=2, **opts))
    a, b = PreparedDataset(tmp_path / "serial"), PreparedDataset(tmp_path / "pool")
    assert a.shape == b.shape == (70, 1, 20, 20)
    assert np.array_equal(a.get_batch(range(70))[0], b.get_batch(range(70))[0]) and np.array_equal(a.labels, b.labels)


def test_pad_policy_keeps_28px_images_exact_inside_a_border(fashion, tmp_path):
    prepare_dataset(fashion, tmp_path / "p", PrepareOptions(resolution=32, policy="pad", max_images=20, workers=1))
    imgs = PreparedDataset(tmp_path / "p").get_batch(range(20))[0][:, 0]
    raw = _idx_raw(fashion / "train-images-idx3-ubyte.gz")[:20]
    assert np.array_equal(imgs, np.pad(raw, ((0, 0), (2, 2), (2, 2))))  # no resampling, 2-px black border
