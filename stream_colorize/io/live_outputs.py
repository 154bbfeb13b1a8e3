"""Where a live session's frames go, and how the user steers it: one protocol for every output.

    >>> outputs = [Recorder(Path("out.mp4"), source), StatusLines(print, every=2.0)]
    >>> for output in outputs:                     # each turn of the live loop
    ...     output.show(shown, status)             # the frame newly shown (or None) and the numbers
    ...     controls += output.events()            # Control(Action.PAUSE, True), Control(Action.QUIT), ...
    >>> for output in outputs:
    ...     output.close(ok)                       # the recorder commits its file (partial unless ok)

``live.run_live`` is the only consumer: it calls ``show`` and ``events`` on every output in each
turn and applies every ``Control`` in one place, whichever output sent it.  The window
(``io/window.py``, keys), the headless status lines and the recorder (``FileSink``) are the outputs
today; a browser view or a network restream is another class with these three methods.

The module sits in ``io/`` beside the window and the sink it adapts, so ``live.py`` depends on the
outputs and never the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import av
import numpy as np

from ..config import EncodeSettings
from ..frames import Frame
from ..threads import LeakyQueue
from .info import VideoInfo
from .sink import FileSink, Outcome

if TYPE_CHECKING:
    from .live_source import LiveSource

log = logging.getLogger("stream_colorize")


@dataclass
class Shown:
    """A finished frame: the composed picture for display and its source frame."""

    frame: Frame
    image: np.ndarray  # BGR: colour, or original | colour


@dataclass(frozen=True)
class LiveStatus:
    """What a session looks like this turn: every output gets the same numbers."""

    fps: float  # shown frames per second over the last ~3 s
    model_s: float  # one model forward (moving average)
    skip: str  # the skip factor's label, "3 (auto)" or "3"
    latency_s: float  # capture to display, mean of the last frames
    dropped: int  # frames the colour stage's input dropped so far
    source: str  # the source's state: "playing", "reconnecting (1/5)", "ended", ...
    smoothing: float  # the ab smoother's strength (0: off)
    paused: bool
    side_by_side: bool
    shown: int  # frames shown so far
    elapsed: float  # seconds since the session started
    temperature: float = 0.0  # the model's annealing temperature (colour strength: lower is bolder)


class Action(StrEnum):
    """What a user can ask of a live session (the values are the window's key action names)."""

    QUIT = "quit"
    PAUSE = "pause"
    SIDE_BY_SIDE = "side"
    SMOOTHING = "smooth"
    SKIP_UP = "skip+"
    SKIP_DOWN = "skip-"
    SNAPSHOT = "snapshot"
    SKIP = "skip"  # value: the skip factor (0: automatic)
    TEMPERATURE = "temperature"  # value: the annealing temperature


@dataclass(frozen=True)
class Control:
    """One user request.  ``on`` sets a switch (PAUSE, SIDE_BY_SIDE, SMOOTHING); None toggles it.

    A key press toggles (``Control(Action.PAUSE)``); a button that shows its state sets it
    (``Control(Action.PAUSE, True)``), so two viewers cannot undo each other's press.  A slider
    sends a number in ``value``: SMOOTHING's strength, SKIP's factor, TEMPERATURE's temperature.
    """

    action: Action
    on: bool | None = None
    value: float | None = None


class LiveOutput(Protocol):
    """A live session's output: it sees every turn, may send controls, and is closed at the end."""

    @property
    def poll_s(self) -> float:
        """The longest the loop may wait for a frame before the next turn (a window wants ~20 ms)."""
        ...

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        """Called once a turn from the loop's thread; ``shown`` is the frame newly shown, else None.

        None comes while paused and between frames; an output that redraws keeps its last frame.
        """
        ...

    def events(self) -> list[Control]:
        """The controls the user sent through this output since the last call (usually none)."""
        ...

    def close(self, ok: bool) -> None:
        """The session is over: release everything (``ok`` False: it failed; keep only partial work)."""
        ...


@runtime_checkable
class TakesAudio(Protocol):
    """An output that also wants the source's audio packets (called from the source's thread)."""

    def on_audio(self, packet: av.Packet) -> None:
        """Keep one audio packet."""
        ...


def status_line(status: LiveStatus) -> str:
    """fps, model time, skip, latency, drops and the source's state, for a headless session."""
    return (
        f"fps {status.fps:5.1f}  model {status.model_s * 1000:6.1f} ms  skip {status.skip}  "
        f"latency {status.latency_s * 1000:6.1f} ms  dropped {status.dropped}  {status.source}"
    )


class StatusLines:
    """Headless: a ``status_line`` every ``every`` seconds to ``on_status`` (the CLI prints them)."""

    poll_s = 0.1

    def __init__(self, on_status: Callable[[str], None], every: float = 2.0) -> None:
        self.on_status = on_status
        self.every = every
        self._next = every

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        """Send a line when one is due."""
        if status.elapsed >= self._next:
            self.on_status(status_line(status))
            self._next = status.elapsed + self.every

    def events(self) -> list[Control]:
        """No controls: a terminal line has no keys."""
        return []

    def close(self, ok: bool) -> None:
        """Nothing to release."""


class Recorder:
    """``--record``: the file pipeline's encoder fed with what is shown (and the source's audio)."""

    poll_s = 0.1

    def __init__(self, path: Path, source: LiveSource) -> None:
        self.path = path
        self.source = source
        self._audio: LeakyQueue[av.Packet] = LeakyQueue(4096)
        self._opts = EncodeSettings(preset="veryfast", crf=20)
        self.sink: FileSink | None = None
        self.written: Path | None = None  # where the file ended up, once closed

    def on_audio(self, packet: av.Packet) -> None:
        """Called from the source thread: keep audio packets until the main thread muxes them."""
        self._audio.put(packet)

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        """Encode a newly shown frame (and mux the audio read so far)."""
        if shown is not None:
            self.write(shown)

    def events(self) -> list[Control]:
        """No controls."""
        return []

    def write(self, shown: Shown) -> None:
        """Encode one shown frame (and mux the audio read so far)."""
        if self.sink is None:
            audio = self.source.audio_stream
            tb = shown.frame.time_base or Fraction(1, 90000)
            rate = Fraction(self.source.fps).limit_denominator(1001) if self.source.fps else Fraction(30)
            height, width = shown.image.shape[:2]
            info = VideoInfo(width, height, tb, rate, None, 0.0, 8, None, 0, None, "live")
            self.sink = FileSink(self.path, info, [audio] if audio is not None else [], self._opts)
        frame = shown.frame
        self.sink.write(Frame(frame.index, frame.image, frame.pts, frame.time_base, output=shown.image))
        while True:
            packet = self._audio.get(timeout=0)
            if packet is None:
                break
            self.sink.write(packet)

    def close(self, ok: bool) -> None:
        """Finish the file (renamed to its final name only when ``ok``); nothing when no frame came."""
        if self.sink is None:
            return
        self.written = self.sink.commit(Outcome.DONE if ok else Outcome.PARTIAL)
        if self.written is not None:
            log.warning("recorded %s", self.written)
