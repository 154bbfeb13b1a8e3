"""The web view's WebRTC player (``live --serve``, aiortc): real sessions, real offers, a real browser.

Each test starts a live session serving on 127.0.0.1 (the tiny model colourizes a gray lavfi
source).  Debian's headless Chromium opens the page, which plays over WebRTC by default: the
``<video>`` shows the colour frames and the server counts one WebRTC peer and no MJPEG viewer;
the peer is let go when the browser leaves.  Offers made by aiortc itself check the rules every
route keeps: the token (401), a clean 400 for a malformed offer, the viewer cap shared with the
MJPEG viewers (503), and a place given back by an offer that never connects.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("aiortc", reason="WebRTC needs aiortc (pip install 'stream-colorize[serve]')")

from aiortc import RTCConfiguration, RTCPeerConnection  # noqa: E402

from stream_colorize.models.spec import ModelSpec  # noqa: E402
from tests.support.browser import Chromium, chromium_path  # noqa: E402
from tests.support.media import chroma  # noqa: E402
from tests.support.web import MjpegReader, get, post_json, serving, status_json  # noqa: E402

TOKEN = "correct-horse-battery"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def browser_offer() -> dict:
    """An offer as a browser sends it: one recvonly video section, every host candidate in it."""

    async def make() -> dict:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        await pc.close()
        return offer

    return asyncio.run(make())


def wait_status(port: int, condition, headers: dict[str, str] | None = None, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while not condition(status := status_json(port, headers)):
        assert time.monotonic() < deadline, f"status never matched: {status}"
        time.sleep(0.1)
    return status


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_headless_chromium_plays_the_colour_stream_over_webrtc(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    with serving(tiny_spec, token=TOKEN) as session:
        port = session.port
        with Chromium(tmp_path / "profile", size=(390, 844)) as browser:  # a phone's screen
            tab = browser.open(f"http://127.0.0.1:{port}/?token={TOKEN}")
            browser.wait(tab, "document.getElementById('rtc').videoWidth > 0 || document.body.dataset.mode === 'mjpeg'")
            assert browser.evaluate(tab, "document.body.dataset.mode") == "webrtc"
            assert browser.evaluate(tab, "location.search") == ""  # the token left the address bar
            played = browser.evaluate(tab, "document.getElementById('rtc').currentTime")
            picture = browser.canvas_of(tab, "#rtc")
            during = status_json(port, BEARER)
            browser.wait(tab, f"document.getElementById('rtc').currentTime > {played} + 0.3")  # it keeps playing
            # the page's layout: the video fills the phone's width, the controls below it
            box = browser.evaluate(tab, "JSON.stringify(document.getElementById('rtc').getBoundingClientRect())")
            assert json.loads(box)["width"] > 350
            browser.close_tab(tab)
            left = wait_status(port, lambda s: s["viewers"] == 0, BEARER)  # the page closed its peer connection
    assert picture.shape == (240, 320, 3)
    assert chroma(picture) > 5, "no colour in the WebRTC video"
    assert during["webrtc_peers"] == during["viewers"] == 1
    assert during["viewers_total"] == 1 and during["served_frames"] == 0  # no MJPEG fallback was opened
    assert left["webrtc_peers"] == 0 and left["webrtc_peers_total"] == 1


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_page_falls_back_to_mjpeg_when_webrtc_is_refused(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    with serving(tiny_spec) as session:
        session.view.server.webrtc = None  # as without aiortc: /webrtc/offer answers 501
        assert post_json(session.port, "/webrtc/offer", browser_offer())[0] == 501
        with Chromium(tmp_path / "profile") as browser:
            tab = browser.open(f"http://127.0.0.1:{session.port}/")
            browser.wait(tab, "document.body.dataset.mode === 'mjpeg' && document.querySelector('#view').naturalWidth")
            assert "playing MJPEG" in browser.evaluate(tab, "document.getElementById('error').textContent")
            assert chroma(browser.canvas_of(tab, "#view")) > 5
            assert status_json(session.port)["served_frames"] > 0


def test_an_offer_wants_the_token(tiny_spec: ModelSpec) -> None:
    offer = browser_offer()
    with serving(tiny_spec, token=TOKEN) as session:
        port = session.port
        code, answer = post_json(port, "/webrtc/offer", offer)
        assert code == 401 and TOKEN not in json.dumps(answer)
        assert post_json(port, "/webrtc/offer", offer, {"Authorization": "Bearer wrong-token-123"})[0] == 401
        assert post_json(port, "/webrtc/offer?token=wrong-token-123", offer)[0] == 401
        assert status_json(port, BEARER)["viewers_total"] == 0
        code, answer = post_json(port, "/webrtc/offer", offer, BEARER)
        assert code == 200 and answer["type"] == "answer" and "m=video" in answer["sdp"]
        assert "a=candidate" in answer["sdp"] and "a=sendonly" in answer["sdp"]
        assert status_json(port, BEARER)["webrtc_peers"] == 1


def test_a_malformed_offer_gets_a_clean_400(tiny_spec: ModelSpec) -> None:
    with serving(tiny_spec) as session:
        port = session.port
        for body, says in (
            (b"not json", "not JSON"),
            (b"[]", '"type": "offer"'),
            ({"type": "answer", "sdp": "v=0\r\n"}, '"type": "offer"'),
            ({"type": "offer", "sdp": 5}, '"type": "offer"'),
            ({"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}, "no video"),
            ({"type": "offer", "sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\nrubbish\r\n"},
             "could not be answered"),
        ):  # fmt: skip
            code, answer = post_json(port, "/webrtc/offer", body)
            assert code == 400 and says in answer["error"] and "\n" not in answer["error"], (body, answer)
        assert post_json(port, "/webrtc/offer", browser_offer(), content_type="text/plain")[0] == 415
        big = json.dumps({"type": "offer", "sdp": "v=0\r\nm=video " + "x" * 70000}).encode()
        assert post_json(port, "/webrtc/offer", big)[0] == 413
        code, _, _ = get(port, "/webrtc/offer")
        assert code == 405
        status = status_json(port)
        assert status["viewers"] == status["viewers_total"] == 0 and status["state"] == "playing"


def test_webrtc_peers_count_against_the_viewer_cap(tiny_spec: ModelSpec) -> None:
    with serving(tiny_spec, max_viewers=2) as session:
        port = session.port
        session.view.server.webrtc.connect_timeout = 2.0
        with MjpegReader(port) as mjpeg:
            mjpeg.part()
            assert post_json(port, "/webrtc/offer", browser_offer())[0] == 200  # never connects
            status = status_json(port)
            assert (status["viewers"], status["webrtc_peers"]) == (2, 1)
            code, answer = post_json(port, "/webrtc/offer", browser_offer())
            assert code == 503 and answer["error"] == "viewer limit reached (2 watching); try again later"
            assert get(port, "/stream.mjpg")[0] == 503
            # the offer that never connected gives its place back
            wait_status(port, lambda s: s["viewers"] == 1 and s["webrtc_peers"] == 0)
            assert post_json(port, "/webrtc/offer", browser_offer())[0] == 200
            assert status_json(port)["viewers_refused"] == 2
