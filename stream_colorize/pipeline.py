"""Threads and bounded queues: source ! colorize ! merge ! sink, with stats and cancellation.

    >>> Pipeline(source, [Colorize(engine, Temporal()), Merge()], sink).run()

One thread per stage.  PyAV, cv2.dnn and cv2's image operations release the GIL, so the stages
overlap for real.  Items are ``Frame`` objects and ``av.Packet`` objects of copied streams; a
stage transforms frames and passes everything else through.  The end of the stream is a sentinel
that flows through every queue.  An exception in any stage stops all stages and is re-raised by
``run()`` in the caller, with its original traceback.  Ctrl-C in the caller's thread stops all
stages promptly; ``video.colorize_file`` then keeps what was encoded as ``name.partial.ext``.

Interfaces (duck-typed, so other front ends can plug in their own pieces):

* source: ``items()`` yields items; ``stop()`` makes ``items()`` end soon, from another thread.
* stage: ``process(item) -> iterable of items``; ``finish() -> iterable of items`` at the end.
* sink: ``write(item)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .engine import Colorizer
from .frames import Frame
from .lab import MergeMethod, merge_ab, merge_ab_i420
from .limits import QUEUE_BYTES
from .temporal import Temporal
from .threads import BoundedQueue, GuardedThread, Stopped

_END = object()  # end-of-stream sentinel
SOURCE_STOP_WAIT = 2.0  # seconds an interrupted run waits for a source blocked in a read


class Source(Protocol):
    def items(self) -> Iterable[Any]: ...
    def stop(self) -> None: ...


class Stage(Protocol):
    def process(self, item: Any) -> Iterable[Any]: ...
    def finish(self) -> Iterable[Any]: ...


class Sink(Protocol):
    def write(self, item: Any) -> None: ...


# -- stages -------------------------------------------------------------------------------------


class AbStage:
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
    """Sets ``frame.output``: the frame's own lightness with its ab, BGR uint8 at full size; or,
    where the sink takes them, ``frame.planes``: the same colours as yuv420p planes.

    ``planes(height, width)`` says whether the sink's encoder takes yuv420p planes for a frame of
    that size (``VideoEncoder.takes_i420``: 8-bit 4:2:0 output); then the u8 merge goes straight
    into them (``lab.merge_ab_i420``), cheaper than a BGR frame converted back (bench/engine.py).
    """

    def __init__(self, method: MergeMethod = "u8", planes: Callable[[int, int], bool] | None = None) -> None:
        self.method: MergeMethod = method
        self.planes = planes

    def process(self, item: Any) -> Iterable[Any]:
        """Merge a frame; pass packets on."""
        if isinstance(item, Frame) and item.ab is not None:
            height, width = item.image.shape[:2]
            if self.method == "u8" and self.planes is not None and self.planes(height, width):
                item.planes = merge_ab_i420(item.image, item.ab)
            else:
                item.output = merge_ab(item.image, item.ab, self.method)
            item.ab = None
        return (item,)

    def finish(self) -> Iterable[Any]:
        return ()


# -- the runner ---------------------------------------------------------------------------------


class Progress(Protocol):
    """What a film's progress callback (``colorize_file(on_tick=...)``) is given, on either path:
    the plain pipeline's ``Counters`` or a segmented job's ``cluster.JobProgress``."""

    @property
    def written(self) -> int:
        """Frames of the output written so far."""
        ...

    @property
    def fps(self) -> float:
        """Frames written per second in this run."""
        ...


@dataclass
class Counters:
    """Live counts, updated by the stage threads."""

    decoded: int = 0
    written: int = 0
    started: float = field(default_factory=time.perf_counter)
    busy: dict[str, float] = field(default_factory=dict)  # seconds each stage spent working

    @property
    def fps(self) -> float:
        """Frames written per second so far."""
        elapsed = time.perf_counter() - self.started
        return self.written / elapsed if elapsed > 0 else 0.0


class Pipeline:
    """Runs ``source ! stages... ! sink``, one thread each, bounded queues between them."""

    def __init__(
        self,
        source: Source,
        stages: list[Stage],
        sink: Sink,
        queue_size: int = 8,
        queue_bytes: int = QUEUE_BYTES,
    ) -> None:
        self.source = source
        self.stages = stages
        self.sink = sink
        self._stop = threading.Event()
        # Besides ``queue_size`` items, each queue holds at most ``queue_bytes`` of pictures (an 8K
        # frame is 100 MB in BGR); one item is always let in, so huge frames still flow.
        self.queues: list[BoundedQueue[Any]] = [
            BoundedQueue(queue_size, self._stop, queue_bytes, _nbytes) for _ in range(len(stages) + 1)
        ]
        self.counters = Counters()
        self.error: BaseException | None = None
        self.interrupted = False
        self.source_stuck = False  # after an interrupt: the source thread is still in a read

    # -- thread bodies --------------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        """A stage thread failed: keep the first error (``run`` re-raises it) and stop them all."""
        if self.error is None:
            self.error = exc
        self.stop()

    def _read(self) -> None:
        out = self.queues[0]
        busy = 0.0
        mark = time.perf_counter()
        for item in self.source.items():
            busy += time.perf_counter() - mark
            self.counters.busy["source"] = busy
            if isinstance(item, Frame):
                self.counters.decoded += 1
            out.put(item)
            mark = time.perf_counter()
        out.put(_END)

    def _stage(self, i: int) -> None:
        stage, inq, outq = self.stages[i], self.queues[i], self.queues[i + 1]
        name = f"{i}:{type(stage).__name__.lower()}"
        self.counters.busy[name] = 0.0
        while True:
            item = inq.get()
            mark = time.perf_counter()
            results = list(stage.finish() if item is _END else stage.process(item))
            self.counters.busy[name] += time.perf_counter() - mark
            for result in results:
                outq.put(result)
            if item is _END:
                outq.put(_END)
                return

    def _write(self) -> None:
        inq = self.queues[-1]
        while True:
            item = inq.get()
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

    def run(self, on_tick: Callable[[Progress], None] | None = None, tick: float = 0.2) -> Counters:
        """Run to the end.  Re-raises a stage's exception; on Ctrl-C stops all stages, sets
        ``interrupted`` and re-raises KeyboardInterrupt once every thread has ended."""
        bodies = [self._read, *(lambda i=i: self._stage(i) for i in range(len(self.stages))), self._write]
        names = ["source", *(type(s).__name__.lower() for s in self.stages), "sink"]
        threads = [GuardedThread(b, f"sc-{n}", self._fail, quiet=(Stopped,)) for b, n in zip(bodies, names)]
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
    return sum(a.nbytes for a in (item.image, item.ab, item.output, item.planes) if a is not None)
