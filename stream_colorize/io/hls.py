"""HLS into a folder: an output named ``*.m3u8`` is a playlist, its MPEG-TS segments beside it.

    >>> plan = plan_hls("web/index.m3u8", live=False, overwrite=False)  # checked: folder, existing list
    >>> run = plan.begin()              # run.url, run.options: what FFmpeg's hls muxer is opened with
    >>> run.finish(Outcome.DONE)        # the playlist takes its name; an older run's segments go

``video IN web/index.m3u8`` writes a complete VOD playlist (2 s segments, ``#EXT-X-ENDLIST``) under
a hidden name and renames it into place at the end, as every file output is committed: a failed
run removes what it wrote and leaves an earlier playlist playable; Ctrl-C keeps
``index.partial.m3u8``.  ``live --output web/index.m3u8`` writes a live playlist (1 s segments, the
last ``LIVE_LIST`` of them; FFmpeg deletes older ones and writes each segment and the playlist
under a temporary name first, so a reader never gets half of one).

Segments are named ``<stem>-<run>-<n>.ts``: ``run`` is six hex digits new for every run, so a run
never writes over the segments of the playlist it replaces, and only names of that form are
ever removed (the ones the old playlist lists) or served (``HlsPlan.serves``).  An existing playlist
is replaced only with -y / ``overwrite``; the folder must exist.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import MediaError, UsageError
from .commit import Outcome
from .guard import LIBRARY_ALLOW, check_output
from .stream_targets import HLS_SUFFIX as SUFFIX
from .stream_targets import StreamTarget

log = logging.getLogger("stream_colorize")

LIVE_SEGMENT_S = 1  # a live viewer is at most a few segments behind
FILE_SEGMENT_S = 2
LIVE_LIST = 6  # segments a live playlist keeps


def segment_pattern(stem: str) -> re.Pattern[str]:
    """The names this module gives the segments of playlist ``<stem>.m3u8``."""
    return re.compile(re.escape(stem) + r"-[0-9a-f]{6}-[0-9]{5,}\.ts")


@dataclass(frozen=True)
class HlsPlan:
    """A checked HLS output: where the playlist goes and whether it is live."""

    playlist: Path
    live: bool

    @property
    def folder(self) -> Path:
        """The folder of the playlist and its segments."""
        return self.playlist.parent

    @property
    def stem(self) -> str:
        """The playlist's name without ``.m3u8``."""
        return self.playlist.name[: -len(SUFFIX)]

    @property
    def partial(self) -> Path:
        """Where an interrupted film's playlist goes: ``index.partial.m3u8``."""
        return self.folder / f"{self.stem}.partial{SUFFIX}"

    def serves(self, name: str) -> bool:
        """True for the playlist's own name and names of its segments: the only files to hand out."""
        return name == self.playlist.name or segment_pattern(self.stem).fullmatch(name) is not None

    def target(self) -> StreamTarget:
        """The StreamTarget that ``StreamSink`` writes (its ``hls`` is this plan)."""
        return StreamTarget(str(self.playlist), "hls", str(self.playlist), hls=self)

    def begin(self) -> HlsRun:
        """A new run's names; a live run first removes the segments of the playlist it replaces."""
        run = HlsRun(self, secrets.token_hex(3))
        if self.live:
            run.remove_segments_of(self.playlist)
        return run


@dataclass(frozen=True)
class HlsRun:
    """One muxer's worth of HLS output: its segment names and the playlist it writes."""

    plan: HlsPlan
    run: str

    @property
    def url(self) -> str:
        """What the muxer writes: the playlist itself (live) or its hidden name until the end."""
        plan = self.plan
        return str(plan.playlist if plan.live else plan.folder / f".{plan.playlist.name}.{self.run}.part")

    @property
    def options(self) -> dict[str, str]:
        """The hls muxer's options."""
        plan = self.plan
        options = {
            "hls_segment_type": "mpegts",
            "hls_segment_filename": str(plan.folder / f"{plan.stem}-{self.run}-%05d.ts"),
        }
        if plan.live:
            flags = "delete_segments+temp_file+independent_segments"
            options.update(hls_time=str(LIVE_SEGMENT_S), hls_list_size=str(LIVE_LIST), hls_flags=flags)
        else:
            options.update(hls_time=str(FILE_SEGMENT_S), hls_list_size="0", hls_playlist_type="vod",
                           hls_flags="independent_segments")  # fmt: skip
        return options

    @property
    def segment_s(self) -> int:
        """The segment length asked for (the encoder puts a keyframe there)."""
        return LIVE_SEGMENT_S if self.plan.live else FILE_SEGMENT_S

    def _mine(self, name: str) -> bool:
        return name.startswith(f"{self.plan.stem}-{self.run}-")

    def _listed(self, playlist: Path, keep_mine: bool = True) -> list[Path]:
        """The segments ``playlist`` lists that have our names (other files are never touched)."""
        try:
            lines = playlist.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        pattern = segment_pattern(self.plan.stem)
        names = [line.strip() for line in lines if pattern.fullmatch(line.strip())]
        return [self.plan.folder / n for n in names if not (keep_mine and self._mine(n))]

    def remove_segments_of(self, playlist: Path) -> None:
        """Remove the segments of another run that ``playlist`` lists."""
        _remove(self._listed(playlist))

    def finish(self, outcome: Outcome) -> None:
        """The end of the muxer: name the playlist (DONE, or ``.partial.m3u8`` for PARTIAL) or remove
        this run's files (FAILED).  A live playlist stays as the muxer left it."""
        plan = self.plan
        if plan.live:
            return
        written = Path(self.url)
        if outcome == Outcome.FAILED:
            try:
                names = os.listdir(plan.folder)  # its segments: the list is written only at the end
            except OSError:
                names = []
            _remove([plan.folder / n for n in names if self._mine(n)] + [written])
            return
        final = plan.playlist if outcome == Outcome.DONE else plan.partial
        old = self._listed(final)
        if outcome == Outcome.DONE and plan.partial.exists():  # an earlier interrupted run's: out of date now
            old += [*self._listed(plan.partial), plan.partial]
        try:
            os.replace(written, final)
        except OSError as exc:
            raise MediaError(f"cannot name the playlist {final}: {exc.strerror or exc}") from None
        _remove(old)  # after the new list is in place: the old one stays whole until then


def _remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except OSError:
            pass


def plan_hls(name: str | os.PathLike[str], live: bool, overwrite: bool, inputs: list[Path] | None = None,
             allow: str = LIBRARY_ALLOW) -> HlsPlan:  # fmt: skip
    """A checked HLS output: UsageError for a missing or unwritable folder, a playlist that is a
    folder, the input itself, or an existing playlist without ``overwrite`` (``allow`` says how)."""
    playlist = Path(name)
    if playlist.is_dir():
        raise UsageError(f"output {playlist} is a folder; name the playlist, e.g. {playlist / 'index.m3u8'}")
    if playlist.name == SUFFIX:
        raise UsageError(f"output {playlist}: give the playlist a name, e.g. index.m3u8")
    check_output(playlist, inputs or [], overwrite, allow)
    if not os.access(playlist.parent, os.W_OK | os.X_OK):
        raise UsageError(f"output folder {playlist.parent} is not writable")
    return HlsPlan(playlist, live)
