"""Debian's headless Chromium driven over the DevTools protocol on a pipe (no extra package).

    >>> with Chromium(tmp_path / "profile") as browser:
    ...     tab = browser.open("http://127.0.0.1:8080/")
    ...     browser.wait(tab, "document.body.dataset.mode === 'webrtc'")
    ...     browser.evaluate(tab, "document.getElementById('rtc').videoWidth")

``--remote-debugging-pipe``: Chromium reads commands on its fd 3 and writes answers and events on
fd 4, each a JSON object ended by a NUL byte.  Tabs are attached in flat mode, so one pipe carries
every tab's commands (each with its session id).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _above(fd: int, low: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return moved


class BrowserError(RuntimeError):
    """Chromium answered a command with an error, or a page's script threw."""


class Chromium:
    """A headless Chromium process and its DevTools pipe."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1280, 900), extra: tuple[str, ...] = ()) -> None:
        path = chromium_path()
        assert path is not None, "Debian's chromium is not installed"
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()
        # Above 4, so the shell's "3<&N 4>&M" cannot overwrite one end with the other.
        to_chrome, from_chrome = (_above(fd, 10) for fd in (to_chrome, from_chrome))
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
            "--no-first-run", "--no-default-browser-check", "--autoplay-policy=no-user-gesture-required",
            f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", "--remote-debugging-pipe",
            *extra, "about:blank",
        ]  # fmt: skip
        # The child wants the pipe's ends as its fds 3 and 4.
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_chrome} 4>&{from_chrome}', path, *args],
            pass_fds=(to_chrome, from_chrome), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: its CPU can be summed, a ^C does not reach it
        )  # fmt: skip
        os.close(to_chrome)
        os.close(from_chrome)
        self._next = 0
        self._answers: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, name="chromium-pipe", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buffer = b""
        while chunk := os.read(self._read, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._answers[message["id"]] = message
                        self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        """One DevTools command; its result (BrowserError for an error answer)."""
        with self._cond:
            self._next += 1
            ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, f"no answer to {method}"
                self._cond.wait(min(left, 0.5))
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def open(self, url: str, new_window: bool = True) -> str:
        """A new tab on ``url``: its session id for ``evaluate``."""
        target = self.send("Target.createTarget", {"url": url, "newWindow": new_window})["targetId"]
        return self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def close_tab(self, session: str) -> None:
        """Close a tab as its user would (the page gets its pagehide)."""
        target = self.send("Target.getTargetInfo", {}, session)["targetInfo"]["targetId"]
        self.send("Target.closeTarget", {"targetId": target})

    def evaluate(self, session: str, expression: str, timeout: float = 30) -> Any:
        """The value of a script in the tab (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, session, timeout)  # fmt: skip
        if "exceptionDetails" in result:
            raise BrowserError(str(result["exceptionDetails"].get("exception", result["exceptionDetails"])))
        return result["result"].get("value")

    def wait(self, session: str, condition: str, timeout: float = 20) -> None:
        """Until ``condition`` (a script) is true in the tab (a script that throws: not yet, the page loads)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.evaluate(session, condition):
                    return
            except BrowserError:
                pass
            assert time.monotonic() < deadline, f"not true in {timeout} s: {condition}"
            time.sleep(0.1)

    def canvas_of(self, session: str, selector: str) -> np.ndarray:
        """What an ``<img>`` or ``<video>`` shows now, drawn onto a canvas: a BGR picture."""
        url = self.evaluate(session, f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            const c = document.createElement("canvas");
            c.width = el.videoWidth || el.naturalWidth; c.height = el.videoHeight || el.naturalHeight;
            c.getContext("2d").drawImage(el, 0, 0);
            return c.toDataURL("image/png");
        }})()""")  # fmt: skip
        data = base64.b64decode(url.split(",", 1)[1])
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("Browser.close", timeout=5)
            except (AssertionError, BrowserError, OSError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        for fd in (self._write, self._read):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
