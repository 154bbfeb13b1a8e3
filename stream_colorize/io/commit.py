"""An output being written, and how it is named at the end: the one atomic commit of every writer.

    >>> out = OutputFile(Path("out.mp4"), overwrite=False)   # out.container writes .out.<pid>.tmp.mp4
    ...                                                      # (an image sequence f_%05d.png: in place)
    >>> out.commit(Outcome.DONE, frames, flush)              # flush() writes the encoders' tails first

``Outcome.DONE`` gives the final name (claimed atomically, see ``outputs.claim``; an earlier run's
``out.partial.mp4`` is then out of date and removed), ``Outcome.PARTIAL`` a name that says so,
``Outcome.FAILED`` removes what was written.  An output with no frame is never named.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

import av

from ..errors import MediaError, UsageError
from .encoders import PICTURE_FORMATS, is_image_sequence
from .outputs import claim, remove_stale_temps, temp_path

log = logging.getLogger("stream_colorize")


class Outcome(StrEnum):
    """How a run ends for its output file."""

    DONE = "done"  # the output takes its final name
    PARTIAL = "partial"  # interrupted: kept, playable, as name.partial.ext
    FAILED = "failed"  # removed


def partial_path(path: Path) -> Path:
    """Where an interrupted run's playable result goes: ``out.mp4`` -> ``out.partial.mp4``."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _format_name(path: Path, sequence: bool) -> str | None:
    if sequence:
        return "image2"
    return {".ts": "mpegts", ".m2ts": "mpegts", ".mkv": "matroska", ".webm": "webm"}.get(path.suffix.lower())


_NUMBER = re.compile(r"%0?\d*d")


def check_sequence_pattern(path: Path) -> None:
    """UsageError unless ``path``'s name numbers its pictures with exactly one ``%d`` (``f_%05d.png``);
    ``%%`` is a literal percent sign."""
    bare = path.name.replace("%%", "")
    if len(_NUMBER.findall(bare)) != 1 or "%" in _NUMBER.sub("", bare):
        raise UsageError(
            f"{path} is not a numbered picture pattern: put one %d or %05d where the number goes "
            "(%% for a percent sign), e.g. frames/f_%05d.png"
        )


def pictures_beyond(pattern: Path, frames: int) -> list[Path]:
    """The files of ``pattern`` numbered above ``frames`` (an earlier, longer run's): only names
    that are exactly the pattern with a number, in the pattern's own spelling of it."""
    name = pattern.name
    shape, last = "", 0
    for piece in re.finditer(r"%%|%0?\d*d", name):
        shape += re.escape(name[last : piece.start()]) + ("%" if piece.group() == "%%" else r"(\d+)")
        last = piece.end()
    matcher = re.compile(shape + re.escape(name[last:]))
    try:
        entries = sorted(pattern.parent.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        match = matcher.fullmatch(entry.name)
        if match is not None and int(match[1]) > frames and name % int(match[1]) == entry.name:
            found.append(entry)
    return found


class OutputFile:
    """The output container of ``path``, open under a hidden temporary name until ``commit``.

    ``pictures_only`` tells a format that holds no sound (GIF, an image sequence...).  Without
    ``overwrite`` a file that appeared at ``path`` meanwhile is never replaced.
    """

    def __init__(self, path: Path, overwrite: bool = True) -> None:
        self.path = path
        self.overwrite = overwrite
        self.final_path: Path | None = None
        remove_stale_temps(path.parent)
        self.sequence = is_image_sequence(path)  # f_%05d.png: written in place, one file a frame
        if self.sequence:
            check_sequence_pattern(path)
        self.tmp = path if self.sequence else temp_path(path)
        try:
            self.container = av.open(str(self.tmp), "w", format=_format_name(path, self.sequence))
        except (ValueError, av.error.FFmpegError) as exc:
            self.tmp.unlink(missing_ok=True)
            what = (
                f"unknown output format {path.suffix!r}" if path.suffix else "its name has no suffix to tell the format"
            )
            raise UsageError(f"cannot write {path}: {what}; use .mp4, .mkv, .mov, ...") from exc
        except OSError as exc:
            raise MediaError(f"cannot write {path}: {exc.strerror or exc}") from exc
        if not self.sequence and self.container.format.name == "image2":
            self.container.close()
            self.tmp.unlink(missing_ok=True)
            pattern = path.parent / "frames" / f"f_%05d{path.suffix}"
            raise UsageError(
                f"{path} names one picture, but a film has many: give a numbered pattern such as {pattern} "
                f"(or a video file such as {path.with_suffix('.mp4')})"
            )
        self.pictures_only = self.sequence or self.container.format.name in PICTURE_FORMATS
        self._closed = False

    def commit(self, outcome: Outcome, frames: int, flush: Callable[[], None]) -> Path | None:
        """Finish the file: ``flush`` (unless ``FAILED``), close, then name it by ``outcome``.

        Returns the final path (None if failed); MediaError when it cannot be finished or has no
        frame (it is deleted then).  Later calls change nothing.
        """
        if self._closed:
            return self.final_path
        self._closed = True
        try:
            outcome = self._finish(outcome, frames, flush)  # removes what was written when it fails
        except KeyboardInterrupt:
            # Given up while finishing (a third Ctrl-C): what was half written is worth nothing.
            self._close_quietly()
            self._remove_written(frames)
            raise
        if outcome == Outcome.FAILED:
            return None
        self.final_path = self._name(outcome, frames)
        return self.final_path

    def _close_quietly(self) -> None:
        try:
            self.container.close()
        except Exception as exc:  # noqa: BLE001 - giving up: the interruption is the news
            log.debug("closing %s: %s", self.tmp, exc)

    def _finish(self, outcome: Outcome, frames: int, flush: Callable[[], None]) -> Outcome:
        """Flush (unless ``FAILED``) and close; the outcome, ``FAILED`` after an error (raised)."""
        try:
            if outcome != Outcome.FAILED:
                try:
                    flush()
                except (av.error.FFmpegError, OSError) as exc:
                    outcome = Outcome.FAILED
                    raise MediaError(f"cannot finish {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError) as exc:
                if outcome != Outcome.FAILED:
                    outcome = Outcome.FAILED
                    raise MediaError(f"cannot finish {self.path}: {getattr(exc, 'strerror', None) or exc}") from exc
            if outcome != Outcome.FAILED and frames == 0:
                outcome = Outcome.FAILED
                raise MediaError("no video frame could be decoded from the input; nothing was written")
        finally:
            if outcome == Outcome.FAILED:
                self._remove_written(frames)
        return outcome

    def _name(self, outcome: Outcome, frames: int) -> Path:
        """Give the closed file its name: the output (``DONE``) or the partial one."""
        if self.sequence:
            older = pictures_beyond(self.path, frames) if outcome == Outcome.DONE else []
            if older:
                # Not ours to delete (they may be the user's): say so, the sequence is not this run's alone.
                log.warning(
                    "%d older picture(s) of %s numbered after this run's %d are still in %s (from %s on); "
                    "remove them for a sequence of this run alone", len(older), self.path.name, frames,
                    self.path.parent, older[0].name,
                )
            return self.path
        target = self.path if outcome == Outcome.DONE else partial_path(self.path)
        try:
            if outcome == Outcome.DONE:
                named = claim(self.tmp, self.path, self.overwrite)
            else:
                os.replace(self.tmp, target)
                named = target
        except OSError as exc:  # the folder turned read-only, a network share went away...
            self._remove_written(frames)
            raise MediaError(f"cannot write {target}: {exc.strerror or exc}") from exc
        if outcome == Outcome.DONE:
            self._remove_old_partial(named)
        return named

    def _remove_old_partial(self, whole: Path) -> None:
        """The whole output is written: an earlier interrupted run's ``name.partial.ext`` (ours,
        by its name) is out of date, so it goes, with a note."""
        old = partial_path(self.path)
        try:
            if not old.is_file():
                return
            if old.is_symlink():  # a link named like our partial was made by someone else
                log.warning("left %s alone (a link); %s is the whole output", old, whole)
                return
            old.unlink()
        except OSError as exc:
            log.warning("could not remove the partial output of an earlier interrupted run: %s (%s)",
                        old, exc.strerror or exc)  # fmt: skip
            return
        log.warning("removed the partial output of an earlier interrupted run: %s", old)

    def _remove_written(self, frames: int) -> None:
        """Delete what was written; never raises (on a read-only or vanished folder the error
        that stopped the run is the one worth telling)."""
        try:
            if not self.sequence:
                self.tmp.unlink(missing_ok=True)
                return
            for number in range(1, frames + 2):  # image2 numbers from 1
                Path(str(self.path) % number).unlink(missing_ok=True)
        except (TypeError, ValueError, OSError) as exc:
            log.debug("could not remove %s: %s", self.tmp, exc)
