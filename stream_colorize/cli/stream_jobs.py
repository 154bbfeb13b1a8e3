"""``video IN OUT`` where OUT is no plain file: a stream (udp://, rtsp://, -, ...) or an HLS playlist.

Each is one job, checked before any work: the input exists and is not a folder, standard input is
not a terminal, the stream's scheme is one this FFmpeg writes, the playlist's folder exists and an
existing playlist is replaced only with -y.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputNotFoundError, UsageError
from ..io.hls import plan_hls
from ..io.info import is_url
from ..io.inputs import is_stdin
from ..io.stream_targets import stream_target


def stdin_ready() -> None:
    """Refuse ``-`` as the input when standard input is a terminal (the run would wait for typing)."""
    try:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        interactive = False
    if interactive:
        raise UsageError("input - reads standard input, which is a terminal here; pipe a stream in "
                         "(e.g. ffmpeg ... -f mpegts - | stream-colorize video - out.mp4)")  # fmt: skip


def _one_input(input: str, output: str) -> list[Path]:
    """Check the single input of a stream or playlist ``output``; returns it as a file to protect
    (none for a URL or standard input)."""
    if is_stdin(input):
        stdin_ready()
        return []
    if is_url(input):
        return []
    if Path(input).is_dir():
        raise UsageError(f"a folder of videos cannot go to one {output}; give one input")
    if not Path(input).exists():
        raise InputNotFoundError(f"input not found: {input}")
    return [Path(input)]


def collect_stream_job(input: str, output: str) -> list[tuple[str, Path | str]]:
    """The one job of a stream output (udp://, rtsp://, -, ...): checked, with no file checks."""
    target = stream_target(output)  # UsageError for a scheme this FFmpeg cannot write
    _one_input(input, f"stream ({target.label})")
    return [(input, output)]


def collect_hls_job(input: str, output: Path, overwrite: bool) -> list[tuple[str, Path | str]]:
    """The one job of an HLS playlist output (``io/hls.py``), checked before any work."""
    inputs = _one_input(input, f"playlist ({output})")
    plan_hls(output, False, overwrite, inputs, allow="pass -y/--overwrite to replace it")
    return [(input, output)]
