"""The worker: decode a segment's packets, colourize with warm-up, encode it as its own file.

    >>> worker = SegmentWorker(settings)                 # loads the model once
    >>> result = worker.run(task)                         # SegmentTask -> SegmentResult

The same ``Pipeline`` as a plain run does the work: packets ! window ! colorize ! trim ! merge
! FileSink, the packets decoded by ``io.stream.open_video(task.video)``.  ``window`` drops
decoded frames before the warm-up (decoding starts at a keyframe, possibly well before it) and
after the segment; ``trim`` drops the warm-up frames once the model and the smoother have seen
them.  The encoder is a fresh one, with the sink's usual
settings, so the segment is a closed GOP that starts with a keyframe.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..build import build_engine, build_temporal
from ..config import Settings, check_threads
from ..errors import MediaError
from ..frames import Frame
from ..io.sink import FileSink
from ..io.stream import open_video
from ..models.spec import ModelSpec
from ..pipeline import AbStage, Merge, Pipeline, Stage
from .scratch import segment_scratch
from .task import SegmentResult, SegmentTask


class SegmentError(MediaError):
    """A segment cannot be decoded or encoded; the message names the segment."""


def _inside(pts: int | None, lo: int | None, hi: int | None) -> bool:
    return pts is None or ((lo is None or pts >= lo) and (hi is None or pts < hi))


class PtsWindow:
    """Stage: keeps frames with pts in [lo, hi) (None: open end); drops the rest before the model."""

    def __init__(self, lo: int | None, hi: int | None) -> None:
        self.lo, self.hi = lo, hi

    def process(self, item: Any) -> Iterable[Any]:
        """Pass a frame inside the window, drop one outside."""
        return (item,) if not isinstance(item, Frame) or _inside(item.pts, self.lo, self.hi) else ()

    def finish(self) -> Iterable[Any]:
        return ()


class _CountingSink:
    """The segment's FileSink, counting frames as they are written (for progress)."""

    def __init__(self, sink: FileSink, worker: SegmentWorker) -> None:
        self.sink, self.worker = sink, worker

    def write(self, item: Any) -> None:
        self.sink.write(item)
        self.worker.frames_done += 1
        self.worker.in_segment += 1
        if self.worker.on_frame is not None:
            self.worker.on_frame()


class SegmentWorker:
    """Loads the model once and colourizes segments one after another.

    ``spec`` overrides the model the settings name (a worker elsewhere gets the files shipped to
    it); ``threads`` caps the CPU threads of inference in this worker.  The backend, device and
    batch are the settings' own, as in a plain run.
    """

    def __init__(self, settings: Settings, spec: ModelSpec | None = None, threads: int | None = None) -> None:
        self.settings = settings
        check_threads(threads)
        self.engine = build_engine(settings.model, threads=threads, spec=spec)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.frames_done = 0  # frames written by this worker so far (read by progress reporters)
        self.in_segment = 0  # frames written of the segment in hand
        self.on_frame: Callable[[], None] | None = None  # called after each written frame
        self._pipeline: Pipeline | None = None
        self._stopped = False

    def stop(self) -> None:
        """Abandon the segment in hand soon (from another thread); later ``run`` calls refuse."""
        self._stopped = True
        if self._pipeline is not None:
            self._pipeline.stop()

    def progress(self) -> int:
        """Frames written so far of the segment in hand (0 between segments)."""
        return self.in_segment

    def run(self, task: SegmentTask) -> SegmentResult:
        """Colourize one segment; raise SegmentError naming it when it cannot be decoded."""
        started = time.perf_counter()
        self.in_segment = 0
        seg = task.segment
        label = seg.label(task.total)
        source = open_video(task.video)  # PacketStream: the packets decoded to gray frames
        temporal = build_temporal(task.settings.temporal)
        first = seg.warm_pts if seg.warm_pts is not None else seg.start_pts
        stages: list[Stage] = [
            PtsWindow(first, seg.end_pts),
            AbStage(self.engine, temporal, task.settings.model.batch),
            PtsWindow(seg.start_pts, seg.end_pts),  # the warm-up has done its work: not written
            Merge(self.engine.merge),
        ]
        with segment_scratch() as tmp:  # named for this process: swept if it is killed
            segment = Path(tmp) / f"segment{task.suffix}"
            try:
                with FileSink(segment, task.info, [], task.settings.encode) as sink:
                    stages[-1] = Merge(self.engine.merge, planes=sink.video.takes_i420)  # as a plain run merges
                    counting = _CountingSink(sink, self)
                    self._pipeline = Pipeline(source, stages, counting, queue_size=task.settings.input.queue_size)
                    if self._stopped:
                        raise SegmentError(f"{label}: the worker was stopped")
                    self._pipeline.run()
                    if self._stopped:
                        raise SegmentError(f"{label}: the worker was stopped")
                    path = sink.commit()
            except MediaError as exc:
                raise SegmentError(f"{label}: {exc}") from None
            written = sink.frames
            if source.stats.corrupt or written != seg.frames:
                missing = seg.frames - written
                raise SegmentError(
                    f"{label}: {source.stats.corrupt} video packets could not be decoded "
                    f"({missing} of {seg.frames} frames missing); the input is damaged there"
                )
            assert path is not None  # commit() returns the file or raises
            data = path.read_bytes()
        self.in_segment = 0
        elapsed = time.perf_counter() - started
        return SegmentResult(seg.index, data, written, temporal.model_runs, elapsed, source.stats.damaged, self.name)
