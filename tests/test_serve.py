"""The web view (``live --serve``): real sessions on a lavfi source with the tiny model, real HTTP.

Each test starts a live session serving on 127.0.0.1 (a free port) in a thread and talks to it
with the standard library's HTTP client, a raw socket or Debian's headless Chromium: the MJPEG
stream decodes to colour frames, the snapshot, the JSON status and the Prometheus metrics answer,
the controls change the session, a token keeps out requests without it, a viewer that never reads
does not hold the pipeline back, and the viewer cap answers 503.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("aiohttp")

from stream_colorize.errors import UsageError  # noqa: E402
from stream_colorize.io.live_outputs import Action, Control  # noqa: E402
from stream_colorize.models.spec import ModelSpec  # noqa: E402
from stream_colorize.serve.address import Listen, check_exposure, is_loopback, parse_listen, read_token_file  # noqa: E402
from stream_colorize.serve.controls import BadControl, parse_control  # noqa: E402
from stream_colorize.serve.output import ServeOutput  # noqa: E402
from tests.support.cli import run_main  # noqa: E402
from tests.support.live import free_port  # noqa: E402
from tests.support.media import chroma  # noqa: E402
from tests.support.web import MjpegReader, get, post_json, serving, status_json  # noqa: E402

TOKEN = "correct-horse-battery"


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


# -- where it listens, and the token rule --------------------------------------------------------


@pytest.mark.parametrize(
    "text, host, port",
    [("8080", "127.0.0.1", 8080), ("0.0.0.0:80", "0.0.0.0", 80), ("[::1]:9000", "::1", 9000),
     ("localhost:0", "localhost", 0), ("cam.lan:8443", "cam.lan", 8443)],
)  # fmt: skip
def test_listen_addresses_parse(text: str, host: str, port: int) -> None:
    assert parse_listen(text) == Listen(host, port)


@pytest.mark.parametrize("text", ["", "http://x:80", "80000", "[::1]9000", "::1:80", "a b:80", "host:", "[zz]:80"])
def test_bad_listen_addresses_are_one_line(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_listen(text)
    assert "\n" not in str(info.value)


def test_only_the_loopback_goes_without_a_token(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "127.255.0.9", "::1", "localhost"):
        assert is_loopback(host)
        check_exposure(Listen(host, 8080), None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "2001:db8::1", "cam.lan", "localhost.example"):
        assert not is_loopback(host)
        with pytest.raises(UsageError, match="--token"):
            check_exposure(Listen(host, 8080), None)
        check_exposure(Listen(host, 8080), TOKEN)
    with pytest.raises(UsageError, match="--token"):
        ServeOutput(Listen("0.0.0.0", 0))  # refused before it listens
    with pytest.raises(UsageError, match="at least"):
        ServeOutput(Listen("0.0.0.0", 0), token="short")
    (tmp_path / "token").write_text(f"  {TOKEN}  \n")
    assert read_token_file(tmp_path / "token") == TOKEN
    with pytest.raises(UsageError, match="cannot read"):
        read_token_file(tmp_path / "missing")


def test_controls_are_a_fixed_set_of_typed_values() -> None:
    assert parse_control({"action": "temperature", "value": 0.3}) == Control(Action.TEMPERATURE, value=0.3)
    assert parse_control({"action": "side", "on": True}) == Control(Action.SIDE_BY_SIDE, on=True)
    assert parse_control({"action": "skip", "value": 0}) == Control(Action.SKIP, value=0.0)
    assert parse_control({"action": "smooth", "value": 0.5}) == Control(Action.SMOOTHING, value=0.5)
    for bad in (
        [], "side", {"action": "quit"}, {"action": "snapshot"}, {"action": "temperature", "value": "/etc/passwd"},
        {"action": "temperature", "value": float("nan")}, {"action": "temperature", "value": 50},
        {"action": "skip", "value": 2.5}, {"action": "side", "on": "yes"}, {"action": "side", "on": 1},
        {"action": "pause", "on": True, "url": "http://elsewhere/"}, {"action": "smooth", "value": True},
    ):  # fmt: skip
        with pytest.raises(BadControl):
            parse_control(bad)


# -- a real session ----------------------------------------------------------------------------------


def test_stream_snapshot_status_and_metrics(tiny_spec: ModelSpec) -> None:
    with serving(tiny_spec) as session:
        port = session.port
        page_code, page_headers, page = get(port, "/")
        assert page_code == 200 and b"/stream.mjpg" in page and b"viewport" in page
        assert page_headers["x-frame-options"] == "DENY" and "content-security-policy" in page_headers

        with MjpegReader(port) as viewer:
            assert viewer.status == 200 and viewer.content_type.startswith("multipart/x-mixed-replace")
            (h1, jpeg1, t1), (h2, jpeg2, t2) = viewer.parts(2)
            during = status_json(port)
        first, second = decode(jpeg1), decode(jpeg2)
        assert first.shape == second.shape == (240, 320, 3)
        assert int(h2["x-frame-index"]) > int(h1["x-frame-index"])  # two different frames, in order
        assert chroma(first) > 5 and chroma(second) > 5  # colour from a gray source
        for headers, received in ((h1, t1), (h2, t2)):
            assert 0 < received - float(headers["x-frame-captured"]) < 5  # the same monotonic clock
        assert during["viewers"] == 1

        code, headers, snap = get(port, "/snapshot.jpg")
        assert code == 200 and headers["content-type"] == "image/jpeg"
        assert decode(snap).shape == (240, 320, 3) and chroma(decode(snap)) > 5

        deadline = time.monotonic() + 5
        while (status := status_json(port))["viewers"]:  # the viewer left: noticed at its next frame
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status["state"] == "playing" and status["fps"] > 0 and status["model_ms"] > 0
        assert status["shown"] > 2 and status["served_frames"] >= 2 and status["viewers_total"] == 1
        assert status["temperature"] == pytest.approx(tiny_spec.temperature)
        assert status["serve_latency_ms"]["p95"] >= status["serve_latency_ms"]["p50"] > 0

        code, headers, body = get(port, "/metrics")
        assert code == 200 and headers["content-type"].startswith("text/plain")
        samples = {}
        for line in body.decode().splitlines():
            if not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        assert samples["stream_colorize_fps"] > 0 and samples["stream_colorize_frames_shown_total"] > 2
        assert samples["stream_colorize_served_frames_total"] >= 2 and samples["stream_colorize_viewers"] == 0
        assert 'stream_colorize_serve_latency_seconds{quantile="0.95"}' in samples
        assert body.decode().count("# TYPE ") == len(samples) - 1  # one TYPE per metric; the latency has two


def test_controls_change_the_session(tiny_spec: ModelSpec) -> None:
    with serving(tiny_spec) as session:
        port = session.port
        assert post_json(port, "/api/control", {"action": "temperature", "value": 0.9}) == (200, {"ok": True})
        assert post_json(port, "/api/control", {"action": "skip", "value": 3})[0] == 200
        assert post_json(port, "/api/control", {"action": "smooth", "value": 0.25})[0] == 200
        assert post_json(port, "/api/control", {"action": "side", "on": True})[0] == 200
        deadline = time.monotonic() + 20
        while session.engine.temperature != 0.9:  # the model thread takes it before its next forward
            assert time.monotonic() < deadline
            time.sleep(0.05)
        while not (status := status_json(port))["side_by_side"]:  # the status of the turn after
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert (status["temperature"], status["skip"], status["smoothing"]) == (0.9, "3", 0.25)
        with MjpegReader(port) as viewer:  # frames made before the switch may still be on their way
            widths = [decode(data).shape[1] for _, data, _ in viewer.parts(12)]
        assert widths[-1] == 640 and set(widths) <= {320, 640}  # original | colour
        assert widths[widths.index(640) :] == [640] * (len(widths) - widths.index(640))
        # bad requests: a clean HTTP error of one line each, the session unchanged
        code, answer = post_json(port, "/api/control", {"action": "temperature", "value": "/etc/passwd"})
        assert code == 400 and "number" in answer["error"]
        code, answer = post_json(port, "/api/control", b"action=quit", content_type="application/x-www-form-urlencoded")
        assert code == 415
        code, answer = post_json(port, "/api/control", b"{" + b" " * 5000 + b"}")
        assert code == 413
        code, answer = post_json(port, "/api/control", b"not json")
        assert code == 400 and answer["error"] == "the body is not JSON"
        assert status_json(port)["temperature"] == 0.9


def test_a_token_keeps_out_requests_without_it(tiny_spec: ModelSpec, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serving(tiny_spec, token=TOKEN) as session:
        port = session.port
        for path in ("/", "/stream.mjpg", "/snapshot.jpg", "/api/status", "/metrics"):
            code, headers, body = get(port, path)
            assert code == 401 and headers["www-authenticate"].startswith("Bearer"), path
            assert "token" in json.loads(body)["error"] and TOKEN.encode() not in body
        assert get(port, "/api/status", {"Authorization": "Bearer wrong-token-123"})[0] == 401
        assert get(port, "/api/status?token=wrong-token-123")[0] == 401
        assert post_json(port, "/api/control", {"action": "side", "on": True})[0] == 401
        assert status_json(port, {"Authorization": f"Bearer {TOKEN}"})["state"] == "playing"
        assert get(port, f"/?token={TOKEN}")[0] == 200
        with MjpegReader(port, f"/stream.mjpg?token={TOKEN}") as viewer:
            assert viewer.status == 200 and chroma(decode(viewer.part()[1])) > 5
        code, _, body = get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200 and b"stream_colorize_unauthorized_total 8" in body
    assert TOKEN not in caplog.text


def test_without_a_token_only_local_host_names_are_answered(tiny_spec: ModelSpec) -> None:
    """A page elsewhere cannot reach a loopback server through a DNS name that points at 127.0.0.1."""
    with serving(tiny_spec) as session:
        assert get(session.port, "/api/status", {"Host": "attacker.example"})[0] == 421
        assert get(session.port, "/api/status", {"Host": "localhost:1234"})[0] == 200


def test_a_viewer_that_never_reads_does_not_hold_the_pipeline(tiny_spec: ModelSpec) -> None:
    source = "lavfi:testsrc2=size=1280x720:rate=30,format=gray"
    with serving(tiny_spec, source, write_timeout=2.0) as session:
        port = session.port
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")  # and never reads
        try:
            deadline = time.monotonic() + 5
            while status_json(port)["viewers"] < 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            shown = session.shown()
            with MjpegReader(port) as reader:  # a second viewer keeps getting new frames meanwhile
                indexes = [int(h["x-frame-index"]) for h, _, _ in reader.parts(20)]
            # in order, each frame once (the first too: see test_serve_cameras's hub test)
            assert indexes == sorted(set(indexes))
            # The stalled viewer's buffers fill and its write waits past the timeout: it is let go,
            # while the session went on showing frames at the source's pace.
            deadline = time.monotonic() + 20
            while status_json(port)["viewers"] > 0:
                assert time.monotonic() < deadline, "the stalled viewer was never let go"
                time.sleep(0.1)
            went_on = session.shown() - shown
        finally:
            stalled.close()
    assert went_on >= 10  # frames kept flowing while the stalled viewer was held (a loaded machine shows fewer)


def test_the_viewer_cap_answers_503_and_says_so_once(tiny_spec: ModelSpec, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with serving(tiny_spec, max_viewers=2) as session:
        port = session.port
        first, second = MjpegReader(port), MjpegReader(port)
        try:
            first.part(), second.part()
            code, headers, body = get(port, "/stream.mjpg")
            assert code == 503 and headers["retry-after"] == "5"
            assert json.loads(body)["error"] == "viewer limit reached (2 watching); try again later"
            assert get(port, "/stream.mjpg")[0] == 503
            assert get(port, "/api/status")[0] == 200  # the figures are not viewers
            said = [r.getMessage() for r in caplog.records if "viewers watching" in r.getMessage()]
            assert len(said) == 1 and "--max-viewers" in said[0]
        finally:
            first.close()
        deadline = time.monotonic() + 10
        while status_json(port)["viewers"] > 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with MjpegReader(port) as third:
            assert third.status == 200 and third.part()[1]
        second.close()
        assert status_json(port)["max_viewers"] == 2


# -- the command line ----------------------------------------------------------------------------


def test_cli_refuses_a_network_address_without_a_token(capsys: pytest.CaptureFixture) -> None:
    args = ["live", "lavfi:testsrc2", "--headless", "--serve", "0.0.0.0:0", "-m", "standin-tiny"]
    code, _, err = run_main(args, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--token" in err


def test_cli_says_an_address_in_use_in_one_line(capsys: pytest.CaptureFixture) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        args = ["live", "lavfi:testsrc2=size=160x120", "--headless", "--serve", str(port), "-m", "standin-tiny",
                "--duration", "1"]  # fmt: skip
        code, _, err = run_main(args, capsys)
    assert code == 1 and err.strip().splitlines() == [f"stream-colorize: error: cannot serve on 127.0.0.1:{port}: "
                                                      "the address is in use (pick another port)"]  # fmt: skip


def test_cli_serves_with_a_token_file_and_never_prints_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    port = free_port()
    args = ["live", "lavfi:testsrc2=size=160x120:rate=30,format=gray", "--headless", "--serve", f"127.0.0.1:{port}",
            "--token-file", str(tmp_path / "token"), "-m", "standin-tiny", "--duration", "1.5"]  # fmt: skip
    code, out, err = run_main(args, capsys)
    assert code == 0 and TOKEN not in out + err
    assert f"serving http://127.0.0.1:{port}/ (open it with ?token=...)" in err
    code, _, err = run_main(["live", "lavfi:testsrc2", "--headless", "--token", TOKEN], capsys)
    assert code == 1 and "go with --serve" in err and TOKEN not in err


# -- a browser -----------------------------------------------------------------------------------


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_headless_chromium_shows_the_page_in_color(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    with serving(tiny_spec, token=TOKEN) as session:
        command = [
            str(chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=390,844",  # a phone's screen
            "--timeout=4000", f"--screenshot={shot}", f"http://127.0.0.1:{session.port}/?token={TOKEN}&mode=mjpeg",
        ]  # fmt: skip
        subprocess.run(command, capture_output=True, timeout=60, check=False)
        assert shot.exists(), "chromium wrote no screenshot"
        viewers = status_json(session.port, {"Authorization": f"Bearer {TOKEN}"})["viewers_total"]
    picture = cv2.imread(str(shot))
    assert picture.shape[1] == 390
    # The stream's <img> fills the width at 4:3 from the top; the figures and buttons below it.
    stream = picture[12 : 12 + 270, 12:378]
    assert chroma(stream) > 5, "no colour where the stream is shown"
    assert viewers >= 1  # the page opened the stream with the token it was given
