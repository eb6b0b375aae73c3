"""Running the app: load the generator, start the worker, serve with waitress until interrupted.

waitress (Pylons; pure Python, no C build, on every platform) is a production WSGI server with a fixed pool of HTTP
threads and a connection limit, so the number of threads never grows with the load; Flask gives routing, query
parsing and error handlers. The bound address is loopback unless the user names another host.
"""

from __future__ import annotations

from typing import Callable


def require_web():
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        from ganctl.errors import UsageError

        raise UsageError("ganctl serve/explore need Flask and waitress: pip install 'ganctl[web]'") from None


def build(source, device="auto", directions=None, max_images=64, max_batch=16, max_queue=64, timeout=60.0,
          page=False):
    """(app, renderer, worker) for a network; what `serve`/`explore` run and what tests drive directly."""
    require_web()
    from ganctl.sampling.generate import load_generator
    from ganctl.serve.app import create_app
    from ganctl.serve.images import Renderer
    from ganctl.serve.worker import GenerationWorker

    from ganctl.errors import UsageError

    if max_images < 1 or max_batch < 1:
        raise UsageError("--max-images/--max-batch: must be at least 1")
    gen = load_generator(source, device)
    dirs = None
    if directions:
        from ganctl.latent.directions import load_directions

        dirs = load_directions(directions)
    renderer = Renderer(gen, dirs)
    worker = GenerationWorker(max_queue=max_queue, timeout=timeout)
    return create_app(renderer, worker, max_images, max_batch, page), renderer, worker


def make_server(app, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
    """A waitress server bound now (port 0: a free port); `.effective_port`, `.run()`, `.close()`."""
    from waitress.server import create_server

    return create_server(app, host=host, port=port, threads=threads, connection_limit=100, channel_timeout=30,
                         ident="ganctl")


def serve_forever(source, host="127.0.0.1", port=0, page=False, on_ready: Callable[[str], None] = print, **kw) -> dict:
    app, renderer, worker = build(source, page=page, **kw)
    server = make_server(app, host, port)
    url = f"http://{host if ':' not in host else '[' + host + ']'}:{server.effective_port}/"
    on_ready(url)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        worker.close()
        renderer.close()
    return {"url": url}
