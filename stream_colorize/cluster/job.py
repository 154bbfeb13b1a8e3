"""The driver: plan, resume, send segments to an executor, keep what comes back, join.

    >>> result = run_job("film.mkv", Path("film_colour.mkv"), settings, ClusterOptions(workers=4))
    >>> result = run_job("film.mkv", out, settings, ClusterOptions(ray="10.0.0.5:6379"))
    >>> print(result.summary())                       # the same Result a plain run gives

The driver demuxes the film once, front to back, handing each worker one segment's compressed
packets at a time (never more segments than the executor has workers, so a killed driver loses
at most one segment per worker).  Each encoded segment that comes back is kept in the job folder
beside the output (``manifest.JobFolder``) before the next is sent.  When all are there, the
segments and the input's audio and subtitles are joined into OUT (``join``), atomically, and the
job folder is removed.  Running the same command again after a crash continues from the kept
segments.  Outputs that cannot be joined from segments (GIF, image sequences, ...: see
``join.segment_suffix``) are refused before any work; ``wants_segments`` sends them down the
plain path.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import av

from ..config import Settings
from ..errors import MediaError, UsageError
from ..io.encoders import is_image_sequence
from ..io.info import is_url
from ..io.inputs import open_input
from ..io.kinds import VIDEO_SUFFIXES
from ..io.outputs import OutputTakenError
from ..io.packets import probe_rotation
from ..io.sink import FileSink, Outcome
from ..io.source import MediaSource
from ..io.stats import SourceStats
from ..io.stream import open_video
from ..pipeline import Progress
from ..signals import deferred_signals, signal_of
from ..video import PipelineInterrupted, Result
from .executors import Executor, InlineExecutor, LocalPool
from .identity import Identity, input_fingerprint, model_hash, settings_identity
from .join import join_segments, segment_suffix
from .manifest import JobFolder, job_dir_for
from .plan import DEFAULT_SEGMENT_SECONDS, DEFAULT_WARMUP, SegmentPlan, plan_segments, scan_video
from .scratch import sweep_scratch
from .task import SegmentTask
from .worker import SegmentError

LONG_FILM_SECONDS = 600.0  # a plain run of a film at least this long is made resumable


@dataclass(frozen=True)
class ClusterOptions:
    """How to run a film in segments.  Neither ``workers`` nor ``ray``: one worker in-process."""

    workers: int | None = None  # local worker processes (with ray: number of Ray actors)
    ray: str | None = None  # Ray address ("host:port") or "auto"
    segment_seconds: float | None = None  # None: DEFAULT_SEGMENT_SECONDS
    warmup: int = DEFAULT_WARMUP
    retries: int = 2  # extra attempts of a segment whose worker was lost


@dataclass
class JobProgress:
    """What the progress bar shows: frames of the whole film written, fps summed over workers."""

    total: int
    written: int = 0  # finished segments (kept or resumed) plus frames of segments in hand
    resumed: int = 0
    segments_done: int = 0
    segments_total: int = 0
    workers: int = 1
    started: float = field(default_factory=time.perf_counter)

    @property
    def fps(self) -> float:
        """Frames per second written in this run, all workers together."""
        elapsed = time.perf_counter() - self.started
        return (self.written - self.resumed) / elapsed if elapsed > 0 else 0.0


def wants_segments(
    input: str,
    output: Path,
    settings: Settings,
    options: ClusterOptions,
    on_note: Callable[[str], None] | None = None,
) -> bool:
    """Whether ``video`` should run this job in segments: asked for (workers, Ray, a segment
    length), an unfinished job folder for this output exists, or the film is long.

    An output that cannot be joined from segments is made in one pass: ``on_note`` hears so when
    segments were asked for, and an unfinished job folder of such an output (left by an earlier
    version) is removed, this tool's files only."""
    note = on_note or (lambda line: None)
    asked = options.workers is not None or options.ray is not None or options.segment_seconds is not None
    if asked and is_url(input):
        raise UsageError("--workers, --ray and --segment-seconds work on film files, not on a URL")
    trimmed = settings.input.trimmed
    if asked and trimmed:
        raise UsageError("-ss, -to and -t/--duration cannot be combined with --workers, --ray or --segment-seconds")
    if segment_suffix(output) is None:
        if asked and (output.suffix.lower() in VIDEO_SUFFIXES | {".gif"} or is_image_sequence(output)):
            note(f"{_kind(output)} cannot be joined from segments, so it is made in one pass "
                 "(--workers, --ray and --segment-seconds do not apply)")  # fmt: skip
        if JobFolder.discard(job_dir_for(output)):
            note(f"removed {job_dir_for(output)}, an unfinished job that could never be joined into {output.name}")
        return False
    if asked:
        return True
    if is_url(input) or trimmed or not Path(input).is_file():
        return False
    if (job_dir_for(output) / "manifest.json").is_file():
        return True
    try:  # the container's duration is enough (MediaSource would repeat its notes about the file)
        with open_input(input) as container:
            return (container.duration or 0) / 1_000_000 >= LONG_FILM_SECONDS
    except (av.error.FFmpegError, OSError):
        return False  # the plain path reports it


def _kind(output: Path) -> str:
    """'an image sequence', 'a .gif file': what an output is, for messages."""
    return "an image sequence" if is_image_sequence(output) else f"a {output.suffix.lower() or 'suffix-less'} file"


def make_executor(options: ClusterOptions, settings: Settings, spec) -> Executor:
    """The executor the options ask for (Ray is imported only when asked for)."""
    if options.ray is not None:
        from .ray_executor import RayExecutor

        return RayExecutor(options.ray, settings, spec, workers=options.workers, threads=settings.model.threads)
    if options.workers is not None and options.workers > 1:
        return LocalPool(settings, options.workers, spec=spec, threads=settings.model.threads)
    return InlineExecutor(settings, spec)


def run_job(
    input: str | Path,
    output: Path,
    settings: Settings,
    options: ClusterOptions | None = None,
    on_start: Callable[[MediaSource], None] | None = None,
    on_tick: Callable[[Progress], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    executor: Executor | None = None,
    overwrite: bool = True,
) -> Result:
    """Colourize ``input`` into ``output`` in segments; see the module docstring.

    ``on_note`` receives one-line messages (resumed / fresh start / interrupted).  Raises
    MediaError naming a segment that cannot be decoded (OUT is not touched then), UsageError
    for bad options or an output that cannot be joined from segments (before any work),
    PipelineInterrupted on Ctrl-C/SIGTERM/SIGHUP: the finished segments stay in the job folder
    for a re-run, and those from the film's start are joined as OUT.partial.  Without
    ``overwrite`` an OUT that appeared while the job worked is not replaced: the film is kept
    beside it and ``outputs.OutputTakenError`` says where.
    """
    from ..models import resolve_model

    options = options or ClusterOptions()
    note = on_note or (lambda line: None)
    output = Path(output)
    suffix = segment_suffix(output)
    if suffix is None:
        raise UsageError(f"{_kind(output)} cannot be joined from segments; colorize it in one pass (colorize_file)")
    started = time.perf_counter()
    source = open_video(input, copy_kinds=settings.encode.copy_kinds)
    own_executor = executor is None
    job: JobFolder | None = None
    plan: SegmentPlan | None = None
    try:
        # the output's options are checked now, not after hours of work
        FileSink(output, source.info, source.copy_streams, settings.encode).commit(Outcome.FAILED)
        if suffix != output.suffix.lower():  # and the segments' container's
            probe = output.with_name(f"{output.stem}.segment{suffix}")
            FileSink(probe, source.info, [], settings.encode).commit(Outcome.FAILED)
        index = scan_video(source)
        probe_rotation(source)
        plan = plan_segments(index, options.segment_seconds or DEFAULT_SEGMENT_SECONDS, options.warmup)
        spec = resolve_model(settings.model.name)
        fingerprint = input_fingerprint(Path(input), index)
        identity = Identity(fingerprint, settings_identity(settings, output.suffix), model_hash(spec))
        job, fresh_note = JobFolder.open(job_dir_for(output), identity, plan, suffix)
        if fresh_note:
            note(fresh_note)
        done = job.done_segments()
        total = len(plan.segments)
        if not fresh_note and job.record["done"]:
            note(f"resumed: {len(done)} of {total} segments already done")
        if executor is None:
            executor = make_executor(options, settings, spec)
        source.info.frames = plan.frames
        if on_start is not None:
            on_start(source)
        progress = JobProgress(plan.frames, segments_total=total, workers=executor.slots)
        progress.resumed = progress.written = sum(plan.segments[i].frames for i in done)
        progress.segments_done = len(done)
        model_runs = _drive(source, plan, job, executor, settings, suffix, done, progress, options, on_tick, note)
        files = [job.segment_path(i) for i in range(total)]
        try:
            path, frames = join_segments(files, input, output, settings, overwrite=overwrite)
        except OutputTakenError:
            _finish(job, note)  # the whole film is kept beside OUT: the segments are done with
            raise
        _finish(job, note)
    except KeyboardInterrupt as exc:
        partial: tuple[Path, int] | None = None
        if job is not None and plan is not None:
            kept = len(job.record["done"])
            note(f"{kept} finished segments are kept in {job.path}; run the same command to continue")
            with deferred_signals():  # a second Ctrl-C must not cut the partial file in half
                if own_executor and executor is not None:
                    executor.close()  # free the cores for the join; segments in hand are abandoned
                    executor = None
                partial = _join_partial(job, plan, input, output, settings)
        kept_path, frames = partial if partial is not None else (None, 0)
        elapsed = time.perf_counter() - started
        result = Result(str(input), kept_path, frames, elapsed, 0, SourceStats(frames=frames), True)
        raise PipelineInterrupted(result, signal_of(exc)) from None
    except BaseException:
        if job is not None and not job.record["done"]:
            _finish(job, note)  # nothing worth keeping
        raise
    finally:
        if job is not None:
            job.release()
        if own_executor and executor is not None:
            executor.close()
        sweep_scratch(wait=3.0 if own_executor else 0.0)  # of worker processes just stopped
        source.close()
    stats = SourceStats(frames=frames)
    return Result(str(input), path, frames, time.perf_counter() - started, model_runs, stats)


def _finish(job: JobFolder, note: Callable[[str], None]) -> None:
    """Remove the job folder; say so when files this tool did not make keep it."""
    if not job.remove():
        note(f"{job.path} was kept: it holds files stream-colorize did not make")


def _join_partial(
    job: JobFolder, plan: SegmentPlan, input: str | Path, output: Path, settings: Settings
) -> tuple[Path, int] | None:
    """The finished segments from the film's start, joined as ``name.partial.ext`` with the copied
    streams cut where they end, so an interrupted segmented run leaves a playable file as a plain
    run does; None when the first segment is not finished."""
    count = 0
    while str(count) in job.record["done"]:
        count += 1
    if count == 0:
        return None
    last = plan.segments[count - 1]
    until = math.inf if last.end_pts is None else float(last.end_pts * plan.time_base)
    files = [job.segment_path(i) for i in range(count)]
    try:
        return join_segments(files, input, output, settings, until=until)
    except MediaError:
        return None


def _drive(
    source: MediaSource,
    plan: SegmentPlan,
    job: JobFolder,
    executor: Executor,
    settings: Settings,
    suffix: str,
    done: set[int],
    progress: JobProgress,
    options: ClusterOptions,
    on_tick: Callable[[Progress], None] | None,
    note: Callable[[str], None],
) -> int:
    """Send every unfinished segment, keep each result; return the model runs of this run."""
    from .plan import segment_packets

    total = len(plan.segments)
    todo = [i for i in range(total) if i not in done]
    feed = segment_packets(source, plan, todo)
    retry: deque[SegmentTask] = deque()
    attempts: dict[int, int] = {}
    in_flight: dict[Future, SegmentTask] = {}
    model_runs = sum(job.record["done"][str(i)].get("model_runs", 0) for i in done)
    exhausted = False
    while True:
        while len(in_flight) < executor.slots and (retry or not exhausted):
            if retry:
                task = retry.popleft()
            else:
                try:
                    segment, packets = next(feed)
                except StopIteration:
                    exhausted = True
                    break
                task = SegmentTask.build(segment, packets, source, settings, suffix, total)
            in_flight[executor.submit(task)] = task
            job.journal(f"sent {task.segment.index} {len(task.packets)} packets {task.size} bytes")
        if not in_flight:
            break
        finished, _ = wait(list(in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
        for future in finished:
            task = in_flight.pop(future)
            seg = task.segment
            try:
                result = future.result()
            except SegmentError:
                raise
            except MediaError as exc:
                raise SegmentError(f"{seg.label(total)}: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - a worker's failure, judged below
                if executor.lost(exc) and attempts.get(seg.index, 0) < options.retries:
                    attempts[seg.index] = attempts.get(seg.index, 0) + 1
                    job.journal(f"lost {seg.index} ({type(exc).__name__}); retry {attempts[seg.index]}")
                    note(
                        f"{seg.label(total)}: its worker was lost ({type(exc).__name__}); "
                        f"sent again (retry {attempts[seg.index]} of {options.retries})"
                    )
                    retry.append(task)
                    continue
                why = "its worker was lost too often" if executor.lost(exc) else f"the worker failed ({exc})"
                raise MediaError(f"{seg.label(total)}: {why}") from None
            job.commit(seg.index, result.data, result.frames, result.worker, result.seconds, result.model_runs)
            model_runs += result.model_runs
            progress.segments_done += 1
            _count_finished(progress, plan, job)
        if on_tick is not None:
            _count_finished(progress, plan, job, executor.progress())
            on_tick(progress)
    if on_tick is not None:
        on_tick(progress)
    return model_runs


def _count_finished(progress: JobProgress, plan: SegmentPlan, job: JobFolder, in_hand: int = 0) -> None:
    kept = sum(plan.segments[int(i)].frames for i in job.record["done"])
    progress.written = min(progress.total, kept + in_hand)
