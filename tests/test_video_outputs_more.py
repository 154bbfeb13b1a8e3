"""``video`` outputs a new user tried: offset transport streams, -ss on intact files, FLAC audio,
encoders with their own pixel formats, containers with their own rules (Ogg, MPEG-PS, MOV, TS),
odd sizes, audio-only and single-picture names, time text in presets, image sequences with -y,
and giving up (a third Ctrl-C, Ctrl-C during onnxruntime's import)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from stream_colorize.config import EncodeSettings, InputSettings
from stream_colorize.frames import Frame
from stream_colorize.io.sink import FileSink, Outcome
from stream_colorize.io.source import MediaSource
from stream_colorize.io.trim import Trim
from stream_colorize.signals import Interrupted
from tests.support.cli import run_main
from tests.support.media import make_clip, probe, video_frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s, 25 fps, a tone (AAC in MP4), keyframe every 10 frames."""
    return make_clip(tmp_path_factory.mktemp("more") / "clip.mp4", seconds=1, audio=1, gop=10)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def video(capsys: pytest.CaptureFixture, tiny: Path, *args: str) -> tuple[int, str]:
    code, _, err = run_main(["video", *args, "-m", str(tiny), "-d", "cpu", "-q"], capsys)
    return code, err


def refused(code: int, err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("stream-colorize: error:"), err
    for word in words:
        assert word in lines[0], err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# 1. a transport stream whose clock starts at an hour
def test_transport_stream_offset_starts_at_zero(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = tmp_path / "ts3600.ts"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
           "-c:v", "mpeg2video", "-c:a", "mp2", "-output_ts_offset", "3600", str(src))  # fmt: skip
    out = tmp_path / "o.mp4"
    code, err = video(capsys, tiny_onnx, str(src), str(out))
    assert code == 0, err
    info = probe(out)
    starts = {s["codec_type"]: float(s["start_time"]) for s in info["streams"]}
    assert 0 <= starts["video"] < 0.1 and 0 <= starts["audio"] < 0.1  # not 3601.4
    src_starts = {s["codec_type"]: float(s["start_time"]) for s in probe(src)["streams"]}
    # audio and video keep their offset to each other
    assert abs((starts["video"] - starts["audio"]) - (src_starts["video"] - src_starts["audio"])) < 0.01
    assert float(info["format"]["duration"]) < 2.2  # not 3601 s
    assert len(video_frames(out)) == 50
    # -ss on it: seeks land before the point asked (MPEG-TS's search lands after it), all frames kept
    cut = tmp_path / "cut.mkv"
    code, err = video(capsys, tiny_onnx, str(src), str(cut), "-ss", "0.5")
    assert code == 0, err
    assert len(video_frames(cut)) in (37, 38) and "undecodable" not in err
    assert float(probe(cut)["format"]["start_time"]) < 0.1
    # a segmented run (long films take this path) starts at zero too, audio in step
    joined = tmp_path / "joined.mp4"
    code, err = video(capsys, tiny_onnx, str(src), str(joined), "--workers", "2", "--segment-seconds", "1")
    assert code == 0, err
    info = probe(joined)
    starts = {s["codec_type"]: float(s["start_time"]) for s in info["streams"]}
    assert 0 <= starts["video"] < 0.1 and 0 <= starts["audio"] < 0.1 and float(info["format"]["duration"]) < 2.2
    assert len(video_frames(joined)) == 50


# 2. -ss on an intact file is no damage
def test_start_on_intact_file_reports_no_damage(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    with MediaSource(clip, trim=Trim(0.52)) as source:
        frames = list(source.frames())
    assert len(frames) == 12 and source.stats.corrupt == 0 and source.stats.before_start > 0
    code, err = video(capsys, tiny_onnx, str(clip), str(tmp_path / "ss.mp4"), "-ss", "0.52")
    assert code == 0 and "undecodable" not in err and "damaged" not in err, err


# 3. FLAC audio
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_flac_audio_codec_finishes(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys, suffix: str) -> None:
    out = tmp_path / f"flac{suffix}"
    code, err = video(capsys, tiny_onnx, str(clip), str(out), "--audio-codec", "flac")
    assert code == 0, err
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "flac"
        samples = sum(f.samples for f in container.decode(audio))
    assert abs(samples / 48000 - 1.0) < 0.1
    assert len(video_frames(out)) == 25


def test_flac_into_mov_is_refused_before_any_work(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    code, err = video(capsys, tiny_onnx, str(clip), str(tmp_path / "f.mov"), "--audio-codec", "flac")
    refused(code, err, "flac", ".mov")
    assert leftovers(tmp_path) == []


# 4. encoders with pixel formats of their own
@pytest.mark.parametrize(
    ("codec", "suffix", "formats"),
    [("mjpeg", ".mkv", ("yuvj420p",)), ("prores_ks", ".mov", ("yuv422p10le", "yuv444p10le")),
     ("png", ".mov", ("rgb24",)), ("gif", ".mov", ("bgra", "pal8"))],
)  # fmt: skip
def test_picture_encoders_get_a_colour_pixel_format(
    clip: Path, tmp_path: Path, tiny_onnx: Path, capsys, codec: str, suffix: str, formats: tuple[str, ...]
) -> None:
    out = tmp_path / f"c{suffix}"
    code, err = video(capsys, tiny_onnx, str(clip), str(out), "--codec", codec, "-t", "0.2", "-an")
    assert code == 0, err
    stream = next(s for s in probe(out)["streams"] if s["codec_type"] == "video")
    assert stream["pix_fmt"] in formats
    frames = video_frames(out)
    assert len(frames) == 5 and frames[0].shape == (120, 160, 3)


# 5. containers with their own rules
def test_ogv_and_mpg_transcode_audio_to_what_they_hold(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    for suffix, vcodec, acodec in ((".ogv", "vp8", "opus"), (".mpg", "h264", "mp2")):
        out = tmp_path / f"o{suffix}"
        code, err = video(capsys, tiny_onnx, str(clip), str(out), "-t", "0.4")
        assert code == 0, err
        assert "transcoded to" in err
        codecs = {s["codec_type"]: s["codec_name"] for s in probe(out)["streams"]}
        assert codecs == {"video": vcodec, "audio": acodec}
        assert len(video_frames(out)) == 10


def test_folder_of_ogv_films(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    reels = tmp_path / "reels"
    reels.mkdir()
    ffmpeg("-i", str(clip), "-t", "0.4", "-c:v", "libvpx", "-c:a", "libopus", str(reels / "a.ogv"))
    code, err = video(capsys, tiny_onnx, str(reels), str(tmp_path / "out"))
    assert code == 0, err
    assert len(video_frames(tmp_path / "out" / "a.ogv")) == 10


def test_mpeg2video_takes_its_own_time_base(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    out = tmp_path / "m2.mkv"
    code, err = video(capsys, tiny_onnx, str(clip), str(out), "--codec", "mpeg2video", "-an", "-t", "0.4")
    assert code == 0, err
    assert len(video_frames(out)) == 10


@pytest.mark.parametrize(
    ("name", "args", "words"),
    [("s.png", (), ("one picture", "f_%05d.png")), ("s.jpg", (), ("one picture",)),
     ("v.mov", ("--codec", "libvpx"), ("libvpx", "VP8")), ("a.mov", ("--codec", "libsvtav1"), ("libsvtav1", "av1")),
     ("f/f_%%d.png", (), ("numbered", "%d")), ("aud.mka", (), ("must hold video",)),
     ("aud.wav", (), ("must hold video",)), ("x.xyz", (), ("x.xyz", "unknown output format")),
     ("noext", (), ("no suffix",))],
)  # fmt: skip
def test_outputs_that_cannot_work_are_one_line_before_any_work(
    clip: Path, tmp_path: Path, tiny_onnx: Path, capsys, name: str, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    (tmp_path / "f").mkdir()
    code, err = video(capsys, tiny_onnx, str(clip), str(tmp_path / name), *args)
    refused(code, err, *words)
    if name == "x.xyz":
        assert str(tmp_path / name) in err  # the path as given
    assert leftovers(tmp_path) == ["f"] and leftovers(tmp_path / "f") == []


def test_a_recording_named_as_a_folder_is_one_line(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    (tmp_path / "rec").mkdir()
    for extra in ((), ("-y",)):
        code, _, err = run_main(["live", str(clip), "--headless", "--record", str(tmp_path / "rec"), *extra,
                                 "-m", str(tiny_onnx), "-d", "cpu"], capsys)  # fmt: skip
        refused(code, err, "is a folder")
        assert "-y" not in err
    assert leftovers(tmp_path / "rec") == []
    # camera options given to a file source are said to be ignored, not silently dropped
    code, _, err = run_main(["live", str(clip), "--headless", "--duration", "0.2", "--camera-size", "640x480",
                             "-m", str(tiny_onnx), "-d", "cpu"], capsys)  # fmt: skip
    assert code == 0 and "--camera-size" in err and "ignored" in err, err


# 6. odd sizes and 4:2:0
def test_odd_size_with_420_is_one_line(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = tmp_path / "odd.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=161x121:rate=25:duration=0.2", "-c:v", "ffv1", "-pix_fmt", "yuv420p",
           str(src))  # fmt: skip
    for args, word in ((("--pix-fmt", "yuv420p"), "--pix-fmt yuv444p"), (("--codec", "mpeg4"), "--codec")):
        code, err = video(capsys, tiny_onnx, str(src), str(tmp_path / "o.mp4"), *args)
        refused(code, err, "4:2:0", "even width and height", "161x121", word)
    assert leftovers(tmp_path) == ["odd.mkv"]
    code, err = video(capsys, tiny_onnx, str(src), str(tmp_path / "auto.mp4"))
    assert code == 0, err
    assert video_frames(tmp_path / "auto.mp4")[0].shape == (121, 161, 3)


# 7. text subtitles into MPEG-TS
def test_text_subtitles_into_ts_are_refused(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = make_clip(tmp_path / "subs.mkv", seconds=0.4, audio=1, subtitles=True)
    code, err = video(capsys, tiny_onnx, str(src), str(tmp_path / "o.ts"))
    refused(code, err, "--no-subtitles", "cannot hold")
    code, err = video(capsys, tiny_onnx, str(src), str(tmp_path / "o.ts"), "--no-subtitles")
    assert code == 0, err
    assert sorted(s["codec_type"] for s in probe(tmp_path / "o.ts")["streams"]) == ["audio", "video"]


# 10. times in a preset
def test_preset_times_take_ffmpeg_text(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('[input]\nstart = "0.4"\nduration = "00:00:00.2"\n')
    out = tmp_path / "o.mp4"
    code, err = video(capsys, tiny_onnx, str(clip), str(out), "-c", str(preset))
    assert code == 0, err
    assert len(video_frames(out)) == 5
    assert InputSettings(start="01:30").start == 90.0  # type: ignore[arg-type]
    preset.write_text('[input]\nstart = "soon"\n')
    code, err = video(capsys, tiny_onnx, str(clip), str(tmp_path / "p.mp4"), "-c", str(preset))
    refused(code, err, "start", "01:30")


# 11. image sequences replaced with -y
def test_overwritten_sequence_names_older_pictures_and_deletes_none(
    clip: Path, tmp_path: Path, tiny_onnx: Path, capsys
) -> None:
    folder = tmp_path / "fr"
    folder.mkdir()
    pattern = str(folder / "f_%03d.png")
    code, err = video(capsys, tiny_onnx, str(clip), pattern, "-t", "0.4")
    assert code == 0 and len(leftovers(folder)) == 10, err
    (folder / "f_0999.png").write_bytes(b"not ours")  # not the pattern's own spelling of 999
    (folder / "keep.png").write_bytes(b"not ours")
    code, err = video(capsys, tiny_onnx, str(clip), pattern, "-t", "0.2", "-y")
    assert code == 0, err
    # never deletes what this run did not write: the longer run's pictures 6-10 stay, and a note says so
    assert leftovers(folder) == sorted([f"f_{n:03d}.png" for n in range(1, 11)] + ["f_0999.png", "keep.png"])
    assert "5 older picture(s)" in err and "f_006.png" in err and "f_0999" not in err


# 12. a third Ctrl-C while finishing
def test_giving_up_while_finishing_leaves_no_temp_file(clip: Path, tmp_path: Path) -> None:
    with MediaSource(clip) as source:
        sink = FileSink(tmp_path / "o.mkv", source.info, [], EncodeSettings())
        picture = np.zeros((120, 160, 3), np.uint8)
        for i in range(3):
            sink.write(Frame(i, picture[..., 0], i * 512, source.info.time_base, output=picture))

        flush = sink.video.flush

        def abandon() -> Iterator[av.Packet]:  # the third Ctrl-C lands once the file has been opened
            yield next(flush())
            raise KeyboardInterrupt

        sink.video.flush = abandon  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            sink.commit(Outcome.PARTIAL)
    assert leftovers(tmp_path) == []


# 8. Ctrl-C while onnxruntime is imported
def test_interrupt_during_onnxruntime_import_is_an_interruption(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    from stream_colorize.backends import ort

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "onnxruntime":  # what the native module does with a signal raised while it loads
            try:
                raise Interrupted(signal.SIGTERM)
            except Interrupted:
                raise ImportError("initialization failed")  # noqa: B904 - as onnxruntime does
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(Interrupted):
        ort.import_onnxruntime()
