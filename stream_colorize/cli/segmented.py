"""``video`` in segments: the options ``--workers``, ``--ray``, ``--segment-seconds`` and the run's notes.

    $ stream-colorize video film.mkv out.mkv --workers 4 --threads 1
    $ stream-colorize video film.mkv out.mkv --ray 10.0.0.5:6379       # pip install 'stream-colorize[cluster]'
    $ stream-colorize video film.mkv out.mkv                           # a long film: resumable by itself

The library's ``colorize_file`` decides whether a film runs in segments (``cluster.wants_segments``)
and runs it; the command only passes these options and prints the notes.
"""

from __future__ import annotations

import sys

import typer

from ..cluster import ClusterOptions

WorkersOption = typer.Option(
    None, "--workers", min=1, help="Colourize in segments on N local worker processes (with --ray: N Ray actors)."
)
RayOption = typer.Option(
    None,
    "--ray",
    help="Colourize in segments on a Ray cluster: its ADDRESS (host:port) or 'auto' (needs the extra 'cluster').",
)
SegmentOption = typer.Option(
    None, "--segment-seconds", min=1.0, help="Segment length for a resumable, segmented run (default: 30)."
)

__all__ = ["ClusterOptions", "RayOption", "SegmentOption", "WorkersOption", "note"]


def note(line: str) -> None:
    """A segmented run's one-line notes (resumed, fresh start, made in one pass after all), on stderr."""
    print(f"stream-colorize: {line}", file=sys.stderr, flush=True)
