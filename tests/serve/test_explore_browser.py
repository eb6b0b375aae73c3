"""`ganctl explore` in a real headless Chromium (Debian's chromium + chromedriver, driven by selenium): the page
loads, picking a seed, moving the truncation slider and an edit direction's strength change the image (pixel
comparison of element screenshots), interpolation and style mixing draw, 20 concurrent requests are all answered, a
big request does not hold up a small one, a malformed request gets a JSON error and the server keeps serving. The explorer runs as the real CLI in a subprocess.

GANCTL_WRITE_SCREENSHOT=1 also writes the page's screenshot to examples/explore.png (the README's picture).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

webdriver = pytest.importorskip("selenium.webdriver")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not (Path(CHROMEDRIVER).exists() and CHROMIUM):
    pytest.skip("chromium and chromium-driver not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,900"]


@pytest.fixture(scope="module")
def explorer(serve_networks, tmp_path_factory):
    """`ganctl explore NET --directions dirs.npz --port 0` as a subprocess; yields the URL it prints."""
    from ganctl.latent.directions import Directions, save_directions
    from ganctl.sampling.generate import load_generator

    tmp = tmp_path_factory.mktemp("explore")
    net = serve_networks["stylegan2"]
    G = load_generator(net, "cpu").G
    rng = np.random.RandomState(0)
    vec = rng.randn(2, G.w_dim)
    dirs = save_directions(Directions(vec / np.linalg.norm(vec, axis=1, keepdims=True), [3.0, 3.0],
                                      np.ones((2, G.num_ws), bool), ["pc0", "pc1"], "ganspace"), tmp / "dirs.npz")
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "ganctl", "explore", str(net), "--port", "0", "--device", "cpu",
                             "--directions", str(dirs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else url
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(120)
    yield driver
    driver.quit()


def _wait(driver, js: str, timeout: float = 90.0):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(js)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {js}")


def _shot(driver, element_id: str, contains: str) -> np.ndarray:
    """The element's pixels once its image for a URL containing `contains` has loaded."""
    from PIL import Image

    _wait(driver, f"const i = document.getElementById('{element_id}'); "
                  f"return i.dataset.loaded && i.dataset.loaded === i.getAttribute('src') && "
                  f"i.dataset.loaded.includes('{contains}') && i.complete;")
    png = driver.find_element("id", element_id).screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _differs(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.abs(a - b).mean() > 1.0


def test_page_controls_change_the_image(explorer, browser):
    browser.get(explorer)
    _wait(browser, "return document.body.dataset.ready === '1';")
    assert "stylegan2" in browser.find_element("id", "netinfo").text
    assert len(browser.find_elements("css selector", "#grid figure")) == 36
    before = _shot(browser, "current", "seed=0")
    browser.find_element("css selector", "#grid figure[data-seed='7']").click()  # pick a seed
    seed7 = _shot(browser, "current", "seed=7")
    assert _differs(before, seed7)
    browser.execute_script("const s = document.getElementById('psi'); s.value = '0'; "
                           "s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));")
    truncated = _shot(browser, "current", "psi=0.00")  # psi 0: every seed becomes the average image
    assert _differs(seed7, truncated)
    browser.execute_script("const s = document.getElementById('psi'); s.value = '1'; s.dispatchEvent(new Event('change'));")
    _shot(browser, "current", "psi=1.00")
    browser.execute_script("document.getElementById('direction').value = '0'; "
                           "document.getElementById('direction').dispatchEvent(new Event('change')); "
                           "const s = document.getElementById('strength'); s.value = '5'; "
                           "s.dispatchEvent(new Event('change'));")
    edited = _shot(browser, "current", "strength=5")
    assert _differs(seed7, edited)
    href = browser.find_element("id", "download").get_attribute("href")
    assert "seed=7" in href and "direction=0" in href
    # interpolation and style mixing draw too
    browser.find_element("id", "set-b").click()
    _shot(browser, "interp", "b=7")
    _wait(browser, "const m = [...document.querySelectorAll('#mix img')]; "
                   "return m.length === 9 && m.every(i => i.complete && i.dataset.loaded);")
    # the page pages: next shows seeds 36..71
    browser.find_element("id", "page-next").click()
    _wait(browser, "return document.querySelector('#grid figure').dataset.seed === '36';")
    if os.environ.get("GANCTL_WRITE_SCREENSHOT"):
        browser.find_element("id", "page-prev").click()
        _wait(browser, "return [...document.querySelectorAll('#grid img, #mix img')].every(i => i.complete && i.dataset.loaded);")
        browser.save_screenshot(str(REPO / "examples" / "explore.png"))


def test_twenty_concurrent_requests_and_a_malformed_one(explorer, browser):
    browser.get(explorer)
    _wait(browser, "return document.body.dataset.ready === '1';")
    statuses = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const reqs = [];
        for (let i = 0; i < 20; i++) reqs.push(fetch('/api/image?seed=' + (1000 + i) + '&psi=0.8')
            .then(async r => [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]));
        Promise.all(reqs).then(done, e => done(String(e)));""")
    assert isinstance(statuses, list) and len(statuses) == 20
    assert all(s == 200 and t == "image/png" and n > 100 for s, t, n in statuses), statuses
    # A big request (64 images, split into worker jobs) does not hold up a small one sent after it.
    order = browser.execute_async_script("""
        const done = arguments[arguments.length - 1], order = [];
        const big = fetch('/api/images?seeds=2000-2063&format=json').then(r => { order.push('big ' + r.status); });
        setTimeout(() => fetch('/api/image?seed=3').then(r => { order.push('small ' + r.status); }), 50);
        big.then(() => setTimeout(() => done(order), 200), e => done(String(e)));""")
    assert order == ["small 200", "big 200"], order
    bad, good = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('/api/image?seed=12&psi=lots').then(async r => {
            const bad = [r.status, await r.json()];
            const g = await fetch('/api/image?seed=12');
            done([bad, g.status]);
        }, e => done(String(e)));""")
    assert bad[0] == 400 and "psi='lots'" in bad[1]["error"]
    assert good == 200
