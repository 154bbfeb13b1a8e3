"""``serve``'s cameras: each a live session of its own on a thread, over the one shared model.

    >>> camera = Camera(config.cameras["door"], shared, max_viewers=10, on_note=print)
    >>> camera.start()                    # connects in its thread: a bad source is "down", not an error
    >>> camera.state, camera.status()     # "playing", "reconnecting (1/5)", "down", ... ; the JSON
    >>> camera.stop()

A camera is ``live``'s session (``live.LiveSource`` → ``LiveStage`` → ``Session``) with the web
view's frame hub and its ``--output`` streams as outputs.  Its source reconnects as ``live``'s
does; when the source gives up (or a file ends) the camera is *down*: it says so once, shows it on
the page and in the status, and opens the source again ``restart_after`` seconds later, forever.
Nothing a camera does reaches another one: its errors end its own session only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import cast

from ..engine import Colorizer
from ..errors import ColorizeError
from ..frames import Frame
from ..io.live_outputs import Action, Control, LiveOutput, LiveStatus, Shown
from ..io.live_source import LiveSource
from ..io.stream_output import StreamOutput
from ..live import LiveOptions, LiveStage, Session
from ..threads import LeakyQueue
from .config import CameraConfig
from .hub import FrameHub
from .metrics import ServeCounters, status_json
from .shared_model import SharedModel

log = logging.getLogger("stream_colorize")


class CameraView:
    """A camera's web output: the newest frame for its hub, its last status, the viewers' controls."""

    poll_s = 0.05

    def __init__(self, max_viewers: int, quality: int = 80) -> None:
        self.counters = ServeCounters(max_viewers=max_viewers)
        self.hub = FrameHub(quality, wanted=lambda: self.counters.viewers > 0)
        self.status: LiveStatus | None = None
        self.controls: deque[Control] = deque(maxlen=64)
        self.quit = threading.Event()

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        """Keep the status and hand a new frame to the hub (a reference swap)."""
        self.status = status
        if shown is not None:
            self.hub.put(shown)

    def events(self) -> list[Control]:
        """The viewers' controls since the last turn; QUIT once the camera is stopping."""
        if self.quit.is_set():
            return [Control(Action.QUIT)]
        out: list[Control] = []
        while self.controls:
            out.append(self.controls.popleft())
        return out

    def close(self, ok: bool) -> None:
        """Nothing: the hub outlives a session (the server stops it)."""


class Camera:
    """One ``[cameras.NAME]``: its session thread, restarted after the source is lost, and its outputs."""

    def __init__(self, config: CameraConfig, model: SharedModel, max_viewers: int = 10,
                 on_note: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.config = config
        self.name = config.name
        self.model = model
        self.view = CameraView(max_viewers)
        self.on_note = on_note or (lambda line: log.warning("%s", line))
        self.error: str | None = None  # why it is down (None while it plays)
        self.starts = 0  # sessions that opened their source
        self.down_since: float | None = None
        self._state = "starting"
        self._session: Session | None = None
        self._outputs: list[StreamOutput] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)

    # -- life --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the outputs and the session thread (the source opens there)."""
        note = self.on_note
        self._outputs = [
            StreamOutput(target, self._fps, on_note=lambda line: note(f"camera {self.name}: {line}"))
            for target in self.config.outputs
        ]
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the session to end (returns at once; ``stop`` waits for it)."""
        self._stop.set()
        self.view.quit.set()

    def stop(self, timeout: float = 10.0) -> None:
        """End the session (its source, stage and outputs); returns within about ``timeout``."""
        self.request_stop()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        for output in self._outputs:
            output.close(True)

    @property
    def running(self) -> bool:
        """True while the session thread lives."""
        return self._thread.is_alive()

    def _fps(self) -> float | None:
        session = self._session
        return session.source.fps if session is not None else None

    # -- state -------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``starting``, ``connecting``, ``playing``, ``reconnecting (n/m)``, ``down`` or ``stopped``."""
        session = self._session
        if session is not None and self._state == "playing":
            return session.source.status
        return self._state

    @property
    def up(self) -> bool:
        """True while frames come from the source."""
        return self.state == "playing"

    def status(self) -> dict:
        """The camera's ``/api/status`` entry."""
        session = self._session
        live = self.view.status if session is not None else None
        body = status_json(live, self.view.counters, list(self.view.hub.encode_s))
        body.update(
            camera=self.name,
            input=self.config.spec.display_name,
            state=self.state,
            up=self.up,
            error=self.error,
            starts=self.starts,
            down_s=round(time.monotonic() - self.down_since, 1) if self.down_since is not None else 0.0,
            model_runs=session.stage.stats.model_runs if session is not None else 0,
            outputs=[{"url": out.target.label, "state": out.state, "sent": out.sent} for out in self._outputs],
        )
        return body

    # -- the session thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._play()
                reason = None if self._stop.is_set() else "the source ended"
            except ColorizeError as exc:
                reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - one camera's bug must not end the others
                log.debug("camera %s", self.name, exc_info=True)
                reason = f"unexpected {type(exc).__name__}: {exc}"
            if reason is not None and not self._stop.is_set():
                self._down(reason)
            if self._stop.wait(self.config.restart_after):
                break
        self._state = "stopped"

    def _down(self, reason: str) -> None:
        first, again = self.down_since is None, reason != self.error
        self._state, self.error = "down", reason
        if first:
            self.down_since = time.monotonic()
            self.on_note(f"camera {self.name} is down: {reason}; trying again every {self.config.restart_after:g} s")
        elif again:  # the same reason each try would fill a journal over days
            self.on_note(f"camera {self.name} is still down: {reason}")

    def _play(self) -> None:
        """One session: open the source, run turns until it is lost or the camera stops."""
        config = self.config
        frames: LeakyQueue[Frame] = LeakyQueue(2)
        source = LiveSource(config.spec, frames, retries=config.retries, open_timeout=config.open_timeout,
                            read_timeout=config.read_timeout)  # fmt: skip
        options = LiveOptions(temporal=config.temporal, side_by_side=config.side_by_side, headless=True)
        # CameraModel has what LiveStage uses of a Colorizer: predict_ab, merge and the temperature
        stage = LiveStage(cast(Colorizer, self.model.for_camera()), frames, options, 0.0)
        source.color = lambda: stage.side_by_side
        if self._state != "down":
            self._state = "connecting"
        source.open()
        stage.fps = source.fps
        session = Session(source, stage, options)
        outputs: list[LiveOutput] = [self.view, *self._outputs]
        self.starts += 1
        if self.down_since is not None:
            self.on_note(f"camera {self.name} is playing again")
        self.error, self.down_since = None, None
        self._session, self._state = session, "playing"
        try:
            source.start()
            stage.start()
            while session.turn(outputs, self.view.poll_s):
                pass
        finally:
            source.stop(timeout=1.0)
            stage.stop()
            self._session = None
            if self._state == "playing":
                self._state = "connecting"  # until _run says down (or stopped)
