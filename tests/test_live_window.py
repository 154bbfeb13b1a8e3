"""The live window under a real X server (Xvfb started by the test): screenshots show colour and
the overlay; keys sent with xdotool do what they say."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.live import Xvfb

pytestmark = [pytest.mark.display, pytest.mark.slow]
SOURCE = "lavfi:testsrc2=size=320x240:rate=30,format=gray"


def chroma(image: np.ndarray) -> np.ndarray:
    """Per-pixel spread between the B, G and R channels (0 for gray)."""
    return np.ptp(image.astype(np.int16), axis=2)


class App:
    """``stream-colorize live`` in a window on ``display``."""

    def __init__(self, display: Xvfb, tmp: Path, model: Path) -> None:
        self.display, self.tmp = display, tmp
        self.snaps = tmp / "snaps"
        cmd = [
            sys.executable,
            "-m",
            "stream_colorize",
            "live",
            SOURCE,
            "-m",
            str(model),
            "--snapshot-dir",
            str(self.snaps),
        ]
        self.proc = subprocess.Popen(
            cmd, env=display.env(), cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--name", "stream-colorize"],
            env=display.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.window = found.stdout.split()[0]
        display.xdotool("windowfocus", "--sync", self.window)

    def geometry(self) -> tuple[int, int, int, int]:
        out = self.display.xdotool("getwindowgeometry", "--shell", self.window)
        values = dict(line.split("=") for line in out.split())
        return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])

    def wait_width(self, width: int, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.geometry()[2]
            if current == width:
                return current
            time.sleep(0.1)
        return self.geometry()[2]

    def grab(self, name: str) -> np.ndarray:
        shot = cv2.imread(str(self.display.screenshot(self.tmp / f"{name}.png")))
        x, y, w, h = self.geometry()
        return shot[y : y + h, x : x + w]

    def key(self, name: str, settle: float = 0.6) -> None:
        self.display.xdotool("key", "--window", self.window, name)
        time.sleep(settle)

    def finish(self, timeout: float = 20) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            return -9, err
        return self.proc.returncode, err


def test_window_shows_color_and_overlay_and_obeys_keys(xvfb: Xvfb, tmp_path: Path, tiny_onnx: Path) -> None:
    app = App(xvfb, tmp_path, tiny_onnx)
    try:
        time.sleep(2.0)
        assert app.geometry()[2:] == (320, 240)
        view = app.grab("colour")
        assert view.shape[:2] == (240, 320)
        # The source is gray: every coloured pixel comes from the model.
        picture = view[80:, :]
        assert (chroma(picture) > 20).mean() > 0.3
        # The overlay: a darkened box at the top left with light text in it.
        box = view[:40, :110]
        assert (box.max(axis=2) < 90).mean() > 0.4 and ((box > 200).all(axis=2)).sum() > 40

        app.key("space")  # pause: the picture freezes (testsrc2 shows a running clock otherwise)
        frozen = app.grab("paused1")
        time.sleep(0.7)
        assert np.array_equal(frozen, app.grab("paused2"))
        app.key("t")  # smoothing off: the overlay's text changes, the picture does not
        toggled = app.grab("smooth_off")
        assert not np.array_equal(toggled[:60], frozen[:60]) and np.array_equal(toggled[80:], frozen[80:])
        app.key("plus")  # skip 1 (auto) -> 2: the overlay changes again
        skipped = app.grab("skip_plus")
        assert not np.array_equal(skipped[:60], toggled[:60])
        app.key("space")  # resume
        time.sleep(0.5)
        assert not np.array_equal(app.grab("resumed")[80:], frozen[80:])

        app.key("s")  # side by side: twice as wide, gray original on the left
        assert app.wait_width(640) == 640
        time.sleep(0.5)
        both = app.grab("side")
        assert (chroma(both[80:, :320]) > 20).mean() < 0.02
        assert (chroma(both[80:, 320:]) > 20).mean() > 0.3

        app.key("p")  # a snapshot PNG of what is shown (without the overlay)
        deadline = time.monotonic() + 10
        while not (app.snaps.is_dir() and list(app.snaps.glob("*.png"))) and time.monotonic() < deadline:
            time.sleep(0.1)
        snaps = list(app.snaps.glob("*.png"))
        assert len(snaps) == 1
        snap = cv2.imread(str(snaps[0]))
        assert snap.shape == (240, 640, 3)
        assert (chroma(snap[:, :320]) > 20).mean() < 0.02 and (chroma(snap[:, 320:]) > 20).mean() > 0.3

        app.key("q", settle=0)
        code, err = app.finish()
        assert code == 0, err
        assert "shown" in err and "Traceback" not in err
    finally:
        if app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait()


def test_escape_quits(xvfb: Xvfb, tmp_path: Path, tiny_onnx: Path) -> None:
    app = App(xvfb, tmp_path, tiny_onnx)
    time.sleep(1.0)
    app.key("Escape", settle=0)
    code, err = app.finish()
    assert code == 0, err
