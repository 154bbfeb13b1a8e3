"""Lines on stderr that survive a terminal that went away (SIGHUP, a closed pipe)."""

from __future__ import annotations

import sys


def say(text: str) -> None:
    """Print one line on stderr; a terminal that is gone does not turn it into a new error."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def out_of_memory(exc: BaseException) -> bool:
    """True for a failed allocation: Python's MemoryError or OpenCV's "Insufficient memory"."""
    return isinstance(exc, MemoryError) or "Insufficient memory" in str(exc) or "Cannot allocate memory" in str(exc)
