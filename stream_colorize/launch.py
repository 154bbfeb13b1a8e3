"""The console script's entry point: signals are handled before the heavy imports start.

Importing the CLI loads OpenCV, PyAV and NumPy, which takes a second or more; a Ctrl-C (or
SIGTERM) in that time must end the program with one line, not a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import os
import sys
import threading

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
        _exit(exit_code(exc))
    except SystemExit as exc:
        _exit(exc.code if isinstance(exc.code, int) else 1)
    _exit(0)


def _exit(code: int) -> None:
    """Exit with ``code``.  When one of our threads is still inside a blocking read (a source
    left behind after Ctrl-C on a pipe or a stalled stream; the output is already finished), end
    the process at once: the interpreter's clean-up would free PyAV objects that thread is using,
    which has crashed the exit (SIGSEGV instead of 143)."""
    stuck = [t for t in threading.enumerate() if t.daemon and t.name.startswith("sc-") and t.is_alive()]
    if not stuck:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
