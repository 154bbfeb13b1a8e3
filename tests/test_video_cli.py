"""``stream-colorize video`` as a user runs it: options, folders, presets, bad inputs, Ctrl-C."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream_colorize.cli import main
from tests.support.media import (
    chroma,
    corrupt,
    make_audio_only,
    make_clip,
    make_image,
    probe_frame_count,
    truncate,
    video_frames,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli_media")


@pytest.fixture(scope="module")
def clip(media: Path) -> Path:
    return make_clip(media / "clip.mp4", seconds=1, audio=1)


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """Run the CLI in-process; return (exit code, stderr)."""
    try:
        main(["video", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name or ".partial" in p.name)


def test_video_command_writes_color_and_summary(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    out = tmp_path / "out.mkv"
    code, err = cli(capsys, str(clip), str(out), "--model", str(tiny_onnx), "--device", "cpu", "--skip", "2", "-q")
    assert code == 0, err
    assert "25 frames" in err and "model on 13, reused on 12" in err and "out.mkv" in err
    assert probe_frame_count(out) == 25
    assert min(chroma(f) for f in video_frames(out, limit=4)) > 5.0
    assert leftovers(tmp_path) == []


def test_folder_to_folder_with_preset(media: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mkv", seconds=0.4)
    make_clip(src / "b.mp4", seconds=0.4, audio=0)
    (src / "notes.txt").write_text("not a video")
    dst = tmp_path / "out"
    dst.mkdir()
    code, err = cli(capsys, str(src), str(dst), "--model", str(tiny_onnx), "-d", "cpu", "--config", "fast", "-q")
    assert code == 0, err
    assert sorted(p.name for p in dst.iterdir()) == ["a.mkv", "b.mp4"]
    assert "model on 5, reused on 5" in err  # fast.toml: skip = 2
    assert probe_frame_count(dst / "b.mp4") == 10


def test_config_file_and_flag_override(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    cfg = tmp_path / "mine.toml"
    cfg.write_text('skip = 5\ncrf = 30\npreset = "ultrafast"\n')
    out = tmp_path / "o.mp4"
    code, err = cli(capsys, str(clip), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-c", str(cfg), "--skip", "3", "-q")
    assert code == 0, err
    assert "model on 9, reused on 16" in err  # the flag beats the file
    bad = tmp_path / "bad.toml"
    bad.write_text("skipp = 2\n")
    code, err = cli(capsys, str(clip), str(tmp_path / "o2.mp4"), "-c", str(bad))
    assert code == 1 and "unknown key 'skipp'" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "case, expect",
    [
        ("missing", "input not found"),
        ("audio_only", "no video stream"),
        ("image", "still image"),
        ("same", "is the input itself"),
        ("no_folder", "does not exist"),
        ("exists", "already exists"),
        ("garbage", "not a media file"),
        ("bad_suffix", "unknown output format"),
        ("subs_wont_fit", "cannot hold"),
    ],
)
def test_bad_input_one_line(case: str, expect: str, media: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    clip = make_clip(tmp_path / ("c.mkv" if case == "subs_wont_fit" else "c.mp4"), seconds=0.2, subtitles=True)
    src, out = clip, tmp_path / "out.mp4"
    if case == "missing":
        src = tmp_path / "nope.mp4"
    elif case == "audio_only":
        src = make_audio_only(tmp_path / "a.m4a")
    elif case == "image":
        src = make_image(tmp_path / "i.png")
    elif case == "same":
        out = clip
    elif case == "no_folder":
        out = tmp_path / "missing" / "o.mp4"
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "garbage":
        src = tmp_path / "g.mp4"
        src.write_bytes(os.urandom(5000))
    elif case == "bad_suffix":
        out = tmp_path / "o.qqq"
    elif case == "subs_wont_fit":
        out = tmp_path / "o.avi"
    before = {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()}
    code, err = cli(capsys, str(src), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q")
    assert code == 1
    assert expect in err and err.count("\n") == 1 and "Traceback" not in err
    after = {p.name: digest(p) for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # inputs untouched, nothing new (no half-written output)


def test_truncated_input_finishes_and_says_so(media: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    full = make_clip(media / "long.mkv", seconds=2)
    cut = truncate(full, tmp_path / "cut.mkv", 0.5)
    out = tmp_path / "out.mkv"
    code, err = cli(capsys, str(cut), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q")
    assert code == 0, err
    assert "ends early" in err or "stopped early" in err
    n = probe_frame_count(out)
    assert 0 < n < 50


def test_corrupt_packets_are_skipped_and_counted(media: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    full = make_clip(media / "for_corrupt.ts", seconds=2, size=(320, 240))
    bad = corrupt(full, tmp_path / "bad.ts", at=0.4, length=3000)
    out = tmp_path / "out.mp4"
    code, err = cli(capsys, str(bad), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q")
    assert code == 0, err
    written = probe_frame_count(out)
    assert 30 < written < 50
    # the demuxer may drop a damaged packet whole; what reaches the decoder is counted and reported
    assert "frames decoded from damaged data" in err or "undecodable video packets skipped" in err


@pytest.mark.slow
def test_sigint_leaves_playable_partial(media: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    src = make_clip(media / "sigint.mkv", seconds=40, size=(320, 240), rate=25)
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "stream_colorize", "video", str(src), str(out), "-m", str(tiny_onnx)]
    cmd += ["-d", "cpu", "--preset", "slow"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until frames are being written
        tmp = [p for p in tmp_path.iterdir() if ".tmp" in p.name]
        if tmp and tmp[0].stat().st_size > 20_000:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=30)[1]
    assert proc.returncode == 130, err
    partial = tmp_path / "out.partial.mp4"
    assert not out.exists() and partial.is_file()
    assert "partial" in err and str(partial) in err
    n = probe_frame_count(partial)
    assert 0 < n < 1000
    assert leftovers(tmp_path) == ["out.partial.mp4"]


def test_duration_limits_a_file(clip: Path, tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    out = tmp_path / "short.mp4"
    code, err = cli(capsys, str(clip), str(out), "-m", str(tiny_onnx), "-d", "cpu", "--duration", "0.4", "-q")
    assert code == 0, err
    assert probe_frame_count(out) == 10


@pytest.mark.rtsp
@pytest.mark.slow
def test_rtsp_url_with_duration(tmp_path: Path, tiny_onnx: Path) -> None:
    from tests.support.live import RtspServer, rtsp_server_missing

    reason = rtsp_server_missing()
    if reason:
        pytest.skip(reason)
    served = make_clip(tmp_path / "served.mp4", seconds=4, size=(320, 240), audio=0)
    out = tmp_path / "rec.mkv"
    with RtspServer(file=served) as server:
        cmd = [sys.executable, "-m", "stream_colorize", "video", server.url, str(out), "-m", str(tiny_onnx)]
        done = subprocess.run([*cmd, "-d", "cpu", "--duration", "2"], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    frames = video_frames(out)
    assert 40 <= len(frames) <= 55  # 2 s at 25 fps, give or take the stream's start
    assert chroma(frames[-1]) > 5.0


def test_animated_gif_is_footage(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    import av
    import numpy as np

    gif = tmp_path / "clip.gif"
    with av.open(str(gif), "w") as out:
        stream = out.add_stream("gif", rate=10)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "rgb8"
        for i in range(6):
            image = np.repeat(np.full((32, 48, 1), 30 + 30 * i, np.uint8), 3, axis=2)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="rgb8")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    dst = tmp_path / "gif.mp4"
    code, err = cli(capsys, str(gif), str(dst), "--model", str(tiny_onnx), "--device", "cpu", "-q")
    assert code == 0, err
    frames = video_frames(dst)
    assert len(frames) == 6 and chroma(frames[-1]) > 3.0
