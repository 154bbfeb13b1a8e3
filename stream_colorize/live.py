"""Live colorization: source → colour stage (model in its own thread) → outputs (io/live_outputs.py).

    >>> spec = parse_source("lavfi:testsrc2=size=640x480:rate=30")
    >>> stats = run_live(spec, Colorizer(resolve_model("standin-tiny")), LiveOptions(headless=True, duration=5))
    >>> stats.latency_percentiles()                 # {'p50': ..., 'p95': ..., 'max': ...} in seconds

Latency first.  Every hand-over is a LeakyQueue (drop the oldest), so a slow stage makes frames
drop instead of piling up.  The model runs in a thread of its own on the newest frame it is given;
the colour stage merges *every* frame's own lightness with the latest ab (eased by the smoother),
so the picture keeps the source's rate and its latency does not depend on the model's speed —
only the colours lag.  The skip factor says how many frames pass between model submissions;
``auto`` keeps it at the model's time in frames, and raises it while the input queue drops frames
(the machine is not keeping up), lowering it again when there is room.

Each turn of the loop (``Session.turn``) hands the newest frame and a ``LiveStatus`` to every
output (the window or headless status lines, the recorder, any given in ``outputs``) and applies
the ``Control``s they send (keys today) in one place, ``Session.apply``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from .build import build_temporal
from .config import TemporalSettings
from .engine import Colorizer
from .errors import ColorizeError
from .frames import Frame
from .io.devices import SourceSpec
from .io.live_outputs import Action, Control, LiveOutput, LiveStatus, Recorder, Shown, StatusLines, TakesAudio
from .io.live_source import LiveSource
from .io.window import Window, save_snapshot, side_by_side
from .lab import merge_ab
from .signals import deferred_signals
from .temporal import Smoother
from .threads import GuardedThread, LeakyQueue

log = logging.getLogger("stream_colorize")
MAX_SKIP = 120


class AutoSkip:
    """The skip factor: fixed (``+``/``-`` adjust it) or automatic.

    Automatic: at least the model's time in frames (``ceil(model_s * fps)``), plus a pressure
    term that grows by one each time the input queue dropped frames since the last update and
    shrinks by one after ``relax_s`` without drops.
    """

    def __init__(self, fixed: int | None = None, relax_s: float = 2.0) -> None:
        self.auto = fixed is None
        self.value = max(1, fixed or 1)
        self.pressure = 0
        self.relax_s = relax_s
        self._last_drop_count = 0
        self._calm_since = time.monotonic()

    def update(self, model_s: float, fps: float, drops: int, now: float | None = None) -> int:
        """Recompute (when automatic) from the model's time, the source rate and the drop counter."""
        now = time.monotonic() if now is None else now
        if not self.auto:
            return self.value
        if drops > self._last_drop_count:
            self.pressure = min(self.pressure + 1, MAX_SKIP)
            self._calm_since = now
        elif self.pressure and now - self._calm_since >= self.relax_s:
            self.pressure -= 1
            self._calm_since = now
        self._last_drop_count = drops
        base = max(1, math.ceil(model_s * fps - 1e-6)) if fps > 0 and model_s > 0 else 1
        self.value = int(min(MAX_SKIP, base + self.pressure))
        return self.value

    def step(self, delta: int) -> int:
        """Manual change (the + and - keys): leaves automatic mode."""
        self.auto = False
        self.value = int(min(MAX_SKIP, max(1, self.value + delta)))
        return self.value

    def label(self) -> str:
        """``"3 (auto)"`` or ``"3"``."""
        return f"{self.value} (auto)" if self.auto else str(self.value)


@dataclass
class LiveStats:
    """What the user sees in the overlay, and what bench/live.py reports."""

    latencies: list[float] = field(default_factory=list)  # capture -> display, seconds, every shown frame
    model_s: float = 0.0  # moving average of one model forward
    model_runs: int = 0
    shown: int = 0
    _times: deque = field(default_factory=lambda: deque(maxlen=90))

    def mark_shown(self, frame: Frame, now: float | None = None) -> float:
        """Count a displayed frame; return its latency in seconds."""
        now = time.monotonic() if now is None else now
        latency = now - frame.captured
        self.latencies.append(latency)
        self._times.append(now)
        self.shown += 1
        return latency

    @property
    def fps(self) -> float:
        """Displayed frames per second over the last ~3 s."""
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def recent_latency(self, count: int = 30) -> float:
        """Mean latency of the last ``count`` shown frames (seconds)."""
        tail = self.latencies[-count:]
        return float(np.mean(tail)) if tail else 0.0

    def latency_percentiles(self, skip_first: int = 0) -> dict[str, float]:
        """p50, p95 and max latency in seconds (optionally leaving out a warm-up)."""
        data = np.asarray(self.latencies[skip_first:] or [0.0])
        return {"p50": float(np.percentile(data, 50)), "p95": float(np.percentile(data, 95)), "max": float(data.max())}


@dataclass
class LiveOptions:
    """Settings of a live session (the CLI flags)."""

    temporal: TemporalSettings = TemporalSettings(skip=None)  # skip None: auto, keeping up with the source
    side_by_side: bool = False
    headless: bool = False
    record: Path | None = None
    duration: float | None = None  # stop after this many seconds (None: until the end / q)
    snapshot_dir: Path = Path(".")
    print_every: float = 2.0  # seconds between headless status lines
    on_status: Callable[[str], None] | None = None  # gets them (the CLI prints them; the library never does)
    title: str = "stream-colorize"
    smoother: Smoother | None = None  # what eases ab between model runs (None: the one temporal.smoother names)


class ColourStage:
    """Two threads: the colour stage (merge every frame) and the model worker (newest frame only)."""

    def __init__(self, colorizer: Colorizer, inbox: LeakyQueue[Frame], options: LiveOptions, fps: float) -> None:
        self.colorizer = colorizer
        self.inbox = inbox
        self.outbox: LeakyQueue[Shown] = LeakyQueue(2)
        self.options = options
        self.fps = fps
        self.stats = LiveStats()
        self.skip = AutoSkip(options.temporal.skip)
        # The file pipeline's cut/skip/smooth decisions; the model's answer arrives asynchronously.
        self.temporal = build_temporal(options.temporal, options.smoother)
        self.side_by_side = options.side_by_side
        self._model_inbox: LeakyQueue[tuple[Frame, bool]] = LeakyQueue(1)
        self._lock = threading.Lock()
        self._ab: np.ndarray | None = None
        self._ab_cut = False
        self._ab_fresh = False
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.source_done = threading.Event()
        self._threads = [
            GuardedThread(self._colour_loop, "live-colour", self._fail),
            GuardedThread(self._model_loop, "live-model", self._fail),
        ]

    def _fail(self, exc: BaseException) -> None:
        """A thread failed: keep the error (``run_live`` re-raises it) and stop both."""
        self.error = exc
        self._stop.set()

    def start(self) -> None:
        """Start both threads."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop both threads (the model finishes its current forward first)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)

    @property
    def finished(self) -> bool:
        """True when the source ended and every frame has gone through, or a thread failed."""
        return self._stop.is_set() or (self.source_done.is_set() and not len(self.inbox) and not len(self.outbox))

    def _model_loop(self) -> None:
        while not self._stop.is_set():
            item = self._model_inbox.get(timeout=0.1)
            if item is None:
                continue
            frame, cut = item
            began = time.perf_counter()
            ab = self.colorizer.predict_ab([frame.image])[0]
            elapsed = time.perf_counter() - began
            stats = self.stats
            stats.model_s = elapsed if stats.model_runs == 0 else 0.8 * stats.model_s + 0.2 * elapsed
            stats.model_runs += 1
            with self._lock:
                self._ab, self._ab_fresh = ab, True
                self._ab_cut = self._ab_cut or cut

    def _colour_loop(self) -> None:
        zero: np.ndarray | None = None
        while not self._stop.is_set():
            frame = self.inbox.get(timeout=0.05)
            if frame is None:
                continue
            fps = self.fps or 30.0
            self.temporal.skipper.every = self.skip.update(self.stats.model_s, fps, self.inbox.dropped)
            cut, due = self.temporal.decide(frame.image)
            if due:
                self._model_inbox.put((frame, cut))
            with self._lock:
                ab, fresh, was_cut = self._ab, self._ab_fresh, self._ab_cut
                self._ab_fresh = self._ab_cut = False
            ab = self.temporal.step(frame.image, ab if fresh else None, fresh and was_cut)
            if ab is None:  # no prediction yet: gray
                if zero is None:
                    zero = np.zeros((2, 8, 8), np.float32)
                ab = zero
            colour = merge_ab(frame.image, ab, self.colorizer.merge)
            image = side_by_side(frame.image, colour) if self.side_by_side else colour
            self.outbox.put(Shown(frame, image))


class Session:
    """A running session's state and the one place controls are applied, whichever output sent them."""

    def __init__(self, source: LiveSource, stage: ColourStage, options: LiveOptions) -> None:
        self.source = source
        self.stage = stage
        self.options = options
        self.paused = False
        self.last: Shown | None = None
        self.began = time.monotonic()

    def status(self) -> LiveStatus:
        """This turn's numbers, the same for every output."""
        stats, stage = self.stage.stats, self.stage
        return LiveStatus(
            fps=stats.fps,
            model_s=stats.model_s,
            skip=stage.skip.label(),
            latency_s=stats.recent_latency(),
            dropped=stage.inbox.dropped,
            source=self.source.status,
            smoothing=stage.temporal.strength,
            paused=self.paused,
            side_by_side=stage.side_by_side,
            shown=stats.shown,
            elapsed=time.monotonic() - self.began,
        )

    def apply(self, control: Control) -> bool:
        """Do what ``control`` asks; False when it asks to quit."""
        action, stage = control.action, self.stage
        if action == Action.QUIT:
            return False
        if action == Action.PAUSE:
            self.paused = not self.paused if control.on is None else control.on
            self.source.paused.set() if self.paused else self.source.paused.clear()
        elif action == Action.SIDE_BY_SIDE:
            stage.side_by_side = not stage.side_by_side if control.on is None else control.on
        elif action == Action.SMOOTHING:
            stage.temporal.smoothing = not stage.temporal.smoothing if control.on is None else control.on
        elif action in (Action.SKIP_UP, Action.SKIP_DOWN):
            stage.skip.step(1 if action == Action.SKIP_UP else -1)
        elif action == Action.SNAPSHOT and self.last is not None:
            snapshot = save_snapshot(self.last.image, self.options.snapshot_dir)
            log.warning("snapshot saved to %s", snapshot)
        return True

    def turn(self, outputs: Sequence[LiveOutput], wait: float) -> bool:
        """Take the newest frame, hand it to every output, apply their controls; False when the session is over."""
        source, stage = self.source, self.stage
        if not source.running:
            stage.source_done.set()
            if source.error is not None:
                raise source.error
        if stage.error is not None:
            raise stage.error
        arrived = stage.outbox.get(timeout=wait)
        shown = None if self.paused else arrived
        if shown is not None:
            stage.stats.mark_shown(shown.frame)
            self.last = shown
        status = self.status()
        for output in outputs:
            output.show(shown, status)
        for output in outputs:
            if not all(self.apply(control) for control in output.events()):
                return False
        if self.options.duration is not None and status.elapsed >= self.options.duration:
            return False
        return not (stage.finished and arrived is None)


def close_outputs(outputs: Sequence[LiveOutput], ok: bool) -> None:
    """Close every output, all of them even when one fails; its error is raised after a good run."""
    error: ColorizeError | None = None
    with deferred_signals():  # a second Ctrl-C or SIGTERM must not cut the recording short
        for output in outputs:
            try:
                output.close(ok)
            except ColorizeError as exc:
                error = error or exc
    if error is not None and ok:
        raise error


def run_live(
    spec: SourceSpec,
    colorizer: Colorizer,
    options: LiveOptions,
    source: LiveSource | None = None,
    outputs: Sequence[LiveOutput] = (),
) -> LiveStats:
    """Run a live session until a quit control, the end of a file, ``options.duration`` or a fatal error.

    The outputs are the recorder (``options.record``), then ``outputs``, then the window (or,
    headless, the status lines to ``options.on_status``).  The window opens only after the source
    opened, so a bad source is one line.  Raises MediaError when the source is lost for good
    (after its retries).  Ctrl-C and SIGTERM still finish the recording.
    """
    frames: LeakyQueue[Frame] = LeakyQueue(2)
    if source is None:
        source = LiveSource(spec, frames)
    else:
        source.out = frames
    stage = ColourStage(colorizer, frames, options, 0.0)
    source.colour = lambda: stage.side_by_side
    active: list[LiveOutput] = [Recorder(options.record, source)] if options.record else []
    active += outputs
    listeners = [output for output in active if isinstance(output, TakesAudio)]
    if listeners:

        def on_audio(packet: av.Packet) -> None:
            for listener in listeners:
                listener.on_audio(packet)

        source.on_audio = on_audio
    source.open()
    stage.fps = source.fps
    if not options.headless:
        active.append(Window(options.title))
    elif options.on_status is not None:
        active.append(StatusLines(options.on_status, options.print_every))
    session = Session(source, stage, options)
    wait = min(output.poll_s for output in active) if active else 0.1
    ok = False
    try:
        source.start()
        stage.start()
        while session.turn(active, wait):
            pass
        ok = True
    except KeyboardInterrupt:
        ok = True
        raise
    finally:
        source.stop(timeout=1.0)
        stage.stop()
        close_outputs(active, ok)
    return stage.stats
