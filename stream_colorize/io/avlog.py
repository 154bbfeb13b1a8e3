"""FFmpeg's own log lines, kept off the terminal and at hand for clearer error messages.

    >>> quiet_libav()                     # the CLI does this once at start-up
    >>> with capturing_libav():           # around one short call whose FFmpeg errors are wanted
    ...     ctx.open()
    >>> recent_libav_messages()           # ['libx264: Error setting preset/tune ultraslowx.', ...]

Left alone, libav prints decoder complaints (``[h264 @ 0x…] error while decoding MB …``) straight
to stderr, between our own lines.  ``quiet_libav`` drops them without taking the GIL.  PyAV's
bridge into Python logging must take the GIL for every message, and a decoder's worker threads
log while the decoder is freed from Python with the GIL held: with the bridge always on, closing a
damaged RTSP stream deadlocked.  So the bridge is switched on only around a call made in our own
thread (opening an encoder), where its last lines name the real cause.  Encoder libraries that
print banners of their own (SVT-AV1) are told to print errors only.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

_RECENT: deque[str] = deque(maxlen=32)


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        name = record.name.removeprefix("libav.")
        _RECENT.append(f"{name}: {record.getMessage().strip()}")


def quiet_libav() -> None:
    """Keep FFmpeg's messages off the terminal (dropped in C, no GIL taken)."""
    import av.logging

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner unless told errors only
    av.logging.set_level(None)
    logger = logging.getLogger("libav")
    if not any(isinstance(h, _Keep) for h in logger.handlers):
        logger.addHandler(_Keep())
    logger.propagate = False


@contextmanager
def capturing_libav(level: int | None = None) -> Iterator[None]:
    """Keep FFmpeg's messages of ``level`` (default: errors) and above for the length of the block."""
    import av.logging

    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR if level is None else level)
    try:
        yield
    finally:
        av.logging.set_level(previous)


def recent_libav_messages(since: int = 0) -> list[str]:
    """FFmpeg's latest error lines (oldest first), ``since`` skipping that many of the oldest."""
    return list(_RECENT)[since:]


def clear_libav_messages() -> None:
    """Forget the kept lines (before an operation whose own messages are wanted)."""
    _RECENT.clear()
