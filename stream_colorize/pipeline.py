"""Threads and bounded queues: source ! colorize ! merge ! sink, with stats and cancellation.

    >>> result = colorize_file("film.mkv", "film_colour.mkv", Settings(skip=2))
    >>> print(result.summary())
    >>> Pipeline(source, [Colorize(engine, Temporal()), Merge()], sink).run()   # the same, by hand

One thread per stage.  PyAV, cv2.dnn and cv2's image operations release the GIL, so the stages
overlap for real.  Items are ``Frame`` objects and ``av.Packet`` objects of copied streams; a
stage transforms frames and passes everything else through.  The end of the stream is a sentinel
that flows through every queue.  An exception in any stage stops all stages and is re-raised by
``run()`` in the caller, with its original traceback.  Ctrl-C in the caller's thread stops all
stages promptly; ``colorize_file`` then keeps what was encoded as ``name.partial.ext``.

Interfaces (duck-typed, so other front ends can plug in their own pieces):

* source: ``items()`` yields items; ``stop()`` makes ``items()`` end soon, from another thread.
* stage: ``process(item) -> iterable of items``; ``finish() -> iterable of items`` at the end.
* sink: ``write(item)``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .config import Settings
from .engine import Colorizer
from .errors import ColorizeError
from .io.sink import EncodeOptions, FileSink
from .io.source import Frame, MediaSource, SourceStats
from .lab import MergeMethod, merge_ab
from .limits import QUEUE_BYTES
from .signals import Interrupted, deferred_signals, signal_of
from .temporal import Temporal

_END = object()  # end-of-stream sentinel
SOURCE_STOP_WAIT = 2.0  # seconds an interrupted run waits for a source blocked in a read


class _Stopped(Exception):
    """Raised inside a stage thread when the pipeline is told to stop."""


class Source(Protocol):
    def items(self) -> Iterable[Any]: ...
    def stop(self) -> None: ...


class Stage(Protocol):
    def process(self, item: Any) -> Iterable[Any]: ...
    def finish(self) -> Iterable[Any]: ...


class Sink(Protocol):
    def write(self, item: Any) -> None: ...


# -- stages -------------------------------------------------------------------------------------


class Colorize:
    """Sets ``frame.ab``: the model (in batches of ``batch`` frames) plus skipping and smoothing."""

    def __init__(self, engine: Colorizer, temporal: Temporal | None = None, batch: int = 1) -> None:
        self.engine = engine
        self.temporal = temporal or Temporal()
        if self.temporal.model_size is None:  # reduce each frame once, to the network's input size
            self.temporal.model_size = engine.input_size
        self.batch = max(1, batch)
        self._frames: list[Frame] = []

    def _run(self) -> list[Frame]:
        frames, self._frames = self._frames, []
        self.temporal.assign(frames, self.engine.predict_ab)
        return frames

    def process(self, item: Any) -> Iterable[Any]:
        """Buffer frames into a batch; pass packets straight on."""
        if not isinstance(item, Frame):
            return (item,)
        self._frames.append(item)
        return self._run() if len(self._frames) >= self.batch else ()

    def finish(self) -> Iterable[Any]:
        """Colorize what is left in the batch."""
        return self._run() if self._frames else ()


class Merge:
    """Sets ``frame.output``: the frame's own lightness with its ab, BGR uint8 at full size."""

    def __init__(self, method: MergeMethod = "u8") -> None:
        self.method: MergeMethod = method

    def process(self, item: Any) -> Iterable[Any]:
        """Merge a frame; pass packets on."""
        if isinstance(item, Frame) and item.ab is not None:
            item.output = merge_ab(item.image, item.ab, self.method)
            item.ab = None
        return (item,)

    def finish(self) -> Iterable[Any]:
        return ()


# -- the runner ---------------------------------------------------------------------------------


@dataclass
class Counters:
    """Live counts, updated by the stage threads."""

    decoded: int = 0
    written: int = 0
    dropped: int = 0
    started: float = field(default_factory=time.perf_counter)
    busy: dict[str, float] = field(default_factory=dict)  # seconds each stage spent working

    @property
    def fps(self) -> float:
        """Frames written per second so far."""
        elapsed = time.perf_counter() - self.started
        return self.written / elapsed if elapsed > 0 else 0.0


class Pipeline:
    """Runs ``source ! stages... ! sink``, one thread each, bounded queues between them.

    ``leaky=True`` makes the first queue drop its oldest item instead of blocking the source
    (for live inputs, so latency never grows).
    """

    def __init__(
        self,
        source: Source,
        stages: list[Stage],
        sink: Sink,
        queue_size: int = 8,
        leaky: bool = False,
        queue_bytes: int = QUEUE_BYTES,
    ) -> None:
        self.source = source
        self.stages = stages
        self.sink = sink
        self.leaky = leaky
        self.queues: list[queue.Queue] = [queue.Queue(maxsize=queue_size) for _ in range(len(stages) + 1)]
        # Besides ``queue_size`` items, each queue holds at most ``queue_bytes`` of pictures (an 8K
        # frame is 100 MB in BGR); one item is always let in, so huge frames still flow.
        self.queue_bytes = queue_bytes
        self._held = [0] * len(self.queues)
        self._held_lock = threading.Lock()
        self.counters = Counters()
        self.error: BaseException | None = None
        self.interrupted = False
        self.source_stuck = False  # after an interrupt: the source thread is still in a read
        self._stop = threading.Event()

    # -- queue helpers honouring the stop flag ------------------------------------------------
    def _room(self, i: int, size: int) -> bool:
        with self._held_lock:
            if self._held[i] and self._held[i] + size > self.queue_bytes:
                return False
            self._held[i] += size
            return True

    def _release(self, i: int, size: int) -> None:
        with self._held_lock:
            self._held[i] -= size

    def _put(self, q: queue.Queue, item: Any, leaky: bool = False) -> None:
        i = self.queues.index(q)
        size = _nbytes(item)
        while size and not (leaky and item is not _END) and not self._room(i, size):
            if self._stop.is_set():
                raise _Stopped
            time.sleep(0.005)
        if leaky and size and item is not _END:
            with self._held_lock:
                self._held[i] += size
        while True:
            if self._stop.is_set():
                if size:
                    self._release(i, size)
                raise _Stopped
            try:
                if leaky and item is not _END:
                    q.put_nowait(item)
                else:
                    q.put(item, timeout=0.05)
                return
            except queue.Full:
                if leaky and item is not _END:
                    try:
                        self._release(i, _nbytes(q.get_nowait()))
                        self.counters.dropped += 1
                    except queue.Empty:
                        pass

    def _get(self, q: queue.Queue) -> Any:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                item = q.get(timeout=0.05)
            except queue.Empty:
                continue
            size = _nbytes(item)
            if size:
                self._release(self.queues.index(q), size)
            return item

    # -- thread bodies --------------------------------------------------------------------------
    def _guard(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except _Stopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - any failure stops every stage
                if self.error is None:
                    self.error = exc
                self.stop()

        return run

    def _read(self) -> None:
        out = self.queues[0]
        busy = 0.0
        mark = time.perf_counter()
        for item in self.source.items():
            busy += time.perf_counter() - mark
            self.counters.busy["source"] = busy
            if isinstance(item, Frame):
                self.counters.decoded += 1
            self._put(out, item, leaky=self.leaky)
            mark = time.perf_counter()
        self._put(out, _END)

    def _stage(self, i: int) -> None:
        stage, inq, outq = self.stages[i], self.queues[i], self.queues[i + 1]
        name = f"{i}:{type(stage).__name__.lower()}"
        self.counters.busy[name] = 0.0
        while True:
            item = self._get(inq)
            mark = time.perf_counter()
            results = list(stage.finish() if item is _END else stage.process(item))
            self.counters.busy[name] += time.perf_counter() - mark
            for result in results:
                self._put(outq, result)
            if item is _END:
                self._put(outq, _END)
                return

    def _write(self) -> None:
        inq = self.queues[-1]
        while True:
            item = self._get(inq)
            if item is _END:
                return
            mark = time.perf_counter()
            self.sink.write(item)
            self.counters.busy["sink"] = self.counters.busy.get("sink", 0.0) + time.perf_counter() - mark
            if isinstance(item, Frame):
                self.counters.written += 1

    def stop(self) -> None:
        """Stop every stage soon (thread-safe); queued items are dropped."""
        self._stop.set()
        self.source.stop()

    def run(self, on_tick: Callable[[Counters], None] | None = None, tick: float = 0.2) -> Counters:
        """Run to the end.  Re-raises a stage's exception; on Ctrl-C stops all stages, sets
        ``interrupted`` and re-raises KeyboardInterrupt once every thread has ended."""
        bodies = [self._read, *(lambda i=i: self._stage(i) for i in range(len(self.stages))), self._write]
        names = ["source", *(type(s).__name__.lower() for s in self.stages), "sink"]
        threads = [threading.Thread(target=self._guard(b), name=f"sc-{n}", daemon=True) for b, n in zip(bodies, names)]
        self.counters.started = time.perf_counter()
        for t in threads:
            t.start()
        last_tick = 0.0
        try:
            while any(t.is_alive() for t in threads):
                threads[-1].join(0.05)
                if on_tick is not None and time.perf_counter() - last_tick >= tick:
                    last_tick = time.perf_counter()
                    on_tick(self.counters)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop()
            for t in threads[1:]:
                t.join()
            # The source may be blocked in a read (a pipe, a stalled stream): give it a moment,
            # then leave it; the caller must not close the input under it (``source_stuck``).
            threads[0].join(SOURCE_STOP_WAIT)
            self.source_stuck = threads[0].is_alive()
            raise
        finally:
            self.stop()
        if on_tick is not None:
            on_tick(self.counters)
        if self.error is not None:
            raise self.error
        return self.counters


def _nbytes(item: Any) -> int:
    """Bytes of picture data an item holds (0 for packets and the end marker)."""
    if not isinstance(item, Frame):
        return 0
    return sum(a.nbytes for a in (item.image, item.ab, item.output) if a is not None)


# -- the whole job ------------------------------------------------------------------------------


@dataclass
class Result:
    """What ``colorize_file`` did."""

    input: str
    output: Path | None
    frames: int
    seconds: float
    model_runs: int
    source: SourceStats
    interrupted: bool = False
    busy: dict[str, float] = field(default_factory=dict)  # seconds each stage worked (see Counters)
    dropped: int = 0  # damaged packets of copied streams (audio, subtitles) the output could not take

    @property
    def fps(self) -> float:
        """Frames per second over the whole run."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def size(self) -> int:
        """Output size in bytes (0 when nothing was written)."""
        return self.output.stat().st_size if self.output is not None and self.output.exists() else 0

    def summary(self) -> str:
        """One line: frames, fps, model runs, skipped/corrupt counts, output and its size."""
        parts = [f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} fps)"]
        reused = self.frames - self.model_runs
        if reused > 0:
            parts.append(f"model on {self.model_runs}, reused on {reused}")
        if self.source.corrupt:
            parts.append(f"{self.source.corrupt} undecodable video packets skipped")
        if self.source.damaged:
            parts.append(f"{self.source.damaged} frames decoded from damaged data")
        if self.dropped:
            parts.append(f"{self.dropped} damaged audio/subtitle packets dropped")
        if self.source.truncated:
            parts.append(self.source.note or "input ended early")
        size = self.size
        if self.output is not None:
            parts.append(f"-> {self.output} ({_human(size)})")
        return "; ".join(parts)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


class PipelineInterrupted(Interrupted):
    """Ctrl-C (or SIGTERM/SIGHUP, see ``signals``) during ``colorize_file``; ``result.output`` is
    the partial file (or None) and ``signum`` the signal."""

    def __init__(self, result: Result, signum: int = 2) -> None:
        super().__init__(signum)
        self.result = result


def expected_frames(source: MediaSource, settings: Settings) -> int | None:
    """Frames the run will write, for a progress bar: the header's count, or duration x rate
    (Matroska and others store no count), cut to ``-ss``/``-to``/``-t``; None when unknown."""
    info = source.info
    rate = float(info.rate) if info.rate else None
    length = info.frames / rate if info.frames and rate else info.duration
    if length is None or rate is None:
        return info.frames or None
    begin = min(settings.start or 0.0, length)
    finish = length if settings.end is None else min(settings.end, length)
    if settings.duration is not None:
        finish = min(finish, begin + settings.duration)
    return max(0, round((finish - begin) * rate))


def encode_options(settings: Settings) -> EncodeOptions:
    """The sink's options from the settings."""
    return EncodeOptions(
        codec=settings.codec,
        crf=settings.crf,
        preset=settings.preset,
        pix_fmt=settings.pix_fmt,
        audio_codec=settings.audio_codec,
        subtitles=settings.subtitles,
    )


def build_engine(settings: Settings) -> Colorizer:
    """Load the model the settings name on the device they ask for."""
    from .models import resolve_model

    return Colorizer(
        resolve_model(settings.model),
        device=settings.device,
        temperature=settings.temperature,
        threads=settings.threads,
        batch_size=settings.batch,
        backend=settings.backend,
    )


def colorize_file(
    input: str | Path,
    output: str | Path,
    settings: Settings | None = None,
    engine: Colorizer | Callable[[], Colorizer] | None = None,
    on_tick: Callable[[Counters], None] | None = None,
    on_start: Callable[[MediaSource], None] | None = None,
    overwrite: bool = True,
) -> Result:
    """Colorize one video file or URL into ``output``; see the module docstring.

    ``overwrite=False`` never replaces a file that appeared at ``output`` while this ran (the
    result is kept beside it and MediaError says where).

    Raises ColorizeError subclasses for bad inputs and outputs, the stage's own exception for
    anything unexpected, and PipelineInterrupted (a KeyboardInterrupt) on Ctrl-C.
    """
    settings = settings or Settings()
    wanted = {"audio": settings.audio_codec != "none", "subtitle": settings.subtitles, "data": True}
    copy = tuple(kind for kind, keep in wanted.items() if keep)
    source = MediaSource(input, duration=settings.duration, copy_kinds=copy, start=settings.start, end=settings.end)
    sink: FileSink | None = None
    source_open = True
    outcome = "failed"
    started = time.perf_counter()
    temporal = Temporal(
        skip=settings.skip,
        smooth=settings.smooth_strength if settings.smooth else 0.0,
        cut_threshold=settings.scene_cut,
    )
    try:
        sink = FileSink(output, source.info, source.copy_streams, encode_options(settings), overwrite)
        if engine is None:
            engine = build_engine(settings)
        elif not isinstance(engine, Colorizer):
            engine = engine()  # a factory: load the model only once the input is known to be good
        stages: list[Stage] = [Colorize(engine, temporal, settings.batch), Merge(engine.merge)]
        pipeline = Pipeline(source, stages, sink, queue_size=settings.queue_size)
        if on_start is not None:
            on_start(source)
        started = time.perf_counter()
        try:
            pipeline.run(on_tick)
        except KeyboardInterrupt:
            outcome = "partial"
            if pipeline.source_stuck:
                source_open = False  # never close a container another thread is reading
            raise
        outcome = "done"
    except KeyboardInterrupt as exc:
        path = None
        with deferred_signals():  # a second Ctrl-C must not cut the partial file in half
            if sink is not None:
                try:
                    path = sink.close(outcome if sink.frames else "failed")
                except ColorizeError:
                    path = None
            sink = None
            if source_open:
                source.close()
                source_open = False
        frames = 0 if path is None else sink_frames_or(path)
        result = Result(
            str(input), path, frames, time.perf_counter() - started, temporal.model_runs, source.stats, True
        )
        raise PipelineInterrupted(result, signal_of(exc)) from None
    finally:
        with deferred_signals():
            final = sink.close(outcome) if sink is not None else None
            if source_open:
                source.close()
    frames = sink.frames if sink is not None else 0
    dropped = sink.dropped if sink is not None else 0
    elapsed = time.perf_counter() - started
    busy = pipeline.counters.busy
    return Result(str(input), final, frames, elapsed, temporal.model_runs, source.stats, busy=busy, dropped=dropped)


def sink_frames_or(path: Path) -> int:
    """Video packets in a finished file (what a partial file really holds)."""
    try:
        import av

        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(video=0) if packet.size)
    except Exception:  # noqa: BLE001 - only used for the message
        return 0


def frames_of(items: Iterable[Any]) -> Iterator[np.ndarray]:
    """The output images among a stream of items (for callers running stages by hand)."""
    for item in items:
        if isinstance(item, Frame) and item.output is not None:
            yield item.output
