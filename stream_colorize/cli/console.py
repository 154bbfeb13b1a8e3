"""Lines on stderr that survive a terminal that went away (SIGHUP, a closed pipe)."""

from __future__ import annotations

import sys


def say(text: str) -> None:
    """Print one line on stderr; a terminal that is gone does not turn it into a new error."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
