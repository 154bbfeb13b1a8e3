"""The one place PyAV opens an input for reading (files, URLs, devices, lavfi graphs).

    >>> with open_input("film.mkv") as container: ...
    >>> container = open_input("rtsp://cam/live", timeout=(10, 5))     # RTSP over TCP by default

Having one opener means RTSP's transport default (TCP: UDP loses packets through NAT and on busy
links) holds for the file pipeline, live, the cluster and the header peeks alike.  PyAV's own
exceptions pass through: each caller words them for its context.
"""

from __future__ import annotations

from pathlib import Path

import av
from av.container import InputContainer

Timeout = float | tuple[float, float] | None
STDIN_NAMES = ("-", "pipe:", "pipe:0")  # an input read from standard input (MPEG-TS, Matroska, MP4 with faststart)


def is_stdin(name: str | Path) -> bool:
    """True for ``-`` (and FFmpeg's ``pipe:``/``pipe:0``): the input is standard input."""
    return str(name) in STDIN_NAMES


def open_input(
    name: str | Path, *, format: str | None = None, options: dict[str, str] | None = None, timeout: Timeout = None
) -> InputContainer:
    """Open ``name`` for reading; ``timeout`` is seconds, or (open, read) seconds, for network inputs."""
    text = "pipe:0" if is_stdin(name) else str(name)
    opts = dict(options or {})
    if text.lower().startswith(("rtsp://", "rtsps://")):
        opts.setdefault("rtsp_transport", "tcp")
    return av.open(text, "r", format=format, options=opts, timeout=timeout)
