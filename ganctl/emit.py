"""The progress-event callback of the library API's long-running commands: each event is a dict with a "type"
("log", "tick", "step", ...) that the CLI renders and a library caller may ignore."""

from __future__ import annotations

from typing import Callable

Emit = Callable[[dict], None]


def no_events(event: dict) -> None:
    """The default callback: drop every event."""
