"""The writers' parts on their own: the cluster join's ``PacketMuxer`` (already-encoded video,
copied streams, the shared commit) and ``OutputFile``'s commit outcomes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import pytest

from stream_colorize.config import EncodeSettings
from stream_colorize.errors import MediaError
from stream_colorize.io.commit import Outcome, OutputFile, partial_path
from stream_colorize.io.muxer import PacketMuxer
from stream_colorize.io.source import MediaSource
from tests.support.media import make_clip, packet_hashes


def _video_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.sha1(bytes(p)).hexdigest() for p in container.demux(video=0) if p.size]


def _remux(src: Path, dst: Path, outcome: Outcome | None) -> PacketMuxer:
    """Write ``src``'s video packets and its audio through a PacketMuxer into ``dst``."""
    with MediaSource(src) as source, av.open(str(src)) as segment:
        template = segment.streams.video[0]
        with PacketMuxer(dst, source.info, source.copy_streams, EncodeSettings()) as muxer:
            muxer.open_video(template)
            for packet in segment.demux(template):
                if packet.size:
                    muxer.write_video(packet)
            for packet in source.container.demux(source.copy_streams):
                if packet.size and packet.dts is not None:
                    muxer.write(packet)
            if outcome is not None:
                muxer.commit(outcome)
    return muxer


def test_packet_muxer_copies_video_and_audio_packets_unchanged(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", seconds=1.0, audio=1)
    muxer = _remux(src, tmp_path / "out.mkv", Outcome.DONE)
    out = tmp_path / "out.mkv"
    assert muxer.output.final_path == out and muxer.frames == 25
    assert _video_hashes(out) == _video_hashes(src)
    assert [h for _, h in packet_hashes(out)[0]] == [h for _, h in packet_hashes(src)[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mkv"]  # no temporary file left


def test_packet_muxer_left_without_commit_leaves_nothing(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", seconds=0.5, audio=1)
    _remux(src, tmp_path / "out.mp4", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_packet_muxer_partial_takes_the_partial_name(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", seconds=0.5, audio=0)
    _remux(src, tmp_path / "out.mp4", Outcome.PARTIAL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.partial.mp4"]
    assert _video_hashes(tmp_path / "out.partial.mp4") == _video_hashes(src)


def test_output_file_without_frames_is_refused_and_removed(tmp_path: Path) -> None:
    out = OutputFile(tmp_path / "out.mp4")
    with pytest.raises(MediaError, match="no video frame"):
        out.commit(Outcome.DONE, 0, lambda: None)
    assert list(tmp_path.iterdir()) == [] and out.final_path is None
    assert out.commit(Outcome.DONE, 1, lambda: None) is None  # a second commit changes nothing


def test_partial_path_keeps_the_suffix() -> None:
    assert partial_path(Path("a/film.mkv")) == Path("a/film.partial.mkv")
