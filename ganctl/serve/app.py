"""The Flask app behind `ganctl serve` and `ganctl explore`: parameter checking, limits, and the routes.

API (GET; errors are JSON {"error": "..."} with 400 for bad parameters, 503 when the worker is saturated):
  /api/info                                    the network: family, resolution, classes, style, directions, limits
  /api/image?seed=S[&class=C][&psi=P][&cutoff=K][&noise_mode=const|random|none]
                                               seedSSSS.png exactly as `ganctl sample` writes it (provenance included)
        [&direction=I&strength=X]              style generators with --directions: the edited image
  /api/images?seeds=0-15[&format=png|json]     png: grid.png as `ganctl sample --grid`; json: each seed's PNG (base64)
  /api/mix?row=R&col=C&layers=0-3              one style-mixing cell (row seed's styles, col seed's on `layers`)
  /api/interp?a=A&b=B&t=0.5                    the image a fraction t from seed A to seed B
  /            (explore only)                  the explorer page
"""

from __future__ import annotations

import base64
import hashlib
import math

from ganctl.errors import GanctlError, UsageError

NOISE_MODES = ("const", "random", "none")


class BadRequest(UsageError):
    pass


def _int(args, key, default=None, lo=None, hi=None, required=False):
    raw = args.get(key)
    if raw is None or raw == "":
        if required:
            raise BadRequest(f"{key}: missing; give an integer")
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"{key}={raw!r}: not an integer") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise BadRequest(f"{key}={v}: out of range {lo}..{hi}")
    return v


def _float(args, key, default, lo=-math.inf, hi=math.inf):
    raw = args.get(key)
    if raw is None or raw == "":
        return default
    try:
        v = float(raw)
    except ValueError:
        raise BadRequest(f"{key}={raw!r}: not a number") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise BadRequest(f"{key}={v}: out of range {lo:g}..{hi:g}")
    return v


def _seed_list(text: str, key: str, limit: int) -> list[int]:
    from ganctl.cli.seeds import parse_seeds

    try:
        # Counted before expanding, so "0-999999999" cannot make a huge list.
        total = 0
        for part in text.split(","):
            a, _, b = part.partition("-")
            total += int(b) - int(a) + 1 if b and a.strip().isdigit() and b.strip().isdigit() else 1
            if total > limit:
                raise BadRequest(f"{key}: more than {limit} values asked, the limit per request is {limit}")
        seeds = list(parse_seeds(text, key))
    except UsageError as e:
        raise BadRequest(e.message if hasattr(e, "message") else str(e)) from None
    if not seeds:
        raise BadRequest(f"{key}: no seeds given")
    if len(seeds) > limit:
        raise BadRequest(f"{key}: {len(seeds)} images asked, the limit per request is {limit}")
    return seeds


def create_app(renderer, worker, max_images: int = 64, max_batch: int = 16, page: bool = False):
    from flask import Flask, Response, jsonify, request

    app = Flask("ganctl.serve", static_folder=None)
    info = renderer.info()
    info["limits"] = {"max_images": max_images, "max_batch": max_batch}
    max_seed = 2 ** 32 - 1  # numpy's RandomState seed range
    num_ws = info["num_ws"]

    def common(args):
        n = info["num_classes"]
        cls = _int(args, "class", None, 0, n - 1 if n else -1) if n else None
        if not n and args.get("class") not in (None, ""):
            raise BadRequest("class: this generator is unconditional; leave class out")
        psi = _float(args, "psi", 1.0, -2.0, 2.0)
        cutoff = _int(args, "cutoff", None, 1, max(num_ws, 1)) if info["style"] else None
        noise = args.get("noise_mode", "const")
        if noise not in NOISE_MODES:
            raise BadRequest(f"noise_mode={noise!r}: use const, random or none")
        return cls, psi, cutoff, noise

    def png(data: bytes, name: str) -> Response:
        r = Response(data, mimetype="image/png")
        r.headers["Content-Disposition"] = f'inline; filename="{name}"'
        r.headers["Cache-Control"] = "no-store"
        r.headers["X-Content-SHA256"] = hashlib.sha256(data).hexdigest()
        return r

    @app.errorhandler(BadRequest)
    @app.errorhandler(UsageError)
    def bad(e):
        return jsonify(error=e.message if hasattr(e, "message") else str(e)), 400

    @app.errorhandler(GanctlError)
    def failed(e):
        from ganctl.serve.worker import Busy

        return jsonify(error=str(e)), 503 if isinstance(e, Busy) else 500

    @app.errorhandler(404)
    def missing(e):
        return jsonify(error=f"{request.path}: no such endpoint; see /api/info"), 404

    @app.errorhandler(405)
    def method(e):
        return jsonify(error=f"{request.method} {request.path}: only GET"), 405

    @app.errorhandler(Exception)
    def crashed(e):  # a bug: say so, keep serving
        app.logger.exception("request failed")
        return jsonify(error=f"internal error: {type(e).__name__}: {e}"), 500

    @app.get("/api/info")
    def api_info():
        return jsonify(info)

    @app.get("/api/image")
    def api_image():
        a = request.args
        seed = _int(a, "seed", None, 0, max_seed, required=True)
        cls, psi, cutoff, noise = common(a)
        if a.get("direction") not in (None, ""):
            k = _int(a, "direction", None, 0, max(len(info["directions"]) - 1, 0), True)
            strength = _float(a, "strength", 0.0, -100.0, 100.0)
            data = worker.run(lambda: renderer.edit_png(seed, psi, cls, cutoff, noise, k, strength))
            return png(data, f"seed{seed:04d}-edit.png")

        def job():
            return renderer.seed_png(renderer.seeds([seed], psi, cls, cutoff, noise)[0], seed, psi, cls, noise)

        return png(worker.run(job), f"seed{seed:04d}.png")

    @app.get("/api/images")
    def api_images():
        import torch

        a = request.args
        seeds = _seed_list(a.get("seeds", ""), "seeds", max_images)
        cls, psi, cutoff, noise = common(a)
        fmt = a.get("format", "png")
        if fmt not in ("png", "json"):
            raise BadRequest(f"format={fmt!r}: use png (a grid) or json")
        # One job per max_batch seeds: other requests are served between them.
        parts = [worker.run(lambda s=seeds[i:i + max_batch]: renderer.seeds(s, psi, cls, cutoff, noise))
                 for i in range(0, len(seeds), max_batch)]
        imgs = torch.cat(parts)
        if fmt == "png":
            return png(worker.run(lambda: renderer.grid_png(imgs, seeds, psi, cls, noise)), "grid.png")
        out = []
        for s, img in zip(seeds, imgs):
            data = worker.run(lambda s=s, img=img: renderer.seed_png(img, s, psi, cls, noise))
            out.append({"seed": s, "class": renderer.class_of(s, cls), "file": f"seed{s:04d}.png",
                        "sha256": hashlib.sha256(data).hexdigest(), "png_base64": base64.b64encode(data).decode()})
        return jsonify(network=info["network"], network_sha256=info["network_sha256"], truncation_psi=psi,
                       noise_mode=noise, images=out)

    @app.get("/api/mix")
    def api_mix():
        a = request.args
        if not info["style"]:
            raise BadRequest(f"/api/mix: style mixing needs a style-based generator; this is {info['family']}")
        row, col = _int(a, "row", None, 0, max_seed, True), _int(a, "col", None, 0, max_seed, True)
        layers = _seed_list(a.get("layers", ""), "layers", max(num_ws, 1))
        cls, psi, cutoff, noise = common(a)
        return png(worker.run(lambda: renderer.mix_png(row, col, layers, psi, cls, cutoff, noise)), f"mix-{row}-{col}.png")

    @app.get("/api/interp")
    def api_interp():
        a = request.args
        sa, sb = _int(a, "a", None, 0, max_seed, True), _int(a, "b", None, 0, max_seed, True)
        t = _float(a, "t", 0.5, 0.0, 1.0)
        cls, psi, cutoff, noise = common(a)
        return png(worker.run(lambda: renderer.interp_png(sa, sb, t, psi, cls, cutoff, noise)), f"interp-{sa}-{sb}.png")

    if page:
        from importlib import resources

        html = resources.files("ganctl.serve").joinpath("static/explore.html").read_text(encoding="utf-8")

        @app.get("/")
        def index():
            return Response(html, mimetype="text/html")

    return app
