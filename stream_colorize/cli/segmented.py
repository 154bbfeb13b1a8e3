"""``video`` in segments: the options ``--workers``, ``--ray``, ``--segment-seconds`` and their run.

    $ stream-colorize video film.mkv out.mkv --workers 4 --threads 1
    $ stream-colorize video film.mkv out.mkv --ray 10.0.0.5:6379       # pip install 'stream-colorize[cluster]'
    $ stream-colorize video film.mkv out.mkv                           # a long film: resumable by itself

Kept apart from ``video.py`` so that command stays a thin layer: it asks ``wants_segments`` and,
when yes, hands the film to ``run_segmented`` with its progress bar.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..cluster import ClusterOptions, run_job
from ..cluster import wants_segments as _wants_segments
from ..config import Settings
from ..video import Result

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

__all__ = ["RayOption", "SegmentOption", "WorkersOption", "run_segmented", "wants_segments", "ClusterOptions"]


def _note(line: str) -> None:
    print(f"stream-colorize: {line}", file=sys.stderr, flush=True)


def wants_segments(job_in: str, job_out: Path, settings: Settings, options: ClusterOptions) -> bool:
    """``cluster.wants_segments`` with its notes (an output made in one pass after all) on stderr."""
    return _wants_segments(job_in, job_out, settings, options, on_note=_note)


def run_segmented(
    job_in: str, job_out: Path, settings: Settings, options: ClusterOptions, bar, overwrite: bool = False
) -> Result:
    """Run one film through the cluster driver, feeding the ``video`` command's progress bar.

    Without ``overwrite`` (-y) an output that appears while the film is worked on is not replaced.
    """

    def started(source) -> None:
        bar.start(Path(job_in).name, source.info.frames)

    try:
        return run_job(job_in, job_out, settings, options, on_start=started, on_tick=bar.tick, on_note=_note,
                       overwrite=overwrite)  # fmt: skip
    finally:
        bar.stop()
