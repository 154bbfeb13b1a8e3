"""ffmpeg's habits on ``video``: -ss/-to/-t trim, -an/-sn drop streams, -n skips finished
outputs; GIF and image-sequence outputs drop the audio; temperature keeps its long name."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize.errors import UsageError
from stream_colorize.timespec import parse_time
from tests.support.cli import run_main
from tests.support.media import chroma, make_clip, packet_hashes, probe, video_frames


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s at 25 fps with a tone and subtitles."""
    return make_clip(tmp_path_factory.mktemp("habits") / "film.mkv", seconds=4, audio=1, subtitles=True)


def video(capsys, *args: str) -> tuple[int, str]:
    code, _, err = run_main(["video", *args], capsys)
    return code, err


def kinds(path: Path) -> list[str]:
    return [s["codec_type"] for s in probe(path)["streams"]]


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.size]
        return float(sum(p.duration for p in packets) * stream.time_base)


def test_parse_time_takes_ffmpeg_forms() -> None:
    assert parse_time("90") == 90 and parse_time("1.5") == 1.5 and parse_time("250ms") == 0.25
    assert parse_time("01:30") == 90 and parse_time("1:02:03.5") == 3723.5
    for bad in ("-3", "1:75", "soon", "1e3", ""):
        with pytest.raises(UsageError, match="01:30"):
            parse_time(bad)


def test_start_and_duration_trim_video_and_audio(film: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    out = tmp_path / "trim.mkv"
    code, err = video(capsys, str(film), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-ss", "1", "-t", "1.5")
    assert code == 0, err
    frames = video_frames(out)
    assert len(frames) in (37, 38)  # 1.5 s at 25 fps
    source = video_frames(film, fmt="gray")
    first = cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY).astype(np.float32)
    diffs = [float(np.abs(first - s.astype(np.float32)).mean()) for s in source]
    assert int(np.argmin(diffs)) == 25  # the output starts with the frame at 1.0 s
    with av.open(str(out)) as container:
        first_pts = next(container.decode(video=0)).time
    assert first_pts < 0.05  # shifted: the output starts at zero, not after 1 s of nothing
    assert abs(audio_seconds(out) - 1.5) < 0.1


def test_duration_cuts_copied_audio_where_the_video_ends(film: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    """Demuxers read audio ahead of the video; like ffmpeg's -t, the copy ends with the video (within
    one audio packet), not with the last packet read before the last frame."""
    for name, args in (("t.mp4", ("-t", "1")), ("sst.mkv", ("-ss", "0.5", "-t", "1"))):
        out = tmp_path / name
        code, err = video(capsys, str(film), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q", *args)
        assert code == 0, err
        assert len(video_frames(out)) == 25
        assert 0.97 < audio_seconds(out) < 1.03, audio_seconds(out)


def test_to_stops_at_a_time_of_the_input(film: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    out = tmp_path / "to.mp4"
    code, err = video(capsys, str(film), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-to", "00:00:02")
    assert code == 0, err
    assert len(video_frames(out)) == 50


def test_an_and_sn_leave_streams_out(film: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    both = tmp_path / "both.mkv"
    code, err = video(capsys, str(film), str(both), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-t", "0.4")
    assert code == 0, err
    assert sorted(kinds(both)) == ["audio", "subtitle", "video"]
    bare = tmp_path / "bare.mkv"
    code, err = video(capsys, str(film), str(bare), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-an", "-sn", "-t", "0.4")
    assert code == 0, err
    assert kinds(bare) == ["video"]
    none = tmp_path / "none.mkv"
    code, err = video(capsys, str(film), str(none), "-m", str(tiny_onnx), "-d", "cpu", "-q", "--audio-codec", "none")
    assert code == 0, err
    assert sorted(kinds(none)) == ["subtitle", "video"]


def test_gif_and_image_sequence_drop_audio(film: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    gif = tmp_path / "clip.gif"
    code, err = video(capsys, str(film), str(gif), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-t", "0.4")
    assert code == 0, err
    assert "sound" in err and "left out" in err
    frames = video_frames(gif)
    assert len(frames) == 10 and chroma(frames[-1]) > 3.0
    folder = tmp_path / "frames"
    folder.mkdir()
    pattern = folder / "f_%03d.png"
    code, err = video(capsys, str(film), str(pattern), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-t", "0.4")
    assert code == 0, err
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"f_{i:03d}.png" for i in range(1, 11)]
    picture = cv2.imread(str(folder / "f_005.png"))
    assert picture.shape == (120, 160, 3) and chroma(picture) > 3.0
    code, err = video(capsys, str(film), str(pattern), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-t", "0.4")
    assert code != 0 and "-y" in err  # pictures there: refused without -y
    again = folder / "g_%03d.png"
    code, err = video(capsys, str(film), str(again), "-m", str(tiny_onnx), "-d", "cpu", "-t", "0.4")
    total = sum(p.stat().st_size for p in folder.glob("g_*.png"))
    assert code == 0 and f"(10 pictures, {total / 1000:.1f} kB)" in err, err  # the pictures' size, not 0 B


def test_n_skips_outputs_that_exist(film: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = tmp_path / "reels"
    src.mkdir()
    (src / "a.mkv").write_bytes(film.read_bytes())
    make_clip(src / "b.mp4", seconds=0.4, audio=0)
    out = tmp_path / "new" / "colour"  # created, as image -o does
    code, err = video(capsys, str(src), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-t", "0.4")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "b.mp4"]
    done = (out / "a.mkv").stat().st_mtime_ns
    (out / "b.mp4").unlink()
    code, err = video(capsys, str(src), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-n", "-t", "0.4")
    assert code == 0, err
    assert "skipped" in err and "a.mkv" in err
    assert (out / "a.mkv").stat().st_mtime_ns == done and len(video_frames(out / "b.mp4")) == 10
    code, err = video(capsys, str(src), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q")
    assert code != 0 and "-y" in err  # without -n or -y an existing output is refused


def test_temperature_has_a_long_name_and_T(film: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    warm = tmp_path / "warm.mp4"
    code, err = video(capsys, str(film), str(warm), "-m", str(tiny_onnx), "-d", "cpu", "-q", "-T", "0.9", "-t", "0.2")
    assert code == 0, err
    cold = tmp_path / "cold.mp4"
    code, err = video(capsys, str(film), str(cold), "-m", str(tiny_onnx), "-d", "cpu", "-q", "--temperature", "0.05",
                      "-t", "0.2")  # fmt: skip
    assert code == 0, err
    assert len(video_frames(warm)) == len(video_frames(cold)) == 5  # -t is the duration now
    assert packet_hashes(warm, "video") != packet_hashes(cold, "video")


def test_progress_total_from_duration_and_rate_honours_trimming(film: Path) -> None:
    from stream_colorize.config import Settings
    from stream_colorize.io.source import MediaSource
    from stream_colorize.video import expected_frames

    with MediaSource(film) as source:  # Matroska: no frame count in the header
        assert source.info.frames == 0
        assert expected_frames(source, Settings()) == len(video_frames(film)) == 100
        assert expected_frames(source, Settings(duration=1.5)) == 38  # 37.5 rounds up, as the run does
        assert expected_frames(source, Settings(start=1.0, end=3.0)) == 50
        assert expected_frames(source, Settings(start=3.0, duration=5.0)) == 25


@pytest.mark.parametrize("codec", ["libx265", "libsvtav1"])
def test_no_encoder_banners(codec: str, film: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    import os
    import subprocess
    import sys

    out = tmp_path / "o.mkv"
    cmd = [sys.executable, "-m", "stream_colorize", "video", str(film), str(out), "-m", str(tiny_onnx), "-q",
           "--codec", codec, "-t", "0.2"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    env.pop("SVT_LOG", None)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [next(iter(done.stderr.strip().splitlines()))]  # one line
    assert done.stderr.startswith("5 frames") and "[info]" not in done.stderr
    assert len(video_frames(out)) == 5
