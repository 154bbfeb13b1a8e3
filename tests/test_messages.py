"""Messages that said the wrong thing: a silent server, subtitles longer than the film, a corrupt
model, reconnect notes."""

from __future__ import annotations

import socket
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from stream_colorize.io.live_source import _without_name
from tests.support.cli import run_main
from tests.support.media import make_clip, probe_frame_count


def test_silent_rtsp_server_is_no_answer_not_damage(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(server.accept()[0]), daemon=True).start()
    url = f"rtsp://127.0.0.1:{server.getsockname()[1]}/live"
    try:
        code, _, err = run_main(["video", url, str(tmp_path / "o.mp4"), "-m", str(tiny_onnx), "-q"], capsys)
    finally:
        for conn in held:
            conn.close()
        server.close()
    assert code == 1
    assert err.strip() == f"stream-colorize: error: no answer from {url} within 10 s (is the stream running?)"


def test_subtitles_outlasting_the_video_are_not_an_early_end(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    short = make_clip(tmp_path / "short.mkv", seconds=1, audio=1, subtitles=True)
    late = tmp_path / "late.mkv"
    with av.open(str(short)) as src, av.open(str(late), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        subtitle = next(s for s in src.streams if s.type == "subtitle")
        for packet in src.demux():
            if packet.dts is not None and packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
        credits = av.Packet(b"the end")  # a cue 4 s after the last picture
        credits.stream, credits.pts, credits.dts = streams[subtitle.index], 5000, 5000
        credits.duration, credits.time_base = 1000, Fraction(1, 1000)
        out.mux(credits)
    code, _, err = run_main(["video", str(late), str(tmp_path / "o.mkv"), "-m", str(tiny_onnx), "-q"], capsys)
    assert code == 0, err
    assert "early" not in err and "25 frames" in err
    assert probe_frame_count(tmp_path / "o.mkv") == 25


def test_corrupt_model_message_keeps_opencvs_words(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage, not protobuf")
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), np.zeros((20, 20), np.uint8))
    args = ["image", str(photo), "-m", str(bad), "-o", str(tmp_path / "o.png")]
    code, _, err = run_main([*args, "--backend", "opencv"], capsys)
    assert code == 1
    line = err.strip()
    assert f"(OpenCV: Failed to parse ONNX model: {bad})" in line  # whole, not cut off mid-path
    assert "cpp:" not in line and line.count("\n") == 0
    code, _, err = run_main(args, capsys)  # whichever backend auto picks: one line, saying why
    assert code == 1 and err.strip().count("\n") == 0 and "corrupt or truncated" in err


def test_reconnect_reason_does_not_repeat_the_url() -> None:
    url = "rtsp://cam.local/stream"
    assert _without_name(f"cannot open {url}: Connection refused", url) == "Connection refused"
    assert _without_name("no data for 5 s", url) == "no data for 5 s"
