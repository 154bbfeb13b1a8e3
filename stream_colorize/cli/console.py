"""Lines on stderr that survive a terminal that went away (SIGHUP, a closed pipe); the progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ..pipeline import Progress as FilmProgress


def say(text: str) -> None:
    """Print one line on stderr; a terminal that is gone does not turn it into a new error."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class Reported(Exception):  # noqa: N818 - a way out, not an error
    """A command ends with ``code`` after saying why itself (an interrupted video says what it
    kept): ``main`` exits with it and adds no line of its own."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def out_of_memory(exc: BaseException) -> bool:
    """True for a failed allocation: Python's MemoryError or OpenCV's "Insufficient memory"."""
    return isinstance(exc, MemoryError) or "Insufficient memory" in str(exc) or "Cannot allocate memory" in str(exc)


class _Bar:
    """A ``store.FetchProgress`` drawing one rich task per file."""

    def __init__(self, progress) -> None:
        self._progress = progress
        self._task = None

    def start(self, description: str, total: int) -> None:
        """Begin a new file's bar."""
        self._task = self._progress.add_task(description, total=total)

    def __call__(self, step: int, reset_to: int | None) -> None:
        if reset_to is not None:
            self._progress.reset(self._task, completed=reset_to)
        if step:
            self._progress.advance(self._task, step)


@contextmanager
def download_bar(quiet: bool) -> Iterator[_Bar | None]:
    """A rich progress bar on stderr (bytes, speed, ETA) to pass to fetches; None when quiet."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield _Bar(progress)


class FilmBar:
    """A film's progress bar on stderr (frames, fps, elapsed, ETA), fed from the pipeline's counters;
    drawn only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def start(self, label: str, total: int | None) -> None:
        """Show a bar for one film (``total`` frames, None when unknown)."""
        if not self.enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} fps"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(label, total=total or None, fps=0.0)

    def tick(self, counters: FilmProgress) -> None:
        """Move the bar to the frames written so far."""
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=counters.written, fps=counters.fps)

    def stop(self) -> None:
        """Take the bar off the screen."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
