"""The video command keeps every stream, timestamp and property of the input (real files, read back)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from stream_colorize.config import Settings
from stream_colorize.video import colorize_file
from tests.support.media import (
    chroma,
    make_clip,
    make_image,
    packet_hashes,
    probe,
    probe_frame_count,
    video_frames,
    video_pts,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


def run(src: Path, dst: Path, tiny_onnx: Path, **kw) -> object:
    return colorize_file(src, dst, Settings(model=str(tiny_onnx), device="cpu", **kw))


def stream_summary(path: Path) -> list[tuple]:
    return [
        (s["codec_type"], s["codec_name"], s.get("tags", {}).get("language"), s.get("tags", {}).get("title"))
        for s in probe(path)["streams"]
        if s["codec_type"] != "video"
    ]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".webm"])
def test_same_container_keeps_everything(media: Path, tiny_onnx: Path, suffix: str) -> None:
    src = make_clip(media / f"in{suffix}", seconds=1, audio=2 if suffix != ".webm" else 1, subtitles=True)
    dst = media / f"out{suffix}"
    result = run(src, dst, tiny_onnx)
    assert result.output == dst and dst.is_file()
    # frames and timestamps, read back by PyAV and counted by ffprobe
    assert video_pts(dst) == video_pts(src)
    assert probe_frame_count(dst) == probe_frame_count(src) == 25
    # audio packets byte-identical with the same timestamps; languages/titles kept
    assert packet_hashes(dst, "audio") == packet_hashes(src, "audio")
    assert stream_summary(dst) == stream_summary(src)
    # subtitles survive (mp4's mov_text muxer may add empty gap packets: compare the texts)
    src_subs = {h for h in packet_hashes(src, "subtitle")[0]}
    assert src_subs <= set(packet_hashes(dst, "subtitle")[0])
    # duration within one frame
    d_src, d_dst = float(probe(src)["format"]["duration"]), float(probe(dst)["format"]["duration"])
    assert abs(d_src - d_dst) <= 0.04 + 1e-6
    # colour is really there, input was gray
    frames = video_frames(dst, limit=5)
    assert chroma(video_frames(src, limit=1)[0]) < 1.0
    assert min(chroma(f) for f in frames) > 5.0


@pytest.mark.parametrize("suffix", [".avi", ".ts"])
def test_other_containers_keep_frames_and_audio(media: Path, tiny_onnx: Path, suffix: str) -> None:
    src = make_clip(media / f"plain{suffix}", seconds=1)
    dst = media / f"plain_out{suffix}"
    run(src, dst, tiny_onnx)
    assert probe_frame_count(dst) == probe_frame_count(src)
    # these containers may shift the whole file's start (B-frame delay): compare relative times
    pts_src, pts_dst = video_pts(src), video_pts(dst)
    assert [p - pts_src[0] for p in pts_src] == [p - pts_dst[0] for p in pts_dst]
    a_src, a_dst = packet_hashes(src)[0], packet_hashes(dst)[0]
    assert [h for _, h in a_src] == [h for _, h in a_dst]
    assert min(chroma(f) for f in video_frames(dst, limit=3)) > 5.0


def test_vfr_timestamps_survive(media: Path, tiny_onnx: Path) -> None:
    src = make_clip(media / "vfr.mkv", seconds=1, vfr=True)
    dst = media / "vfr_out.mkv"
    run(src, dst, tiny_onnx)
    pts = video_pts(dst)
    assert pts == video_pts(src)
    assert len({b - a for a, b in zip(pts, pts[1:])}) > 2  # really variable


def test_vfr_into_mp4_keeps_times(media: Path, tiny_onnx: Path) -> None:
    src = make_clip(media / "vfr2.mkv", seconds=1, vfr=True)
    dst = media / "vfr2_out.mp4"
    run(src, dst, tiny_onnx, subtitles=False)

    def times(path: Path) -> list[float]:
        with av.open(str(path)) as c:
            return [round(float(f.time), 3) for f in c.decode(video=0)]

    assert times(dst) == times(src)


def test_rotation_sar_and_10bit(media: Path, tiny_onnx: Path) -> None:
    src = make_clip(media / "rot.mov", seconds=0.4, rotation=90, pix_fmt="yuv420p10le")
    dst = media / "rot_out.mov"
    run(src, dst, tiny_onnx)
    stream = [s for s in probe(dst)["streams"] if s["codec_type"] == "video"][0]
    assert stream["pix_fmt"] == "yuv420p10le"
    assert any(sd.get("rotation") == 90 for sd in stream.get("side_data_list", []))
    with av.open(str(dst)) as c:
        assert next(c.decode(video=0)).rotation == 90


def test_odd_size_gray_no_audio(media: Path, tiny_onnx: Path) -> None:
    src = make_clip(media / "odd.mkv", seconds=0.4, size=(161, 121), audio=0, video_codec="ffv1", pix_fmt="gray")
    dst = media / "odd_out.mkv"
    run(src, dst, tiny_onnx)
    frames = video_frames(dst)
    assert len(frames) == 10 and frames[0].shape == (121, 161, 3)
    assert [s["codec_type"] for s in probe(dst)["streams"]] == ["video"]
    assert chroma(frames[0]) > 5.0


def test_audio_transcode_when_asked(media: Path, tiny_onnx: Path) -> None:
    src = make_clip(media / "tx.mp4", seconds=1)
    dst = media / "tx_out.mkv"
    run(src, dst, tiny_onnx, audio_codec="libopus")
    streams = probe(dst)["streams"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert audio and audio[0]["codec_name"] == "opus"
    assert abs(float(probe(dst)["format"]["duration"]) - float(probe(src)["format"]["duration"])) < 0.1


def test_text_subtitles_move_between_containers(media: Path, tiny_onnx: Path) -> None:
    def cues(path: Path) -> list[tuple[float, str]]:
        with av.open(str(path)) as c:
            stream = c.streams.subtitles[0]
            found = []
            for packet in c.demux(stream):
                data = bytes(packet)
                if stream.codec_context.name == "mov_text":
                    data = data[2:]
                if data:
                    found.append((round(float(packet.pts * packet.time_base), 3), data.decode()))
            return found

    mp4 = make_clip(media / "subs.mp4", seconds=1, subtitles=True)
    mkv = media / "subs_out.mkv"
    run(mp4, mkv, tiny_onnx)
    back = media / "subs_back.mp4"
    run(mkv, back, tiny_onnx)
    assert cues(mp4) == cues(mkv) == cues(back) and len(cues(mp4)) == 3
    assert [s["codec_name"] for s in probe(mkv)["streams"] if s["codec_type"] == "subtitle"] == ["subrip"]


def test_transcode_resamples_to_a_rate_the_encoder_takes(media: Path, tiny_onnx: Path) -> None:
    import numpy as np

    src = media / "cd_rate.mkv"
    with av.open(str(src), "w") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("mp2", rate=44100)
        audio.layout = "stereo"
        for i in range(25):
            image = np.full((48, 64), 40 + 4 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="gray").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        samples = (np.sin(np.arange(44100) / 10.0) * 8000).astype(np.int16)
        for start in range(0, 44100, 1152):
            chunk = np.repeat(samples[start : start + 1152][None], 2, 0).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            frame.sample_rate, frame.pts = 44100, start
            out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    dst = media / "cd_rate_out.webm"
    run(src, dst, tiny_onnx, audio_codec="libopus")
    audio_out = [s for s in probe(dst)["streams"] if s["codec_type"] == "audio"]
    assert audio_out[0]["codec_name"] == "opus" and audio_out[0]["sample_rate"] == "48000"


def test_a_still_picture_stream_first_is_not_taken_for_the_film(media: Path, tiny_onnx: Path) -> None:
    cover = make_image(media / "cover.png", size=(64, 48))
    clip = make_clip(media / "film.mkv", seconds=0.4, audio=0, video_codec="ffv1", pix_fmt="gray")
    src = media / "cover_first.nut"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(cover), "-i", str(clip), "-map", "0", "-map", "1",
                    "-c", "copy", str(src)], check=True)  # fmt: skip
    assert [s["codec_name"] for s in probe(src)["streams"]] == ["png", "ffv1"]
    dst = media / "cover_first_out.mkv"
    run(src, dst, tiny_onnx)
    frames = video_frames(dst)
    assert len(frames) == probe_frame_count(clip) == 10 and frames[0].shape[:2] == (120, 160)
    assert chroma(frames[0]) > 5.0


def ffmpeg_clip(path: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25,format=gray",
                    "-t", "0.4", *args, str(path)], check=True)  # fmt: skip
    return path


@pytest.mark.parametrize(("top", "order"), [("1", "tt"), ("0", "bb")])
def test_interlaced_footage_stays_interlaced(media: Path, tiny_onnx: Path, top: str, order: str) -> None:
    src = ffmpeg_clip(media / f"tv{top}.mpg", "-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-top", top)
    assert [s["field_order"] for s in probe(src)["streams"]] == [order]
    dst = media / f"tv{top}_out.mkv"
    run(src, dst, tiny_onnx)
    assert [s.get("field_order") for s in probe(dst)["streams"]] == [order]
    with av.open(str(dst)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 10 and all(f.interlaced_frame for f in frames)
    assert chroma(frames[0].to_ndarray(format="bgr24")) > 5.0


def test_raw_dv_rate_and_length(media: Path, tiny_onnx: Path) -> None:
    # The raw DV demuxer reports its time base (60000) as the average frame rate.
    src = ffmpeg_clip(media / "cam.dv", "-s", "720x576", "-pix_fmt", "yuv420p", "-c:v", "dvvideo")
    dst = media / "cam_out.mp4"
    result = run(src, dst, tiny_onnx)
    assert result.frames == 10 and not result.source.truncated, result.source.note
    (stream,) = probe(dst)["streams"]
    assert stream["avg_frame_rate"] == "25/1" and int(stream["nb_frames"]) == 10
