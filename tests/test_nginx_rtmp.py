"""RTMP into Debian's nginx RTMP module: ``video IN rtmp://...`` and ``live --output rtmp://...``.

nginx (``nginx`` + ``libnginx-mod-rtmp``, installed by scripts/setup-dev.sh) is started by the
test on a free loopback port; a PyAV player connected to the same stream key receives what the
command publishes, and its frames are decoded and checked for colour.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.media import chroma, make_clip
from tests.support.nginx import nginx_rtmp, nginx_rtmp_missing

REPO = Path(__file__).resolve().parents[1]
MISSING = nginx_rtmp_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "stream_colorize", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


class Player(threading.Thread):
    """PyAV playing rtmp://.../live/KEY from nginx: every frame it decodes, as BGR."""

    def __init__(self, url: str) -> None:
        super().__init__(name="rtmp-player", daemon=True)
        self.url = url
        self.frames: list[np.ndarray] = []
        self.error: BaseException | None = None

    def settle(self, quiet_s: float = 2.0, timeout: float = 20.0) -> None:
        """Wait until no frame has come for ``quiet_s`` (the publisher is done; nginx may keep the
        player waiting for the next one)."""
        ends, count, last = time.monotonic() + timeout, -1, time.monotonic()
        while time.monotonic() < ends and self.is_alive():
            if len(self.frames) != count:
                count, last = len(self.frames), time.monotonic()
            elif time.monotonic() - last > quiet_s:
                return
            time.sleep(0.1)

    def run(self) -> None:
        try:
            # nginx holds the player until someone publishes; 3 s without data after that: it ended
            with av.open(self.url, timeout=(30, 3)) as container:
                for frame in container.decode(video=0):
                    self.frames.append(frame.to_ndarray(format="bgr24"))
        except av.error.ExitError:  # the read timeout once the publisher has gone
            pass
        except OSError as exc:
            if not (self.frames and exc.errno == errno.EIO):  # nginx ends the play when the publisher goes
                self.error = exc
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc


def test_video_publishes_to_nginx_rtmp(tiny_onnx: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=2.0, size=(160, 120), audio=1)
    with nginx_rtmp(tmp_path / "nginx") as port:
        url = f"rtmp://127.0.0.1:{port}/live/secret-key"
        player = Player(url)
        player.start()
        run = subprocess.run(cli("video", str(clip), url, "-m", str(tiny_onnx), "-q"),
                             capture_output=True, text=True, timeout=60, env=env())  # fmt: skip
        player.settle()
    player.join(10)  # nginx has stopped: the play ends
    assert run.returncode == 0, run.stderr
    assert f"-> rtmp://127.0.0.1:{port}/live/..." in run.stderr and "secret-key" not in run.stderr
    assert player.error is None, player.error
    assert len(player.frames) >= 45 and player.frames[-1].shape == (120, 160, 3)  # all but a few at the start
    assert np.mean([chroma(f) for f in player.frames[-10:]]) > 5  # colour from a gray film


def test_live_output_publishes_to_nginx_rtmp(tiny_onnx: Path, tmp_path: Path) -> None:
    with nginx_rtmp(tmp_path / "nginx") as port:
        url = f"rtmp://127.0.0.1:{port}/live/cam"
        player = Player(url)
        player.start()
        run = subprocess.run(cli("live", "lavfi:testsrc2=size=320x240:rate=25,format=gray", "--headless",
                                 "--duration", "4", "-m", str(tiny_onnx), "--output", url),
                             capture_output=True, text=True, timeout=60, env=env())  # fmt: skip
        player.settle()
    player.join(10)  # nginx has stopped: the play ends
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "reconnecting" not in run.stderr
    assert player.error is None, player.error
    assert len(player.frames) >= 50 and player.frames[-1].shape == (240, 320, 3)  # of about 100 shown
    assert np.mean([chroma(f) for f in player.frames[-10:]]) > 5
