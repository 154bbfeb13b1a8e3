"""``stream-colorize serve CONFIG.toml``: several cameras on one shared model, as a real process.

Two cameras (a loopback RTSP server's live pattern and a gray lavfi pattern) with the tiny model:
both serve colour snapshots over HTTP; killing the RTSP server leaves the other camera serving
while the status shows the first one down; SIGTERM ends the process within seconds with the
CLI's exit status.  Bad config files are one line and exit 1.  And the frame hub's race: a viewer
arriving while a frame is being encoded no longer gets that frame twice.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("aiohttp")

from stream_colorize.frames import Frame  # noqa: E402
from stream_colorize.io.live_outputs import Shown  # noqa: E402
from stream_colorize.serve import hub as hub_module  # noqa: E402
from stream_colorize.serve.hub import FrameHub  # noqa: E402
from tests.support.cli import run_main  # noqa: E402
from tests.support.live import RtspServer, free_port  # noqa: E402
from tests.support.media import chroma  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GRAY = "lavfi:testsrc2=size=320x240:rate=15,format=gray"


def fetch(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cameras(port: int) -> dict:
    return json.loads(fetch(port, "/api/status")[1])["cameras"]


def wait_for(check, timeout: float, what: str):  # noqa: ANN001, ANN201 - a test helper
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.2)


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


# -- the frame hub's race ------------------------------------------------------------------------


def test_a_viewer_arriving_mid_encode_does_not_get_that_frame_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()
    plain = hub_module.encode_jpeg

    def slow_encode(image: np.ndarray, quality: int) -> bytes:
        entered.set()
        release.wait(5)
        return plain(image, quality)

    monkeypatch.setattr(hub_module, "encode_jpeg", slow_encode)
    hub = FrameHub(wanted=lambda: True)
    hub.start(lambda: None)
    try:
        image = np.zeros((8, 8, 3), np.uint8)
        hub.put(Shown(Frame(7, image), image))
        assert entered.wait(5)  # the encoder is busy with frame 7; latest is still None
        hub.poke()  # a viewer arrives now
        release.set()
        wait_for(lambda: hub.latest, 5, "a JPEG")
        time.sleep(0.5)  # room for a second encode of the same frame, which used to follow
        assert hub.encoded == 1 and hub.latest is not None and hub.latest.index == 7
    finally:
        release.set()
        hub.stop()


# -- a real serve process ------------------------------------------------------------------------


def write_config(folder: Path, port: int, rtsp_url: str) -> Path:
    path = folder / "cameras.toml"
    path.write_text(f"""
[server]
listen = "127.0.0.1:{port}"

[model]
name = "standin-tiny"
threads = 1

[cameras.door]
source = "{rtsp_url}"
retries = 1
read_timeout = 1
timeout = 2
restart_after = 1

[cameras.yard]
source = "{GRAY}"
skip = 2
""")
    return path


def test_two_cameras_serve_colour_one_dies_the_other_goes_on_and_sigterm_ends_it(
    rtsp_server: RtspServer, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, rtsp_server.url)
    proc = subprocess.Popen([sys.executable, "-m", "stream_colorize", "serve", str(config)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: all(c["up"] and c["model_runs"] > 2 for c in cameras(port).values()), 60, "both cameras up")
        door, yard = (decode(fetch(port, f"/cameras/{name}/snapshot.jpg")[1]) for name in ("door", "yard"))
        assert door.shape == yard.shape == (240, 320, 3)
        assert chroma(yard) > 5  # colour from a gray source
        assert np.abs(door.astype(int) - yard.astype(int)).mean() > 10  # two different pictures
        code, page = fetch(port, "/")
        assert code == 200 and b"/cameras/" in page
        code, metrics = fetch(port, "/metrics")
        assert b'stream_colorize_camera_up{camera="door"} 1' in metrics
        assert b'stream_colorize_camera_up{camera="yard"} 1' in metrics
        assert fetch(port, "/cameras/nothere/snapshot.jpg")[0] == 404

        rtsp_server.stop()  # the door camera's server vanishes
        wait_for(lambda: cameras(port)["door"]["state"] == "down", 30, "the door camera shown down")
        shown = cameras(port)["yard"]["shown"]
        time.sleep(1.5)
        status = cameras(port)
        assert status["yard"]["up"] and status["yard"]["shown"] > shown + 5  # the other camera went on
        assert not status["door"]["up"] and status["door"]["error"]
        assert fetch(port, "/cameras/door/snapshot.jpg")[0] == 503
        decode(fetch(port, "/cameras/yard/snapshot.jpg")[1])
        assert b'stream_colorize_camera_up{camera="door"} 0' in fetch(port, "/metrics")[1]

        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM and took < 6, (proc.returncode, took, err)
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "stream-colorize: interrupted"
    assert "camera door is down" in err


# -- bad config files ------------------------------------------------------------------------------

GOOD_CAMERA = f'[cameras.a]\nsource = "{GRAY}"\n'


@pytest.mark.parametrize(
    "text, said",
    [
        (GOOD_CAMERA + "colour = 3\n", "unknown key 'colour' in [cameras.a]"),
        ("[server]\nport = 80\n" + GOOD_CAMERA, "unknown key 'port' in [server]"),
        ("[model]\nspeed = 2\n" + GOOD_CAMERA, "unknown key 'speed' in [model]"),
        ("[camera.a]\nsource = 'x'\n", "unknown key 'camera' in [the top level]"),
        ("[cameras.a]\nskip = 2\n", "[cameras.a] needs a source"),
        ("[server]\nlisten = 8080\n" + GOOD_CAMERA, "listen in [server] must be"),
        ("[cameras.a\nsource = 1\n", "is not valid TOML"),
        ("[server]\nlisten = '0.0.0.0:0'\n" + GOOD_CAMERA, "can be reached from other machines"),
        ("[server]\n", "no cameras"),
        (GOOD_CAMERA + "outputs = ['http://x/']\n", "cannot stream to http://"),
        (GOOD_CAMERA + "skip = 'sometimes'\n", "skip must be"),
    ],
)  # fmt: skip
def test_bad_config_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, text: str, said: str) -> None:
    path = tmp_path / "cameras.toml"
    path.write_text(text)
    code, _, err = run_main(["serve", str(path)], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("stream-colorize: error: ") and said in lines[0], lines[0]


def test_an_address_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        path = tmp_path / "cameras.toml"
        path.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n[model]\nname = "standin-tiny"\n' + GOOD_CAMERA)
        code, _, err = run_main(["serve", str(path)], capsys)
    assert code == 1 and err.strip().splitlines() == [
        f"stream-colorize: error: cannot serve on 127.0.0.1:{port}: the address is in use (pick another port)"
    ]
    path.unlink()
    code, _, err = run_main(["serve", str(path)], capsys)
    assert code == 1 and err.strip() == f"stream-colorize: error: config file not found: {path}"
