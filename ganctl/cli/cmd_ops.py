"""`ganctl ops ...`: build the native op kernels ahead of time and report which implementation each op uses."""

from __future__ import annotations

import json
import sys

import typer

from ganctl.errors import GanctlError


def _render(st: dict) -> None:
    for op, info in st.items():
        kernels = ", ".join(k for k in ("cpu", "cuda") if info[k]) or "none"
        print(f"{op:10s} {info['active']:6s}  kernels: {kernels:9s}  {info['reason']}", file=sys.stderr)
    first = next(iter(st.values()))
    print(f"cache: {first['cache_dir']}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    ops_app = typer.Typer(help="Native (C++/CUDA) kernels of the hot ops: build them, see which implementation is active.",
                          no_args_is_help=True)
    app.add_typer(ops_app, name="ops")

    @ops_app.command("status")
    def status(
        build: bool = typer.Option(False, "--build", help="Load (building if needed) the native kernels first."),
        as_json: bool = typer.Option(False, "--json", help="Print the status as JSON on stdout."),
    ) -> None:
        """Say, per op, whether the native kernels or the PyTorch reference is active, and why.

        Example: ganctl ops status --json
        """
        from ganctl.ops import status as ops_status

        st = ops_status(build=build)
        if as_json:
            print(json.dumps(st, indent=1))
        else:
            _render(st)

    @ops_app.command("build")
    def build(
        force: bool = typer.Option(False, "--force", help="Rebuild even when a cached build (or failed build) exists."),
        verbose: bool = typer.Option(False, "--verbose", help="Show the compiler commands and output."),
    ) -> None:
        """Compile the native kernels now (CPU, plus CUDA when a GPU and nvcc exist) into the cache.

        Example: GANCTL_CACHE=/scratch/cache ganctl ops build
        """
        from ganctl.ops import loader

        failed_before = False
        try:
            loader.load(force=True if force else False, verbose=verbose)
        except loader.BuildError as e:
            failed_before = "earlier build failed" in str(e)
            if not failed_before:
                raise GanctlError(f"native ops: {e}") from None
        if failed_before:  # an explicit build always retries a recorded failure
            try:
                loader.load(force=True, verbose=verbose)
            except loader.BuildError as e:
                raise GanctlError(f"native ops: {e}") from None
        _render(loader.status())
