"""A writer for video that is already encoded: the cluster's join of its segment files.

    >>> with PacketMuxer(Path("film.mkv"), source.info, source.copy_streams, options) as out:
    ...     out.open_video(template)        # the first segment's video stream: codec, extradata, rotation
    ...     out.write_video(packet)         # a segment's video packet, copied as it is
    ...     out.write(packet)               # a packet of the input's audio, subtitles, data
    ...     out.commit(Outcome.DONE)        # or PARTIAL: film.partial.mkv

The other streams go through the same plan as ``FileSink``'s (copy, ``--audio-codec``
transcoding, text-subtitle rewrapping, timeline repair) and the file through the same
``OutputFile`` (hidden temporary name, atomic claim, removed unless committed).  The video
encoder is not checked here: it ran in the workers, and the job checked it before they started.
"""

from __future__ import annotations

from pathlib import Path

import av

from ..config import EncodeSettings
from ..errors import MediaError
from .commit import Outcome, OutputFile
from .copies import CopiedStreams, plan_copies
from .info import VideoInfo


class PacketMuxer:
    """Mux encoded video packets and the copied streams into one output file.

    A context manager: ``commit`` names the result; leaving the block without one removes it.
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        copy_streams: list[av.stream.Stream],
        options: EncodeSettings,
        overwrite: bool = True,
    ) -> None:
        self.path = path
        self.info = info
        self.frames = 0  # video packets written
        self.output = OutputFile(path, overwrite)
        self.container = self.output.container
        try:
            plan = plan_copies(copy_streams, self.container, path.suffix, options, self.output.pictures_only)
        except BaseException:
            self.commit(Outcome.FAILED)
            raise
        self.copies = CopiedStreams(self.container, plan)
        self.video: av.video.stream.VideoStream | None = None

    @property
    def dropped(self) -> int:
        """Packets of copied streams the muxer refused as damaged (and were left out)."""
        return self.copies.dropped

    def open_video(self, template: av.video.stream.VideoStream) -> None:
        """Add the video stream, copied from ``template`` (codec parameters, extradata, rotation),
        then the copied streams; comes before any write."""
        self.video = self.container.add_stream_from_template(template)
        self.video.time_base = template.time_base
        self.copies.open()

    def write_video(self, packet: av.Packet) -> None:
        """Mux one encoded video packet into the stream made by ``open_video``."""
        assert self.video is not None, "open_video() comes first"
        packet.stream = self.video
        try:
            self.container.mux(packet)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.frames += 1

    def write(self, packet: av.Packet) -> None:
        """Mux a packet of one of the input's other streams."""
        assert self.video is not None, "open_video() comes first"
        try:
            self.copies.write(packet)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def _flush(self) -> None:
        if self.video is not None:
            self.copies.flush()

    def __enter__(self) -> PacketMuxer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.commit(Outcome.FAILED)  # a no-op after a commit

    def commit(self, outcome: Outcome = Outcome.DONE) -> Path | None:
        """Finish the file as ``FileSink.commit`` does; returns the final path (None if failed)."""
        return self.output.commit(outcome, self.frames, self._flush)
