"""FFmpeg's own log lines, kept off the terminal and at hand for clearer error messages.

    >>> quiet_libav()                     # the CLI does this once at start-up
    >>> recent_libav_messages()           # ['libx264: Error setting preset/tune ultraslowx.', ...]

Left alone, libav prints decoder complaints (``[h264 @ 0x…] error while decoding MB …``) straight
to stderr, between our own lines.  Here PyAV's log bridge takes them (errors only) into the
``libav`` Python logger, which prints nothing and keeps the last few for messages that name the
real cause (a bad encoder preset, say).  Encoder libraries that print banners of their own
(SVT-AV1) are told to print errors only.
"""

from __future__ import annotations

import logging
import os
from collections import deque

_RECENT: deque[str] = deque(maxlen=32)


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        name = record.name.removeprefix("libav.")
        _RECENT.append(f"{name}: {record.getMessage().strip()}")


def quiet_libav(level: int | None = None) -> None:
    """Route FFmpeg's messages of ``level`` (default: errors) and above away from the terminal."""
    import av.logging

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner unless told errors only
    av.logging.set_level(av.logging.ERROR if level is None else level)
    logger = logging.getLogger("libav")
    if not any(isinstance(h, _Keep) for h in logger.handlers):
        logger.addHandler(_Keep())
    logger.propagate = False


def recent_libav_messages(since: int = 0) -> list[str]:
    """FFmpeg's latest error lines (oldest first), ``since`` skipping that many of the oldest."""
    return list(_RECENT)[since:]


def clear_libav_messages() -> None:
    """Forget the kept lines (before an operation whose own messages are wanted)."""
    _RECENT.clear()
