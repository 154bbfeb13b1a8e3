"""Colorize a film into a stream: ``colorize_file(input, "udp://...")`` and ``video IN -`` end here.

    >>> result = colorize_file("film.mkv", "udp://127.0.0.1:5000")   # MPEG-TS datagrams
    >>> result.sent_to                                                # "udp://127.0.0.1:5000"

The file pipeline unchanged (``MediaSource ! Colorize ! Merge``) with a ``StreamSink`` at its end:
no output file checks, no temporary name, no atomic rename, no segments (a stream is written in
order as it is made).  A connection that breaks ends the run with one MediaError; Ctrl-C ends the
stream cleanly (the encoder's tail is sent) and raises PipelineInterrupted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .build import build_temporal
from .config import Settings
from .engine import Colorizer
from .errors import ColorizeError, UsageError
from .io.sink import Outcome
from .io.source import MediaSource
from .io.stream import open_video
from .io.stream_sink import StreamSink
from .io.stream_targets import StreamTarget, stream_target
from .io.trim import Trim
from .pipeline import Pipeline, Progress
from .signals import deferred_signals, signal_of

if TYPE_CHECKING:
    from .cluster.job import ClusterOptions
    from .video import Result


def colorize_to_stream(
    name: str,
    output: str | StreamTarget,
    settings: Settings,
    engine: Colorizer | Callable[[], Colorizer] | None,
    on_tick: Callable[[Progress], None] | None = None,
    on_start: Callable[[MediaSource], None] | None = None,
    cluster: ClusterOptions | None = None,
) -> Result:
    """``colorize_file`` for a stream output (see ``io/stream_targets.py`` for the names), or a
    checked target such as an HLS playlist's (``io/hls.py``)."""
    from .video import PipelineInterrupted, Result, file_engine, film_pipeline

    target = output if isinstance(output, StreamTarget) else stream_target(output)
    if cluster is not None and (cluster.workers or cluster.ray or cluster.segment_seconds):
        raise UsageError(f"a stream ({target.label}) is written in order: segments and workers need a file output")
    trim = settings.input
    source = open_video(name, copy_kinds=settings.encode.copy_kinds, trim=Trim(trim.start, trim.end, trim.duration))
    temporal = build_temporal(settings.temporal)
    pipeline: Pipeline | None = None
    started = time.perf_counter()
    try:
        with StreamSink(target, source.info, source.copy_streams, settings.encode) as sink:
            try:
                colorizer = engine if isinstance(engine, Colorizer) else (engine or (lambda: file_engine(settings)))()
                pipeline = film_pipeline(source, sink, colorizer, temporal, settings, planes=None)
                if on_start is not None:
                    on_start(source)
                started = time.perf_counter()
                pipeline.run(on_tick)
            except KeyboardInterrupt as exc:
                with deferred_signals():
                    try:
                        sink.commit(Outcome.PARTIAL if sink.frames else Outcome.FAILED)
                    except ColorizeError:
                        pass
                elapsed = time.perf_counter() - started
                kept = str(target.hls.partial) if target.hls is not None and sink.frames else target.label
                result = Result(name, None, sink.frames, elapsed, temporal.model_runs, source.stats, True,
                                sent_to=kept)  # fmt: skip
                raise PipelineInterrupted(result, signal_of(exc)) from None
            with deferred_signals():
                sink.commit()
    finally:
        with deferred_signals():
            if pipeline is None or not pipeline.source_stuck:
                source.close()
    assert pipeline is not None
    elapsed = time.perf_counter() - started
    return Result(name, None, sink.frames, elapsed, temporal.model_runs, source.stats, busy=pipeline.counters.busy,
                  dropped=sink.dropped, sent_to=target.label)  # fmt: skip
