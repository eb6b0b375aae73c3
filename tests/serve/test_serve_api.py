"""`ganctl serve`'s HTTP API on a real server over loopback: PNGs byte-identical to `ganctl sample` (provenance
included), JSON with the same bytes, 4xx with one clear message for bad parameters and limits (the server keeps
serving), 503 from the bounded worker when its queue is full."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request

import pytest


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.headers.get_content_type(), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read()


def test_pngs_equal_ganctl_sample_byte_for_byte(tmp_path, serve_networks, live_server, run_main, one_cpu_thread):
    ckpt = serve_networks["cgan"]  # conditional: class given and class = seed % 10
    base = live_server(ckpt)
    rc, _, err = run_main("sample", ckpt, "--seeds", "3,11,40", "--truncation", "0.7", "--outdir", tmp_path / "a",
                          "--device", "cpu")
    assert rc == 0, err
    rc, _, err = run_main("sample", ckpt, "--seeds", "0-3", "--class", "4", "--grid", "--outdir", tmp_path / "b",
                          "--device", "cpu")
    assert rc == 0, err
    for s in (3, 11, 40):
        status, kind, body = get(f"{base}/api/image?seed={s}&psi=0.7")
        assert status == 200 and kind == "image/png"
        assert body == (tmp_path / "a" / f"seed{s:04d}.png").read_bytes()
    status, kind, body = get(f"{base}/api/images?seeds=0-3&class=4&format=png")
    assert status == 200 and body == (tmp_path / "b" / "grid.png").read_bytes()
    status, kind, body = get(f"{base}/api/images?seeds=3,11,40&psi=0.7&format=json")
    doc = json.loads(body)
    assert status == 200 and kind == "application/json" and [i["seed"] for i in doc["images"]] == [3, 11, 40]
    for item in doc["images"]:
        assert base64.b64decode(item["png_base64"]) == (tmp_path / "a" / item["file"]).read_bytes()
        assert item["class"] == item["seed"] % 10
    info = json.loads(get(f"{base}/api/info")[2])
    assert info["num_classes"] == 10 and info["family"] == "dcgan" and info["limits"]["max_images"] == 64


@pytest.fixture(scope="module")
def limited_server(serve_networks, live_server):
    return live_server(serve_networks["cgan"], max_images=8)


@pytest.mark.parametrize("query, status, says", [
    ("/api/image?seed=abc", 400, "seed='abc': not an integer"),
    ("/api/image", 400, "seed: missing"),
    ("/api/image?seed=-1", 400, "out of range"),
    ("/api/image?seed=1&class=10", 400, "class=10: out of range 0..9"),
    ("/api/image?seed=1&psi=nan", 400, "psi=nan"),
    ("/api/image?seed=1&noise_mode=loud", 400, "noise_mode='loud'"),
    ("/api/images?seeds=0-100000000", 400, "the limit per request is 8"),
    ("/api/images?seeds=0-3,0-3,0-3", 400, "the limit per request is 8"),
    ("/api/images?seeds=0-3&format=gif", 400, "format='gif'"),
    ("/api/mix?row=1&col=2&layers=0-1", 400, "style-based generator"),
    ("/api/images?seeds=x", 400, "seeds"),
    ("/api/nothing", 404, "no such endpoint"),
])
def test_bad_requests_get_clear_4xx_and_server_keeps_serving(limited_server, query, status, says):
    base = limited_server
    got, kind, body = get(base + query)
    assert got == status and kind == "application/json", body
    assert says in json.loads(body)["error"]
    assert get(f"{base}/api/image?seed=1")[0] == 200


def test_worker_refuses_when_its_queue_is_full():
    from ganctl.serve.worker import Busy, GenerationWorker

    w = GenerationWorker(max_queue=1, timeout=30)
    started, gate, results = threading.Event(), threading.Event(), []

    def first_job():
        started.set()
        gate.wait(30)
        return "first"

    first = threading.Thread(target=lambda: results.append(w.run(first_job)))
    first.start()
    assert started.wait(30)  # the worker is busy with the first job
    second = threading.Thread(target=lambda: results.append(w.run(lambda: "second")))
    second.start()
    while not w.queued:  # the second job waits in the queue
        time.sleep(0.01)
    with pytest.raises(Busy, match="busy"):
        w.run(lambda: "third")  # queue full: refused at once, no thread or memory piles up
    gate.set()
    first.join(), second.join()
    assert sorted(results) == ["first", "second"]
    w2 = GenerationWorker(max_queue=4, timeout=0.2)
    with pytest.raises(Busy, match="waited more than"):
        w2.run(lambda: threading.Event().wait(2))
    w.close(), w2.close()


def test_interpolation_ends_are_the_seeds_images(limited_server):
    """Non-style generators interpolate by slerp in z: t=0 is seed a's image, t=1 seed b's (same class rule)."""
    import io

    import numpy as np
    from PIL import Image

    def pixels(query):
        status, kind, body = get(limited_server + query)
        assert status == 200 and kind == "image/png", body
        return np.asarray(Image.open(io.BytesIO(body)), dtype=int)

    a, b = pixels("/api/image?seed=5&class=2"), pixels("/api/image?seed=9&class=2")
    assert np.abs(pixels("/api/interp?a=5&b=9&t=0&class=2") - a).max() <= 1
    assert np.abs(pixels("/api/interp?a=5&b=9&t=1&class=2") - b).max() <= 1
    mid = pixels("/api/interp?a=5&b=9&t=0.5&class=2")
    assert (a != b).any() and (mid != a).any() and (mid != b).any()  # (untrained tiny G: small differences)
