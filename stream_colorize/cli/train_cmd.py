"""Commands of this area are registered here (work in progress)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
