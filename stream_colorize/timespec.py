"""Time values as ffmpeg writes them: ``90``, ``1.5``, ``01:30``, ``00:01:30.5``, ``500ms``.

    >>> parse_time("1:02:03.5")       # 3723.5
    >>> parse_time("250ms")           # 0.25
"""

from __future__ import annotations

import math
import re

from .errors import UsageError

_SECONDS = re.compile(r"^(?P<value>\d+(?:\.\d*)?|\.\d+)(?P<unit>s|ms|us)?$")
_CLOCK = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d*)?)$")
_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def parse_time(text: str, option: str = "time") -> float:
    """Seconds from ffmpeg's duration syntax (``[HH:]MM:SS[.m]`` or ``S[.m][s|ms|us]``).

    Raises UsageError naming ``option`` and the accepted forms for anything else, negative
    values included.
    """
    value = text.strip()
    match = _SECONDS.match(value)
    if match:
        seconds = float(match["value"]) * _UNITS[match["unit"]]
    else:
        clock = _CLOCK.match(value)
        if clock is None or float(clock["s"]) >= 60 or (clock["h"] is not None and int(clock["m"]) >= 60):
            raise UsageError(
                f"{option} must be a time such as 90, 1.5, 01:30 or 00:01:30.5 (ffmpeg's syntax), not {text!r}"
            )
        seconds = int(clock["h"] or 0) * 3600 + int(clock["m"]) * 60 + float(clock["s"])
    if not math.isfinite(seconds):
        raise UsageError(f"{option} must be a finite time, not {text!r}")
    return seconds
