"""Live colorization: source → colour stage (model in its own thread) → window or headless sink.

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
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .engine import Colorizer
from .errors import ColorizeError
from .frames import Frame
from .io.devices import SourceSpec
from .io.live_source import LiveSource
from .io.sink import EncodeOptions, FileSink, Outcome
from .io.source import VideoInfo
from .io.window import Window, draw_overlay, save_snapshot, side_by_side
from .lab import merge_ab
from .signals import deferred_signals
from .temporal import DEFAULT_CUT_THRESHOLD, DEFAULT_SMOOTH, Temporal
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
class Shown:
    """A finished frame: the composed picture for display and its source frame."""

    frame: Frame
    image: np.ndarray  # BGR: colour, or original | colour


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

    skip: int | None = None  # None: auto
    smooth: float = DEFAULT_SMOOTH
    scene_cut: float = DEFAULT_CUT_THRESHOLD
    smoothing: bool = True
    side_by_side: bool = False
    headless: bool = False
    record: Path | None = None
    duration: float | None = None  # stop after this many seconds (None: until the end / q)
    snapshot_dir: Path = Path(".")
    print_every: float = 2.0  # seconds between headless status lines
    on_status: Callable[[str], None] | None = None  # gets them (the CLI prints them; the library never does)
    title: str = "stream-colorize"


class ColourStage:
    """Two threads: the colour stage (merge every frame) and the model worker (newest frame only)."""

    def __init__(self, colorizer: Colorizer, inbox: LeakyQueue[Frame], options: LiveOptions, fps: float) -> None:
        self.colorizer = colorizer
        self.inbox = inbox
        self.outbox: LeakyQueue[Shown] = LeakyQueue(2)
        self.options = options
        self.fps = fps
        self.stats = LiveStats()
        self.skip = AutoSkip(options.skip)
        # The file pipeline's cut/skip/smooth decisions; the model's answer arrives asynchronously.
        smooth = options.smooth if options.smoothing else 0.0
        self.temporal = Temporal(skip=self.skip.value, smooth=smooth, cut_threshold=options.scene_cut)
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

    def set_smoothing(self, on: bool) -> None:
        """Turn ab smoothing on or off (the t key)."""
        self.temporal.smoother.strength = (self.options.smooth or DEFAULT_SMOOTH) if on else 0.0

    @property
    def smoothing(self) -> bool:
        """Whether ab smoothing is on."""
        return self.temporal.smoother.strength > 0.0

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


class Recorder:
    """``--record``: the file pipeline's encoder fed with what is shown (and the source's audio)."""

    def __init__(self, path: Path, source: LiveSource) -> None:
        self.path = path
        self.source = source
        self._audio: LeakyQueue[av.Packet] = LeakyQueue(4096)
        self._opts = EncodeOptions(preset="veryfast", crf=20)
        self.sink: FileSink | None = None

    def on_audio(self, packet: av.Packet) -> None:
        """Called from the source thread: keep audio packets until the main thread muxes them."""
        self._audio.put(packet)

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

    def close(self, ok: bool = True) -> Path | None:
        """Finish the file (renamed to its final name only when ``ok``)."""
        if self.sink is None:
            return None
        return self.sink.commit(Outcome.DONE if ok else Outcome.PARTIAL)


def status_line(stats: LiveStats, stage: ColourStage, source: LiveSource) -> str:
    """fps, model time, skip, latency, drops and the source's state, for a headless session."""
    lat = stats.recent_latency()
    return (
        f"fps {stats.fps:5.1f}  model {stats.model_s * 1000:6.1f} ms  skip {stage.skip.label()}  "
        f"latency {lat * 1000:6.1f} ms  dropped {stage.inbox.dropped}  {source.status}"
    )


def overlay_lines(stats: LiveStats, stage: ColourStage, paused: bool) -> list[str]:
    """The overlay's text: fps, model ms, skip factor, latency, and the toggles."""
    lines = [
        f"fps {stats.fps:4.1f}  model {stats.model_s * 1000:.0f} ms",
        f"skip {stage.skip.label()}  latency {stats.recent_latency() * 1000:.0f} ms",
    ]
    flags = ["smooth" if stage.smoothing else "no smooth"] + (["PAUSED"] if paused else [])
    lines.append("  ".join(flags))
    return lines


def run_live(
    spec: SourceSpec, colorizer: Colorizer, options: LiveOptions, source: LiveSource | None = None
) -> LiveStats:
    """Run a live session until q/Esc, the end of a file, ``options.duration`` or a fatal error.

    Opens the window (unless headless) only after the source opened, so a bad source is one line.
    Raises MediaError when the source is lost for good (after its retries).
    """
    frames: LeakyQueue[Frame] = LeakyQueue(2)
    if source is None:
        source = LiveSource(spec, frames)
    else:
        source.out = frames
    stage_holder: dict[str, ColourStage] = {}
    source.colour = lambda: bool(stage_holder and stage_holder["s"].side_by_side)
    recorder = Recorder(options.record, source) if options.record else None
    if recorder is not None:
        source.on_audio = recorder.on_audio
    source.open()
    stage = ColourStage(colorizer, frames, options, source.fps)
    stage_holder["s"] = stage
    window = None if options.headless else Window(options.title)
    stats = stage.stats
    ok = False
    last: Shown | None = None
    paused = False
    began = time.monotonic()
    next_print = began + options.print_every
    try:
        source.start()
        stage.start()
        while True:
            if not source.running:
                stage.source_done.set()
                if source.error is not None:
                    raise source.error
            if stage.error is not None:
                raise stage.error
            shown = stage.outbox.get(timeout=0.02 if window else 0.1)
            if shown is not None and not paused:
                stats.mark_shown(shown.frame)
                last = shown
                if recorder is not None:
                    recorder.write(shown)
            now = time.monotonic()
            if window is not None:
                if last is not None:
                    warning = None if source.status == "playing" else source.status
                    window.show(draw_overlay(last.image, overlay_lines(stats, stage, paused), warning))
                action = window.poll(1)
                if action == "quit":
                    break
                if action == "pause":
                    paused = not paused
                    source.paused.set() if paused else source.paused.clear()
                elif action == "side":
                    stage.side_by_side = not stage.side_by_side
                elif action == "smooth":
                    stage.set_smoothing(not stage.smoothing)
                elif action in ("skip+", "skip-"):
                    stage.skip.step(1 if action == "skip+" else -1)
                elif action == "snapshot" and last is not None:
                    snapshot = save_snapshot(last.image, options.snapshot_dir)
                    log.warning("snapshot saved to %s", snapshot)
            elif now >= next_print:
                if options.on_status is not None:
                    options.on_status(status_line(stats, stage, source))
                next_print = now + options.print_every
            if options.duration is not None and now - began >= options.duration:
                break
            if stage.finished and shown is None:
                break
        ok = True
    except KeyboardInterrupt:
        ok = True
        raise
    finally:
        source.stop(timeout=1.0)
        stage.stop()
        if window is not None:
            window.close()
        if recorder is not None:
            with deferred_signals():  # a second Ctrl-C or SIGTERM must not cut the recording short
                try:
                    path = recorder.close(ok)
                    if path is not None:
                        log.warning("recorded %s", path)
                except ColorizeError:
                    if ok:
                        raise
    return stats
