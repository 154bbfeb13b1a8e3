"""The console script's entry point: signals are handled before the heavy imports start.

Importing the CLI loads OpenCV, PyAV and NumPy, which takes a second or more; a Ctrl-C (or
SIGTERM) in that time must end the program with one line, not a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import sys

from .signals import exit_code, handle_termination


def main(argv: list[str] | None = None) -> None:
    """Run ``stream-colorize`` with SIGINT, SIGTERM and SIGHUP handled from the first moment."""
    try:
        with handle_termination():
            from .cli import main as cli_main

            cli_main(argv)
    except KeyboardInterrupt as exc:
        try:
            print("stream-colorize: interrupted", file=sys.stderr, flush=True)
        except OSError:
            pass
        sys.exit(exit_code(exc))
