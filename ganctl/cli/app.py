"""The `ganctl` Typer app: builds the command tree from the command modules and maps errors to exit codes.

Each `cmd_*` module owns a group of subcommands and registers them with `register(app)`. Heavy imports (torch)
happen inside the command bodies so that `ganctl --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from ganctl.errors import EXIT_INTERRUPTED, GanctlError

app = typer.Typer(
    name="ganctl",
    help="Train, resume, sample and measure generative adversarial networks.\n\nExample: ganctl train --preset dcgan-fashion-mnist --data data/fmnist --kimg 50",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register_all() -> None:
    import importlib

    # One command module per line (ganctl/cli/cmd_<topic>.py, each with register(app)); the order is --help's order.
    modules = [
        "cmd_data",
        "cmd_train",
        "cmd_sample",
        "cmd_metrics",
        "cmd_eval",
        "cmd_ops",
        "cmd_info",
        "cmd_interop",
        "cmd_watch",
        "cmd_watermark",
        "cmd_export",
        "cmd_serve",
        "cmd_latent",
        "cmd_audit",
        "cmd_upscale",
        "cmd_compare",
        "cmd_translate",
    ]
    for name in modules:
        importlib.import_module(f"ganctl.cli.{name}").register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning ganctl errors into one line and an exit code."""
    try:
        rc = app(args=argv, standalone_mode=False)
        # Typer turns Ctrl-C into Exit(130) and, in non-standalone mode, returns the code instead of exiting.
        if isinstance(rc, int) and rc != 0:
            if rc == EXIT_INTERRUPTED:
                print("ganctl: interrupted", file=sys.stderr)
            sys.exit(rc)
    except GanctlError as e:
        print(f"ganctl: error: {e.message}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("ganctl: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception as e:
        # Click's usage errors (typer vendors its own click, so match by shape, not by class) arrive here in
        # non-standalone mode: show the one-line usage message with click's exit code (2).
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            e.show()
            sys.exit(e.exit_code)
        if type(e).__name__ == "Abort":
            sys.exit(EXIT_INTERRUPTED)
        raise
    sys.exit(0)
