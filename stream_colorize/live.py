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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .build import build_temporal
from .config import TEMPERATURE_RANGE, TemporalSettings
from .engine import Colorizer
from .errors import ColorizeError
from .frames import Frame
from .hints import Hints, overlay
from .io.devices import SourceSpec
from .io.live_outputs import Action, Control, LiveOutput, LiveStatus, Recorder, Shown, StatusLines, TakesAudio
from .io.live_source import LiveSource
from .io.window import Window, save_snapshot, side_by_side
from .lab import merge_ab
from .live_stats import AutoSkip, LiveStats
from .references import HintSource
from .signals import deferred_signals
from .smoothers import Smoother
from .threads import GuardedThread, LeakyQueue

log = logging.getLogger("stream_colorize")
MAX_SMOOTH = 0.99  # the smoother's strength must stay below 1 (1 would freeze the colours)


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
    references: HintSource | None = None  # colour hints per frame, e.g. references.FixedCamera (a model with hints)


class LiveStage:
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
        self.temporal.hints = options.references
        self.side_by_side = options.side_by_side
        self._model_inbox: LeakyQueue[tuple[Frame, bool, Hints | None]] = LeakyQueue(1)
        self._lock = threading.Lock()
        self._ab: np.ndarray | None = None
        self._ab_cut = False
        self._ab_fresh = False
        self._stop = threading.Event()
        self._temperature: float | None = None  # asked for, set by the model thread before its next forward
        self.error: BaseException | None = None
        self.source_done = threading.Event()
        self._threads = [
            GuardedThread(self._color_loop, "live-colour", self._fail),
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
    def temperature(self) -> float:
        """The temperature asked for last (the model uses it from its next forward on)."""
        wanted = self._temperature
        return wanted if wanted is not None else self.colorizer.temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        # The model thread sets it between forwards: a backend may remake its session for it.
        self._temperature = value

    @property
    def finished(self) -> bool:
        """True when the source ended and every frame has gone through, or a thread failed."""
        return self._stop.is_set() or (self.source_done.is_set() and not len(self.inbox) and not len(self.outbox))

    def _model_loop(self) -> None:
        while not self._stop.is_set():
            item = self._model_inbox.get(timeout=0.1)
            if item is None:
                continue
            frame, cut, given = item
            wanted, self._temperature = self._temperature, None
            if wanted is not None and wanted != self.colorizer.temperature:
                self.colorizer.set_temperature(wanted)
            began = time.perf_counter()
            # without hints, the plain call: a stand-in engine (serve's shared model) takes no hints
            ab = (self.colorizer.predict_ab([frame.image], hints=[given]) if given
                  else self.colorizer.predict_ab([frame.image]))[0]  # fmt: skip
            elapsed = time.perf_counter() - began
            stats = self.stats
            stats.model_s = elapsed if stats.model_runs == 0 else 0.8 * stats.model_s + 0.2 * elapsed
            stats.model_runs += 1
            with self._lock:
                self._ab, self._ab_fresh = ab, True
                self._ab_cut = self._ab_cut or cut

    def _color_loop(self) -> None:
        zero: np.ndarray | None = None
        while not self._stop.is_set():
            frame = self.inbox.get(timeout=0.05)
            if frame is None:
                continue
            fps = self.fps or 30.0
            self.temporal.skipper.every = self.skip.update(self.stats.model_s, fps, self.inbox.dropped)
            cut, due = self.temporal.decide(frame.image)
            # a reference's hints, once a frame: the model gets them with the frame, the overlay below uses them
            given = self.temporal.hints(frame.index, frame.image) if self.temporal.hints is not None else None
            if due:
                self._model_inbox.put((frame, cut, given))
            with self._lock:
                ab, fresh, was_cut = self._ab, self._ab_fresh, self._ab_cut
                self._ab_fresh = self._ab_cut = False
            ab = self.temporal.step(frame.image, ab if fresh else None, fresh and was_cut)
            if ab is not None and given is not None:
                # a fixed camera's snapshot laid over at its own resolution, as the file pipeline does
                ab = overlay(ab, given)
            if ab is None:  # no prediction yet: gray
                if zero is None:
                    zero = np.zeros((2, 8, 8), np.float32)
                ab = zero
            color = merge_ab(frame.image, ab, self.colorizer.merge)
            image = side_by_side(frame.image, color) if self.side_by_side else color
            self.outbox.put(Shown(frame, image))


class Session:
    """A running session's state and the one place controls are applied, whichever output sent them."""

    def __init__(self, source: LiveSource, stage: LiveStage, options: LiveOptions) -> None:
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
            fps=stats.fps if self.paused else stats.fps_now(),  # paused: the picture (and its overlay) holds still
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
            temperature=stage.temperature,
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
        elif action == Action.SMOOTHING and control.value is not None:
            stage.temporal.strength = min(MAX_SMOOTH, max(0.0, float(control.value)))
        elif action == Action.SMOOTHING:
            stage.temporal.smoothing = not stage.temporal.smoothing if control.on is None else control.on
        elif action in (Action.SKIP_UP, Action.SKIP_DOWN):
            stage.skip.step(1 if action == Action.SKIP_UP else -1)
        elif action == Action.SKIP and control.value is not None:
            stage.skip.set(int(control.value) if control.value >= 1 else None)
        elif action == Action.TEMPERATURE and control.value is not None:
            low, high = TEMPERATURE_RANGE
            stage.temperature = min(high, max(low, float(control.value)))
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
    stage = LiveStage(colorizer, frames, options, 0.0)
    source.color = lambda: stage.side_by_side
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
