"""The ``stream-colorize`` command line: a thin typer layer over the library.

    $ stream-colorize image photo.jpg -o photo_colour.png
    $ stream-colorize video film.mp4 film_colour.mp4
    $ stream-colorize live rtsp://camera/stream

Each sub-module registers its commands on ``app``; ``main`` turns our errors into one line on
stderr and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from ..errors import ColorizeError

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as click_errors  # type: ignore[no-redef]

from ..signals import exit_code, handle_termination, interrupted_by
from .console import Reported, out_of_memory, say

ABORTS = tuple({getattr(click_errors, "Abort", typer.Abort), typer.Abort})

app = typer.Typer(
    name="stream-colorize",
    help="Colorize black-and-white images and video, from files, cameras and network streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: fits 80 columns, no '<bool>' after switches
)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"stream-colorize {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Colorize black-and-white images and video, from files, cameras and network streams."""


from . import image, info, live, models_cmd, serve_cmd, train_cmd, video  # noqa: E402  (they register on app)

for _module in (info, image, video, live, serve_cmd, models_cmd, train_cmd):
    _module.register(app)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGTERM gives 143 and SIGHUP 129 (see signals.exit_code)


class _NoteHandler(logging.Handler):
    """Print the library's warnings as one 'note:' line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "note" if record.levelno < logging.ERROR else "error"
        print(f"stream-colorize: {prefix}: {record.getMessage()}", file=sys.stderr, flush=True)


def configure_logging(level: int = logging.WARNING) -> None:
    """Route the package logger to stderr, one line per message; silence OpenCV's and FFmpeg's own."""
    logger = logging.getLogger("stream_colorize")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler())
    logger.setLevel(level)
    logger.propagate = False
    from ..io.avlog import quiet_libav

    quiet_libav()  # decoder complaints about damaged input are counted in the summary instead
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our errors say it
    except AttributeError:  # pragma: no cover - very old OpenCV
        pass


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: SIGINT, SIGTERM and SIGHUP end it as Ctrl-C does (exit 128+N), our errors
    end it with one line and exit status 1."""
    configure_logging()
    try:
        with handle_termination():
            code = _run_app(argv)
        signum = interrupted_by()
        if code == EXIT_INTERRUPTED and signum is not None:
            # typer turns a KeyboardInterrupt that leaves a command into a silent 130: say so,
            # and give SIGTERM/SIGHUP their own status (143/129).
            say("stream-colorize: interrupted")
            code = 128 + signum
        if code:
            sys.exit(code)
    except Reported as exc:
        sys.exit(exc.code)
    except ColorizeError as exc:
        say(f"stream-colorize: error: {exc}")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt as exc:
        say("stream-colorize: interrupted")
        sys.exit(exit_code(exc))
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        say(f"stream-colorize: error: {exc.strerror or exc}{where}")
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001 - a bug of ours still ends as one line, not a traceback
        if os.environ.get("STREAM_COLORIZE_DEBUG"):
            raise
        if out_of_memory(exc):
            say("stream-colorize: error: not enough memory for this input; free some, or scale it down first")
            sys.exit(EXIT_ERROR)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        say(
            f"stream-colorize: error: unexpected {type(exc).__name__}: {first} "
            "(a bug: please report it; STREAM_COLORIZE_DEBUG=1 shows the traceback)"
        )
        sys.exit(EXIT_ERROR)


def _run_app(argv: list[str] | None) -> int:
    """Run the typer app; return its exit status.  A usage error (bad option value, unknown
    option or command) is one line naming the help to read, exit status 2."""
    try:
        result = app(args=argv, prog_name="stream-colorize", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        return EXIT_USAGE
    except click_errors.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        message = " ".join(exc.format_message().split())
        say(f"stream-colorize: error: {message}{where}")
        return EXIT_USAGE
    except ABORTS:
        raise KeyboardInterrupt from None
    except click_errors.ClickException as exc:
        say(f"stream-colorize: error: {' '.join(exc.format_message().split())}")
        return exc.exit_code or EXIT_ERROR
    return result if isinstance(result, int) else 0
