"""`ganctl ops ...`: native op build and status (owned by the ops work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
