"""The Typer command-line interface: parse flags, call `ganctl.api`, render results. No logic lives here."""
