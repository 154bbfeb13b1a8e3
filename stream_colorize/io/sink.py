"""The file writer: colour frames in, a file out, every other stream copied untouched.

    >>> with FileSink("out.mp4", source.info, source.copy_streams, EncodeSettings(crf=18)) as sink:
    ...     sink.write(item)                         # a Frame with .output set, or an av.Packet
    ...     sink.commit()                            # or commit(Outcome.PARTIAL): out.partial.mp4

The file is written under a hidden temporary name beside the output and renamed only by
``commit``: ``Outcome.DONE`` gives the final name (claimed atomically, see ``outputs.claim``),
``Outcome.PARTIAL`` a name that says so, ``Outcome.FAILED`` removes it.  Leaving the ``with``
block without a commit (an exception) is ``FAILED``: no half-written file takes a name.
Video keeps the source's timestamps and time base (variable frame rate survives), rotation and
sample aspect ratio.  Audio, subtitle and data packets are muxed as they came (``--audio-codec``
transcodes audio instead).  Streams are created at the first video frame, so a live source's
size is known by then; packets that arrive earlier wait in a small buffer.

A composition of the parts that do the work, each readable on its own:

- ``commit.OutputFile``: the container under its temporary name, the atomic commit, ``Outcome``;
- ``video_encoder.VideoEncoder``: encoder, pixel format and options for the format; frames to packets;
- ``copies``: the plan for the other streams (copy, transcode, rewrap, refuse) and their packets.

The cluster's join, whose video is already encoded, is ``muxer.PacketMuxer``, built from the same parts.
"""

from __future__ import annotations

from pathlib import Path

import av

from ..config import EncodeSettings
from ..errors import MediaError
from ..frames import Frame
from .commit import Outcome, OutputFile, partial_path
from .copies import CopiedStreams, plan_copies
from .info import VideoInfo
from .rehearsal import rehearse
from .video_encoder import VideoEncoder, choose_pix_fmt

# Imported from here by the callers that write files (video, cluster, live recorder, CLI).
__all__ = ["FileSink", "Outcome", "choose_pix_fmt", "partial_path"]


class FileSink:
    """Encode ``Frame.output`` (BGR uint8) and mux copied packets into one output file.

    A context manager: ``commit`` names the result; leaving the block without one removes it.
    """

    def __init__(
        self,
        path: str | Path,
        info: VideoInfo,
        copy_streams: list[av.stream.Stream],
        options: EncodeSettings | None = None,
        overwrite: bool = True,
    ) -> None:
        self.path = Path(path)
        self.info = info
        self.options = options or EncodeSettings()
        self.overwrite = overwrite  # False: never replace a file that appeared while we worked
        self.frames = 0
        self.output = OutputFile(self.path, overwrite)
        self.tmp = self.output.tmp
        self.container = self.output.container
        self.video = VideoEncoder(self.container, self.path, info, self.options, self.output.pictures_only)
        try:
            plan = plan_copies(copy_streams, self.container, self.path.suffix, self.options, self.output.pictures_only)
            unlisted = self.video.check(lenient=not self.output.pictures_only)
            if not self.output.pictures_only:  # the muxer's own answer, before any work
                rehearse(self.container, self.path, info, self.options, plan, self.video.codec, unlisted)
        except BaseException:
            self.commit(Outcome.FAILED)
            raise
        self.copies = CopiedStreams(self.container, plan)
        self._pending: list[av.Packet] = []  # copied packets that came before the first frame

    @property
    def dropped(self) -> int:
        """Packets of copied streams the muxer refused as damaged (and were left out)."""
        return self.copies.dropped

    @property
    def final_path(self) -> Path | None:
        """The name the output took at ``commit`` (None before, or when it failed)."""
        return self.output.final_path

    def write(self, item: Frame | av.Packet) -> None:
        """Encode a finished Frame (its ``output``) or mux a packet of a copied stream."""
        try:
            if isinstance(item, Frame):
                self._write_frame(item)
            elif self.video.stream is None:
                self._pending.append(item)
            else:
                self.copies.write(item)
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise MediaError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def _write_frame(self, frame: Frame) -> None:
        if self.video.stream is None:  # the first frame: its size is the output's
            self.video.open(frame)
            self.copies.open()
            pending, self._pending = self._pending, []
            for packet in pending:
                self.copies.write(packet)
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def _flush(self) -> None:
        if self.video.stream is None:
            return
        for packet in self.video.flush():
            self.container.mux(packet)
        self.copies.flush()

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.commit(Outcome.FAILED)  # a no-op after a commit

    def commit(self, outcome: Outcome = Outcome.DONE) -> Path | None:
        """Finish the file: ``DONE`` renames it to the output, ``PARTIAL`` keeps it as
        ``name.partial.ext``, ``FAILED`` deletes it.  Returns the final path (None if failed);
        MediaError when it cannot be finished (it is deleted then).  Later calls change nothing."""
        return self.output.commit(outcome, self.frames, self._flush)
