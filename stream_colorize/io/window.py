"""The live window: a display check that runs before any GUI call, the overlay, keys and snapshots.

    >>> require_display()                          # UsageError with advice when there is no display
    >>> window = Window("stream-colorize")         # a LiveOutput (io/live_outputs.py)
    >>> window.show(shown, status)                 # the picture with the overlay (fps, model ms, ...)
    >>> window.events()                            # the keys pressed: [Control(Action.PAUSE)], ...

OpenCV's GUI aborts the whole process (exit 134, nothing to catch) when it cannot reach a display,
so ``require_display`` checks the environment and connects to the X server's socket first.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError, UsageError
from .live_outputs import Action, Control, LiveStatus, Shown
from .outputs import write_atomic

# Key codes (cv2.waitKey, Qt backend) -> actions; a key toggles its switch.
KEY_ACTIONS: dict[int, Action] = {
    ord("q"): Action.QUIT,
    ord("Q"): Action.QUIT,
    27: Action.QUIT,
    ord(" "): Action.PAUSE,
    ord("s"): Action.SIDE_BY_SIDE,
    ord("t"): Action.SMOOTHING,
    ord("+"): Action.SKIP_UP,
    ord("="): Action.SKIP_UP,
    ord("-"): Action.SKIP_DOWN,
    ord("_"): Action.SKIP_DOWN,
    ord("p"): Action.SNAPSHOT,
}
HEADLESS_HINT = "use --headless (optionally with --record FILE) to run without a window"


def _x_socket_reachable(display: str, timeout: float = 1.0) -> bool:
    """Can we connect to the X server named by ``display`` (``:N``, ``host:N``, ``unix:N``)?"""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        for address in (f"/tmp/.X11-unix/X{number}", f"\0/tmp/.X11-unix/X{number}"):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(timeout)
                    sock.connect(address)
                    return True
            except OSError:
                continue
        return False
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=timeout):
            return True
    except OSError:
        return False


def _qt_has_wayland() -> bool:
    plugins = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    return any(plugins.glob("libqwayland*")) if plugins.is_dir() else False


def display_problem(environ: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why no window can be opened here, or None when one can."""
    env = os.environ if environ is None else environ
    platform = platform or sys.platform
    if platform.startswith(("win", "cygwin")) or platform == "darwin":
        return None
    display = env.get("DISPLAY", "")
    if not display:
        if env.get("WAYLAND_DISPLAY") and _qt_has_wayland():
            return None
        if env.get("WAYLAND_DISPLAY"):
            return "this OpenCV build shows windows through X11 only, and DISPLAY is not set (no XWayland?)"
        return "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"
    if not _x_socket_reachable(display):
        return f"cannot connect to the X display {display!r}"
    return None


def require_display() -> None:
    """Raise UsageError (one line, with advice) when a window cannot be opened."""
    problem = display_problem()
    if problem:
        raise UsageError(f"{problem}; {HEADLESS_HINT}")


def draw_overlay(image: np.ndarray, lines: Sequence[str], warning: str | None = None) -> np.ndarray:
    """A BGR copy of ``image`` with ``lines`` in white on a dark box at the top left.

    ``warning`` (e.g. "reconnecting (2/5)") goes on its own line in yellow.
    """
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    texts = list(lines) + ([warning] if warning else [])
    if not texts:
        return out
    height, width = out.shape[:2]
    scale = float(np.clip(width / 900.0, 0.35, 0.8))
    thickness = 1
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(t, font, scale, thickness)[0] for t in texts]
    line_h = max(h for _, h in sizes) + int(8 * scale) + 2
    box_w = min(width, max(w for w, _ in sizes) + 12)
    box_h = min(height, line_h * len(texts) + 8)
    region = out[:box_h, :box_w]
    region[:] = (region.astype(np.uint16) * 3 // 10).astype(np.uint8)  # darken, keep the picture visible
    for i, text in enumerate(texts):
        color = (0, 255, 255) if warning and i == len(texts) - 1 else (255, 255, 255)
        y = 4 + line_h * (i + 1) - int(4 * scale) - 2
        cv2.putText(out, text, (6, y), font, scale, color, thickness, cv2.LINE_AA)
    return out


def side_by_side(original: np.ndarray, color: np.ndarray) -> np.ndarray:
    """``original | colour`` as one BGR image (the original converted to BGR if gray)."""
    left = cv2.cvtColor(original, cv2.COLOR_GRAY2BGR) if original.ndim == 2 else original
    if left.shape[:2] != color.shape[:2]:
        left = cv2.resize(left, (color.shape[1], color.shape[0]), interpolation=cv2.INTER_AREA)
    return cv2.hconcat([left, color])


def save_snapshot(image: np.ndarray, folder: Path, prefix: str = "snapshot") -> Path:
    """Write ``image`` as a PNG named by the time into ``folder`` (temp file + rename); return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = folder / f"{prefix}-{stamp}-{n:03d}.png"
        if not path.exists():
            break
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise MediaError("cannot encode the snapshot as PNG")
    try:
        write_atomic(path, data.tobytes())
    except OSError as exc:
        raise MediaError(f"cannot write snapshot {path}: {exc.strerror}") from exc
    return path


def overlay_lines(status: LiveStatus) -> list[str]:
    """The overlay's text: fps, model ms, skip factor, latency, and the toggles."""
    lines = [
        f"fps {status.fps:4.1f}  model {status.model_s * 1000:.0f} ms",
        f"skip {status.skip}  latency {status.latency_s * 1000:.0f} ms",
    ]
    flags = ["smooth" if status.smoothing > 0 else "no smooth"] + (["PAUSED"] if status.paused else [])
    lines.append("  ".join(flags))
    return lines


class Window:
    """One OpenCV window, sized to the image; checks for a display before creating it.

    A ``LiveOutput``: ``show`` redraws the latest frame with the overlay every turn (so the
    overlay follows the keys while paused), ``events`` turns pressed keys into controls.
    """

    poll_s = 0.02  # cv2 handles GUI events only inside waitKey: come back often

    def __init__(self, title: str = "stream-colorize") -> None:
        require_display()
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        self._shown = False
        self._last: np.ndarray | None = None

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        """Display the newest frame (or the last again) with the overlay; a warning while the source is not playing."""
        if shown is not None:
            self._last = shown.image
        if self._last is not None:
            warning = None if status.source == "playing" else status.source
            self.display(draw_overlay(self._last, overlay_lines(status), warning))

    def events(self) -> list[Control]:
        """The key pressed during a 1 ms wait, as a control; quit when the window was closed."""
        action = self.poll(1)
        return [Control(action)] if action is not None else []

    def display(self, image: np.ndarray) -> None:
        """Display ``image`` (BGR uint8) as it is."""
        cv2.imshow(self.title, image)
        self._shown = True

    def poll(self, wait_ms: int = 1) -> Action | None:
        """Process GUI events for ``wait_ms``; the action of a pressed key, QUIT if the window was closed."""
        key = cv2.waitKey(max(1, wait_ms))
        if key != -1:
            action = KEY_ACTIONS.get(key & 0xFF)
            if action:
                return action
        if self._shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return Action.QUIT
        return None

    def close(self, ok: bool = True) -> None:
        """Destroy the window."""
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
