"""Colorize one video file: ``open_video ! Colorize ! Merge ! FileSink`` run by ``Pipeline``.

    >>> result = colorize_file("film.mkv", "film_colour.mkv", Settings(skip=2))
    >>> print(result.summary())

Ctrl-C (or SIGTERM/SIGHUP, see ``signals``) keeps what was encoded as ``name.partial.ext`` and
raises ``PipelineInterrupted``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .build import build_engine, build_temporal, pipeline_model_threads
from .config import Settings
from .engine import Colorizer
from .errors import ColorizeError, InputNotFoundError, UsageError
from .io.encoders import is_image_sequence
from .io.guard import as_path, check_output, path_text
from .io.hls import plan_hls
from .io.info import is_url
from .io.inputs import is_stdin
from .io.packets import count_video_packets
from .io.sink import FileSink, Outcome
from .io.source import MediaSource
from .io.stats import SourceStats
from .io.stream import open_video
from .io.stream_targets import StreamTarget, is_hls_output, is_stream_output
from .io.trim import Trim
from .models.resolve import resolve_model
from .pipeline import AbStage, Merge, Pipeline, Progress, Stage
from .presets import as_settings
from .references import ReferenceArg, check_model_takes_hints, hint_source, load_references
from .signals import Interrupted, deferred_signals, signal_of
from .temporal import Temporal

if TYPE_CHECKING:
    from .cluster.job import ClusterOptions


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
    sent_to: str | None = None  # a stream output (udp://..., stdout), by a name safe to print

    @property
    def fps(self) -> float:
        """Frames per second over the whole run."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def size(self) -> int:
        """Output size in bytes (0 when nothing was written); an image sequence's pictures added up."""
        if self.output is None:
            return 0
        if is_image_sequence(self.output):
            total = 0
            for number in range(1, self.frames + 1):
                try:
                    total += Path(str(self.output) % number).stat().st_size
                except (OSError, TypeError, ValueError):
                    break
            return total
        return self.output.stat().st_size if self.output.exists() else 0

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
        if self.output is not None and is_image_sequence(self.output):
            parts.append(f"-> {self.output} ({self.frames} pictures, {_human(size)})")
        elif self.output is not None:
            parts.append(f"-> {self.output} ({_human(size)})")
        elif self.sent_to is not None:
            parts.append(f"-> {self.sent_to}")
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
    trim = settings.input
    begin = min(trim.start or 0.0, length)
    finish = length if trim.end is None else min(trim.end, length)
    if trim.duration is not None:
        finish = min(finish, begin + trim.duration)
    return max(0, round((finish - begin) * rate))


def colorize_file(
    input: str | bytes | os.PathLike[str],
    output: str | bytes | os.PathLike[str],
    settings: Settings | str | os.PathLike[str] | None = None,
    engine: Colorizer | Callable[[], Colorizer] | None = None,
    on_tick: Callable[[Progress], None] | None = None,
    on_start: Callable[[MediaSource], None] | None = None,
    overwrite: bool = False,
    cluster: ClusterOptions | None = None,
    on_note: Callable[[str], None] | None = None,
    references: Sequence[ReferenceArg] | None = None,
) -> Result:
    """Colorize one video file or URL into ``output``; see the module docstring.

    ``input`` and ``output`` are paths (str, bytes or ``os.PathLike``; ``input`` may be a URL).
    ``settings``: a ``Settings``, a preset's name or path (``"fast"``, see ``load_settings``), or
    None for the defaults.  ``engine``: a loaded ``Colorizer``, a factory called once the input and
    output are known to be good, or None (``file_engine(settings)``).  ``on_tick(counters)`` is
    called a few times a second from the calling thread, ``on_start(source)`` once the model is
    loaded.

    A film is colourized in segments, resumably, when ``cluster`` asks for workers, Ray or a
    segment length, when an unfinished job of this output exists, or when it is 10 minutes or
    longer (``cluster.wants_segments``, as the command line decides); the engine given is then
    not used (each worker loads its own) and ``on_tick`` gets a ``cluster.JobProgress``, which
    also has ``written`` and ``fps``.  ``on_note(line)`` hears the one-line notes of such a run
    (resumed, fresh start, made in one pass after all).

    ``references``: colour references for a model with a hint input (``references.py``), each
    ``(time in seconds, photo)`` (that frame in colour, carried through its shot along the optical
    flow) or ``(None, photo)`` (a fixed camera's colour view of the same place); a photo is a path or
    a BGR uint8 array.  They are checked (photo readable, aspect ratio, time within the video, the
    model's hint input) before anything is written; a film with references runs in one pass, to a file.

    ``output`` may also be a stream: ``udp://``, ``tcp://``, ``rtsp://`` (push), ``rtmp://``,
    ``srt://`` where FFmpeg has it, or ``-`` for MPEG-TS on stdout (``io/stream_targets.py``);
    ``Result.sent_to`` names it, and a broken connection is a MediaError.  A name ending in
    ``.m3u8`` writes HLS: a VOD playlist with 2 s MPEG-TS segments beside it (``io/hls.py``).

    An existing ``output`` is refused (UsageError, before any work) unless ``overwrite=True``, as
    the command line refuses it without -y; an ``output`` that is the input itself (also through
    a link) is refused always.  Without ``overwrite`` a file that appears at ``output`` while this
    runs is not replaced either (the result is kept beside it and MediaError says where).

    Raises ColorizeError subclasses for bad inputs, outputs and arguments, the stage's own
    exception for anything unexpected, and PipelineInterrupted (a KeyboardInterrupt) on Ctrl-C.
    """
    settings = as_settings(settings)
    if engine is not None and not (isinstance(engine, Colorizer) or callable(engine)):
        raise UsageError(f"engine must be a Colorizer or a function that returns one, not {type(engine).__name__}")
    name = _input_name(input)
    if references and (is_stream_output(output) or is_hls_output(output)):
        raise UsageError("--reference writes one file: give an output file, not a stream or a playlist")
    if references and (is_url(name) or is_stdin(name)) and any(t is not None for t, _ in references):
        raise UsageError("TIME=PHOTO references need a video file (read twice); a stream takes a fixed-camera PHOTO")
    if is_stream_output(output) or is_hls_output(output):  # udp://, rtsp://, -, a playlist: written in order
        from .video_stream import colorize_to_stream

        stream: str | StreamTarget = str(output)
        if is_hls_output(output):  # a VOD playlist and its segments, named at the end (io/hls.py)
            inputs = [] if is_url(name) or is_stdin(name) else [Path(name)]
            stream = plan_hls(as_path(output, "output"), False, overwrite, inputs).target()
        return colorize_to_stream(name, stream, settings, engine, on_tick, on_start, cluster)
    target = as_path(output, "output")
    check_output(target, [] if is_url(name) else [Path(name)], overwrite)
    if not overwrite and _sequence_taken(target):
        raise UsageError(f"output {target} already has pictures; pass overwrite=True to replace them")
    from .cluster.job import ClusterOptions, run_job, wants_segments  # the cluster builds on this module

    options = cluster or ClusterOptions()
    refs = load_references(references or ())
    if refs:
        if options.workers is not None or options.ray is not None or options.segment_seconds is not None:
            raise UsageError("--reference works in one pass: leave out --workers, --ray and --segment-seconds")
        check_model_takes_hints(engine.spec if isinstance(engine, Colorizer) else resolve_model(settings.model.name))
    if is_stdin(name) and (options.workers is not None or options.ray is not None or options.segment_seconds):
        raise UsageError("--workers, --ray and --segment-seconds work on film files, not on standard input")
    if not refs and wants_segments(name, target, settings, options, on_note):
        return run_job(name, target, settings, options, on_start, on_tick, on_note, overwrite=overwrite)
    copy = settings.encode.copy_kinds
    source = open_video(name, copy_kinds=copy, trim=source_trim(settings))
    temporal = build_temporal(settings.temporal)
    if refs:
        try:
            info = source.info
            temporal.hints = hint_source(name, refs, info.width, info.height, source_trim(settings),
                                         settings.temporal.scene_cut, on_note=on_note)  # fmt: skip
        except BaseException:
            source.close()
            raise
    pipeline: Pipeline | None = None
    started = time.perf_counter()
    try:
        with FileSink(target, source.info, source.copy_streams, settings.encode, overwrite) as sink:
            try:
                if isinstance(engine, Colorizer):
                    colorizer = engine
                else:  # a factory, or none: load the model only now that input and output are good
                    colorizer = engine() if engine is not None else file_engine(settings)
                pipeline = film_pipeline(source, sink, colorizer, temporal, settings, sink.video.takes_i420)
                if on_start is not None:
                    on_start(source)
                started = time.perf_counter()
                pipeline.run(on_tick)
            except KeyboardInterrupt as exc:
                with deferred_signals():  # a second Ctrl-C must not cut the partial file in half
                    path = _keep_partial(sink)
                frames = 0 if path is None else sink_frames_or(path)
                elapsed = time.perf_counter() - started
                result = Result(name, path, frames, elapsed, temporal.model_runs, source.stats, True)
                raise PipelineInterrupted(result, signal_of(exc)) from None
            with deferred_signals():
                final = sink.commit()
    finally:
        with deferred_signals():
            if pipeline is None or not pipeline.source_stuck:  # never close a container a thread still reads
                source.close()
    assert pipeline is not None  # built before a run can succeed
    elapsed = time.perf_counter() - started
    return Result(
        name,
        final,
        sink.frames,
        elapsed,
        temporal.model_runs,
        source.stats,
        busy=pipeline.counters.busy,
        dropped=sink.dropped,
    )


def source_trim(settings: Settings) -> Trim:
    """The ``Trim`` of the settings' ``-ss``/``-to``/``-t``."""
    trim = settings.input
    return Trim(trim.start, trim.end, trim.duration)


def film_pipeline(
    source: MediaSource,
    sink: Any,
    colorizer: Colorizer,
    temporal: Temporal,
    settings: Settings,
    planes: Callable[[int, int], bool] | None,
) -> Pipeline:
    """``source ! AbStage ! Merge ! sink``, the film's pipeline for a file or a stream (``planes``:
    the output takes yuv420p, merged in its planes)."""
    stages: list[Stage] = [AbStage(colorizer, temporal, settings.model.batch), Merge(colorizer.merge, planes=planes)]
    return Pipeline(source, stages, sink, queue_size=settings.input.queue_size)


def file_engine(settings: Settings) -> Colorizer:
    """The engine a film is colourized with: the settings' model, on all cores but one unless
    ``threads`` is set (``build.pipeline_model_threads``)."""
    return build_engine(settings.model, threads=pipeline_model_threads())


def _input_name(value: object) -> str:
    """The input as text: a URL as given, a path (str, bytes, ``os.PathLike``) that must exist."""
    text = path_text(value, "input")  # as given: "./film.mp4" stays so in Result.input
    if not is_url(text) and not is_stdin(text) and not Path(text).exists():
        raise InputNotFoundError(f"input not found: {text}")
    return text


def _sequence_taken(output: Path) -> bool:
    """True when ``output`` is an image-sequence pattern (``f_%05d.png``) whose first picture exists."""
    if not is_image_sequence(output):
        return False
    try:
        return Path(str(output) % 1).exists()
    except (TypeError, ValueError):
        return False


def _keep_partial(sink: FileSink) -> Path | None:
    """An interrupted run's output: kept as ``name.partial.ext`` when it holds frames, else removed."""
    try:
        return sink.commit(Outcome.PARTIAL if sink.frames else Outcome.FAILED)
    except ColorizeError:
        return None


def sink_frames_or(path: Path) -> int:
    """Video packets in a finished file (what a partial file really holds)."""
    try:
        return count_video_packets(path)
    except Exception:  # noqa: BLE001 - only used for the message
        return 0
