"""Unit tests of the live parts that need no server or display: device specs per OS (the exact
PyAV open call, nothing opened), the leaky queue, the skip controller, overlay and snapshots."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from stream_colorize.errors import MediaError, UsageError
from stream_colorize.io.devices import OpenCall, camera_call, parse_source, redact_url
from stream_colorize.io.window import KEY_ACTIONS, display_problem, draw_overlay, save_snapshot, side_by_side
from stream_colorize.live_stats import AutoSkip, LiveStats
from stream_colorize.threads import LeakyQueue


# -- device specs -> av.open arguments --------------------------------------------------------
@pytest.mark.parametrize(
    ("platform", "source", "expected"),
    [
        ("linux", "0", OpenCall("/dev/video0", "v4l2", {})),
        ("linux", "2", OpenCall("/dev/video2", "v4l2", {})),
        ("linux", "/dev/video5", OpenCall("/dev/video5", "v4l2", {})),
        ("darwin", "0", OpenCall("0:none", "avfoundation", {"framerate": "30"})),
        (
            "darwin",
            "avfoundation:FaceTime HD Camera",
            OpenCall("FaceTime HD Camera", "avfoundation", {"framerate": "30"}),
        ),
        ("win32", "dshow:USB Camera", OpenCall("video=USB Camera", "dshow", {})),
        ("win32", "dshow:video=Integrated Webcam", OpenCall("video=Integrated Webcam", "dshow", {})),
        ("win32", "1", OpenCall("1", None, {}, backend="opencv")),
    ],
)
def test_camera_specs_become_the_right_open_call(platform: str, source: str, expected: OpenCall) -> None:
    spec = parse_source(source, platform=platform)
    assert spec.kind == "camera" and spec.live
    assert spec.call == expected


def test_default_source_is_the_first_camera_and_falls_back_to_opencv() -> None:
    spec = parse_source(None, platform="linux")
    assert spec.call == OpenCall("/dev/video0", "v4l2", {})
    assert spec.fallback == OpenCall("0", backend="opencv")
    assert parse_source("", platform="darwin").call.file == "0:none"


def test_camera_size_and_rate_become_demuxer_options() -> None:
    call, _ = camera_call(0, "linux", size="1280x720", fps=15)
    assert call.options == {"video_size": "1280x720", "framerate": "15"}
    call, _ = camera_call("Cam", "win32", size="640x480", fps=29.97)
    assert (call.file, call.format, call.options) == (
        "video=Cam",
        "dshow",
        {"video_size": "640x480", "framerate": "29.97"},
    )
    with pytest.raises(UsageError, match="1280x720"):
        camera_call(0, "linux", size="big")


def test_network_urls_use_tcp_by_default_and_udp_on_request() -> None:
    spec = parse_source("rtsp://user:secret@10.0.0.5:554/stream1")
    assert spec.kind == "network" and spec.live
    assert spec.call.format is None and spec.call.file == "rtsp://user:secret@10.0.0.5:554/stream1"
    assert spec.call.options["rtsp_transport"] == "tcp"
    assert parse_source("rtsp://h/s", rtsp_transport="udp").call.options["rtsp_transport"] == "udp"
    assert "rtsp_transport" not in parse_source("http://h/live.m3u8").call.options
    for url in ("rtmp://h/app/key", "https://h/x.mp4", "udp://@:1234", "srt://h:9000"):
        assert parse_source(url).kind == "network"
    assert "secret" not in spec.display_name and "***" in spec.display_name
    assert redact_url("rtsp://h:554/x") == "rtsp://h:554/x"


def test_lavfi_and_files(tmp_path) -> None:
    spec = parse_source("lavfi:testsrc2=size=640x480:rate=30")
    assert (spec.kind, spec.call.file, spec.call.format, spec.live) == (
        "lavfi",
        "testsrc2=size=640x480:rate=30",
        "lavfi",
        False,
    )
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    assert parse_source(str(clip)).kind == "file"
    with pytest.raises(MediaError, match="source not found"):
        parse_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(UsageError, match="scheme"):
        parse_source("gopher://h/x")
    with pytest.raises(UsageError, match="lavfi"):
        parse_source("lavfi:")


# -- leaky queue -------------------------------------------------------------------------------
def test_leaky_queue_drops_the_oldest_and_never_blocks() -> None:
    queue: LeakyQueue[int] = LeakyQueue(2)
    for i in range(5):
        queue.put(i)
    assert queue.dropped == 3 and len(queue) == 2
    assert [queue.get(0), queue.get(0), queue.get(0)] == [3, 4, None]


def test_leaky_queue_wakes_a_waiting_consumer() -> None:
    queue: LeakyQueue[str] = LeakyQueue(1)
    got: list[str | None] = []
    consumer = threading.Thread(target=lambda: got.append(queue.get(timeout=10)))
    consumer.start()
    queue.put("frame")
    consumer.join(10)
    assert got == ["frame"]


# -- skip controller ---------------------------------------------------------------------------
def test_auto_skip_follows_model_time_and_drop_pressure() -> None:
    skip = AutoSkip(None, relax_s=1.0)
    assert skip.update(model_s=0.001, fps=30, drops=0, now=0.0) == 1
    assert skip.update(model_s=0.5, fps=30, drops=0, now=0.1) == 15  # the model takes 15 frame times
    assert skip.update(model_s=0.5, fps=30, drops=3, now=0.2) == 16  # frames dropped: back off more
    assert skip.update(model_s=0.5, fps=30, drops=3, now=0.5) == 16
    assert skip.update(model_s=0.5, fps=30, drops=3, now=1.3) == 15  # calm for relax_s: ease off
    assert skip.label() == "15 (auto)"


def test_manual_skip_keys_leave_auto_mode() -> None:
    skip = AutoSkip(None)
    skip.update(0.2, 30, 0)
    assert skip.step(+1) == 7 and not skip.auto
    assert skip.update(0.001, 30, 0) == 7  # no longer automatic
    assert skip.step(-10) == 1
    assert AutoSkip(4).value == 4 and AutoSkip(4).label() == "4"


def test_latency_stats() -> None:
    from stream_colorize.frames import Frame

    stats = LiveStats()
    for i in range(100):
        stats.mark_shown(Frame(i, np.zeros((2, 2), np.uint8), captured=i / 30), now=i / 30 + 0.01 * (i % 10 + 1))
    p = stats.latency_percentiles()
    assert p["p50"] == pytest.approx(0.055, abs=0.006) and p["max"] == pytest.approx(0.10)
    assert stats.fps == pytest.approx(30, rel=0.05)
    last = 99 / 30 + 0.1
    assert stats.fps_now(last + 0.5) == pytest.approx(30, rel=0.05)
    assert stats.fps_now(last + 1.5) == 0.0  # the stream stopped: no stale rate while it reconnects
    assert LiveStats().fps_now() == 0.0


# -- overlay, layout, snapshot, display check --------------------------------------------------
def test_overlay_writes_white_text_on_a_dark_box() -> None:
    frame = np.full((240, 320), 200, np.uint8)
    out = draw_overlay(frame, ["fps 30.0", "latency 12 ms"], warning="reconnecting (1/5)")
    assert out.shape == (240, 320, 3)
    box = out[:45, :100]
    assert (box.max(axis=2) < 80).mean() > 0.5  # darkened
    assert ((box > 180).all(axis=2)).sum() > 40  # white text
    yellow = (box[:, :, 0] < 60) & (box[:, :, 1] > 200) & (box[:, :, 2] > 200)
    assert yellow.sum() > 20  # the warning line
    assert (out[200:, 200:] == 200).all()  # the rest untouched


def test_side_by_side_doubles_the_width() -> None:
    gray = np.zeros((10, 20), np.uint8)
    color = np.full((10, 20, 3), (0, 0, 255), np.uint8)
    both = side_by_side(gray, color)
    assert both.shape == (10, 40, 3) and (both[:, 20:] == color).all() and (both[:, :20] == 0).all()


def test_snapshot_is_a_png_written_atomically(tmp_path) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, :, 2] = 255
    first = save_snapshot(image, tmp_path / "snaps")
    second = save_snapshot(image, tmp_path / "snaps")
    assert first != second and first.suffix == ".png"
    assert (cv2.imread(str(first)) == image).all()
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == sorted([first.name, second.name])


def test_display_problem() -> None:
    assert display_problem({}, "linux") == "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"
    assert "cannot connect" in display_problem({"DISPLAY": ":987"}, "linux")
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None


def test_keys_map_to_actions() -> None:
    assert {KEY_ACTIONS[k] for k in (ord("q"), 27)} == {"quit"}
    assert [KEY_ACTIONS[ord(c)] for c in " st+-p"] == ["pause", "side", "smooth", "skip+", "skip-", "snapshot"]


def test_an_open_error_is_read_from_its_words_not_the_url_it_names() -> None:
    """A port such as 40131 holds "401": a 404 there must not read as a refused login (seen in CI)."""
    import av

    from stream_colorize.io.live_source import describe_open_error

    spec = parse_source("rtsp://127.0.0.1:40131/nothere")
    missing = av.error.HTTPNotFoundError(-1, "Server returned 404 Not Found", "rtsp://127.0.0.1:40131/nothere")
    assert "404 Not Found" in describe_open_error(missing, spec, 5.0)
    generic = OSError(5, "Input/output error", "rtsp://127.0.0.1:40131/nothere")
    assert "Unauthorized" not in describe_open_error(generic, spec, 5.0)
    refused = OSError(5, "Server returned 401 Unauthorized (authorization failed)", "rtsp://127.0.0.1:8554/x")
    assert "401 Unauthorized" in describe_open_error(refused, parse_source("rtsp://127.0.0.1:8554/x"), 5.0)
