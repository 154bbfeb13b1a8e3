"""One frame-reading protocol: a live PyAV reader, OpenCV and the file pipeline's source agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stream_colorize.frames import Frame
from stream_colorize.io.decoder import CodecParams, EncodedVideo, raw_packets
from stream_colorize.io.devices import OpenCall
from stream_colorize.io.packets import packet_ranges
from stream_colorize.io.source import MediaSource
from stream_colorize.io.stream import VideoStream, open_video
from tests.support.media import make_clip


def read_all(stream: VideoStream) -> list[Frame]:
    try:
        return list(stream.frames())
    finally:
        stream.close()


def test_every_backend_reads_the_same_frames(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=0.6, size=(96, 64), gray=True)
    pyav = read_all(open_video(OpenCall(str(clip)), timeout=(5.0, 5.0)))
    with MediaSource(clip) as source:
        assert source.fps == 25.0
        piped = read_all(source)
    opencv = read_all(open_video(OpenCall(str(clip), backend="opencv")))
    assert len(pyav) == len(piped) == len(opencv) == 15
    assert [f.index for f in pyav] == list(range(15)) == [f.index for f in opencv]
    assert [f.pts for f in pyav] == [f.pts for f in piped]  # same timestamps, same time base
    for a, b, c in zip(pyav, piped, opencv):
        assert a.image.shape == b.image.shape == c.image.shape == (64, 96) and a.image.dtype == np.uint8
        assert np.array_equal(a.image, b.image)  # one gray decode
        assert np.abs(a.image.astype(int) - c.image.astype(int)).mean() < 3.0  # OpenCV: gray from its BGR


def test_color_is_asked_frame_by_frame(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=0.4, size=(96, 64), gray=False)
    wanted = iter([False, True] * 10)
    frames = read_all(open_video(OpenCall(str(clip)), timeout=(5.0, 5.0), color=lambda: next(wanted)))
    assert [f.image.ndim for f in frames[:4]] == [2, 3, 2, 3]


def test_packets_without_their_file_decode_as_the_file_does(tmp_path: Path) -> None:
    """A cluster worker's reader (compressed packets + codec parameters) gives the file's frames."""
    clip = make_clip(tmp_path / "c.mp4", seconds=0.6, size=(96, 64), gray=True)
    with open_video(clip) as source:
        (packets,) = packet_ranges(source, [(0, 1_000)])  # the whole (shorter) video
        video = EncodedVideo(CodecParams.of(source.video), raw_packets(packets), source.info.rate)
    with open_video(clip) as source:
        from_file = list(source.frames())
    stream = open_video(video)
    from_packets = read_all(stream)
    assert len(from_packets) == len(from_file) == 15 and stream.fps == 25.0
    assert [f.pts for f in from_packets] == [f.pts for f in from_file]
    assert [f.index for f in from_packets] == list(range(15))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(from_packets, from_file))
    assert (stream.stats.frames, stream.stats.corrupt, stream.stats.damaged) == (15, 0, 0)
