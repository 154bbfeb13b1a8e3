"""``stream-colorize video``: colorize a film (file, URL or folder), keeping its sound and timing.

    $ stream-colorize video film.mp4 film_colour.mp4
    $ stream-colorize video old_reels/ colour_reels/ --config fast --skip 3
    $ stream-colorize video rtsp://camera/stream clip.mp4 --duration 30

A thin layer: options become a ``Settings`` (preset file first, flags on top), the library's
``colorize_file`` does the work, a rich progress bar shows frames, fps and ETA on stderr.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import Settings
from ..errors import ColorizeError, InputNotFoundError, MediaError, UsageError
from ..io.encoders import is_image_sequence
from ..io.info import is_url
from ..io.inputs import is_stdin
from ..io.kinds import VIDEO_SUFFIXES
from ..io.sink import partial_path
from ..io.stream_targets import is_hls_output, is_stream_output
from ..models.resolve import resolve_model
from ..presets import load_settings
from ..references import check_model_takes_hints, parse_reference
from ..signals import exit_code
from ..timespec import parse_time
from ..video import PipelineInterrupted, Result, colorize_file, expected_frames, file_engine
from .common import (
    BACKEND_HELP,
    DEVICE_HELP,
    ConfigOption,
    NoSmoothOption,
    OverwriteOption,
    PrecisionOption,
    SkipOption,
    SmootherOption,
    SmoothOption,
    TemperatureOption,
    ThreadsOption,
    check_output,
    same_file,
    smoothing,
)
from .console import FilmBar, Reported, out_of_memory, say
from .segmented import ClusterOptions, RayOption, SegmentOption, WorkersOption, note
from .stream_jobs import collect_hls_job, collect_stream_job, stdin_ready


def collect_jobs(input: str, output: Path, overwrite: bool, skip_existing: bool = False) -> list[tuple[str, Path]]:
    """(input, output) pairs: one file or URL, or every video in a folder into another folder
    (created when missing).  ``skip_existing`` leaves out the jobs whose output exists."""
    src = Path(input)
    if is_stdin(input):
        stdin_ready()
    named = not (is_url(input) or is_stdin(input))  # a file or a folder, rather than a stream or a pipe
    if named and src.is_dir():
        if output.exists() and not output.is_dir():
            raise UsageError(f"input {src} is a folder, so the output must be a folder too; {output} is a file")
        if same_file(src, output):
            raise UsageError("input and output folders are the same; choose another output folder")
        # hidden files are left out: our own temporary files, macOS's ._ companions
        videos = sorted(p for p in src.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        videos = [p for p in videos if not p.name.startswith(".")]
        if not videos:
            raise MediaError(f"folder {src} holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MediaError(f"cannot create output folder {output}: {exc.strerror or exc}") from exc
        jobs = [(str(p), output / p.name) for p in videos]
    else:
        if named and not src.exists():
            raise InputNotFoundError(f"input not found: {src}")
        if output.is_dir():
            name = src.name if named else "stream.mp4"
            output = output / name
        jobs = [(input, output)]
    if skip_existing:
        kept = [(i, o) for i, o in jobs if not output_taken(o)]
        for job_in, job_out in jobs:
            if (job_in, job_out) not in kept:
                say(f"stream-colorize: skipped {job_in}: {job_out} exists (-n)")
        jobs = kept
    for job_in, job_out in jobs:
        check_output(job_out, [Path(job_in)] if named else [], overwrite)
        if is_image_sequence(job_out) and output_taken(job_out) and not overwrite:
            raise UsageError(f"output {job_out} already has pictures; pass -y to replace them or -n to skip")
    return jobs


def output_taken(path: Path) -> bool:
    """True when the output exists (for an image sequence: its first picture)."""
    if is_image_sequence(path):
        try:
            return Path(str(path) % 1).exists()
        except (TypeError, ValueError):
            return False
    return path.exists()


def _settings(config: str | None, **flags: object) -> Settings:
    return load_settings(config).override(**flags)


def register(app: typer.Typer) -> None:
    """Add the ``video`` command to ``app``."""

    @app.command()
    def video(
        input: str = typer.Argument(
            ..., help="Video file, URL (rtsp://, http://...), folder of videos, or - for standard input."
        ),
        output: str = typer.Argument(
            ...,
            help="Output file (its suffix picks the container) or folder; or a stream: udp://, tcp://, rtsp:// "
            "(push), rtmp://, srt://, or - for MPEG-TS on stdout.",
        ),
        model: str | None = typer.Option(None, "--model", "-m", help="Registry name or model path (default: default)."),
        device: str | None = typer.Option(None, "--device", "-d", help=DEVICE_HELP),
        backend: str | None = typer.Option(None, "--backend", "-b", help=BACKEND_HELP),
        precision: str | None = PrecisionOption,
        temperature: float | None = TemperatureOption,
        threads: int | None = ThreadsOption,
        skip: int | None = SkipOption,
        smooth: float | None = SmoothOption,
        no_smooth: bool = NoSmoothOption,
        smoother: str | None = SmootherOption,
        batch: int | None = typer.Option(None, "--batch", min=1, help="Frames per model call (default: 1)."),
        codec: str | None = typer.Option(None, "--codec", help="Video encoder (default: libx264; VP9 for .webm)."),
        crf: int | None = typer.Option(None, "--crf", min=0, max=63, help="Constant rate factor (default: 18)."),
        preset: str | None = typer.Option(None, "--preset", help="Encoder preset (default: veryfast)."),
        pix_fmt: str | None = typer.Option(None, "--pix-fmt", help="Output pixel format (default: auto)."),
        audio_codec: str | None = typer.Option(
            None, "--audio-codec", help="'copy' (default) or an encoder (aac, libopus, ...) to transcode audio."
        ),
        subtitles: bool | None = typer.Option(None, "--subtitles/--no-subtitles", help="Copy subtitle streams."),
        no_audio: bool = typer.Option(False, "-an", "--no-audio", help="Leave the audio out (as ffmpeg's -an)."),
        no_subs: bool = typer.Option(False, "-sn", help="Leave subtitles out (as ffmpeg's -sn)."),
        start: str | None = typer.Option(None, "-ss", "--start", help="Start at this time: 90, 01:30 (ffmpeg's -ss)."),
        end: str | None = typer.Option(None, "-to", "--end", help="Stop at this time of the input (ffmpeg's -to)."),
        duration: str | None = typer.Option(
            None, "-t", "--duration", help="Keep this much video: 30, 00:00:30 (ffmpeg's -t)."
        ),
        config: str | None = ConfigOption,
        overwrite: bool = OverwriteOption,
        accept_partial: bool = typer.Option(
            False, "--accept-partial", help="A stream that ends before --duration is not an error."
        ),
        skip_existing: bool = typer.Option(
            False, "-n", "--no-overwrite", help="Skip inputs whose output exists (resume a batch; ffmpeg's -n)."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (the summary line stays)."),
        workers: int | None = WorkersOption,
        ray: str | None = RayOption,
        segment_seconds: float | None = SegmentOption,
        reference: list[str] = typer.Option(
            [],
            "--reference",
            metavar="[TIME=]PHOTO",
            help="TIME=PHOTO: the frame at TIME in colour, carried through its shot (repeatable); PHOTO alone: "
            "a fixed camera's colour view of the same place.  Needs a model with a hint input.",
        ),
    ) -> None:
        """Colorize videos, keeping audio, subtitles and timing."""
        if overwrite and skip_existing:
            raise UsageError("-y (replace outputs) and -n (skip existing outputs) exclude each other; pick one")
        if no_audio:
            audio_codec = "none"
        if no_subs:
            subtitles = False
        settings = _settings(
            config,
            model=model,
            device=device,
            backend=backend,
            precision=precision,
            temperature=temperature,
            threads=threads,
            skip=skip,
            smooth=smoothing(smooth, no_smooth),
            smoother=smoother,
            batch=batch,
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            audio_codec=audio_codec,
            subtitles=subtitles,
            duration=None if duration is None else parse_time(duration, "-t/--duration"),
            start=None if start is None else parse_time(start, "-ss/--start"),
            end=None if end is None else parse_time(end, "-to/--end"),
        )
        references = [parse_reference(text) for text in reference]
        if references:
            check_model_takes_hints(resolve_model(settings.model.name))
        jobs: list[tuple[str, Path | str]] = []
        if is_stream_output(output):
            jobs += collect_stream_job(input, output)
        elif is_hls_output(output):
            jobs += collect_hls_job(input, Path(output), overwrite)
        else:
            jobs += collect_jobs(input, Path(output), overwrite, skip_existing)
        cluster = ClusterOptions(workers=workers, ray=ray, segment_seconds=segment_seconds)
        loaded: list = []

        def engine():
            if not loaded:
                loaded.append(file_engine(settings))
            return loaded[0]

        bar = FilmBar(enabled=not quiet)
        failures = 0
        for job_in, job_out in jobs:
            try:
                result = _run_one(job_in, job_out, settings, engine, bar, overwrite, cluster, references)
            except PipelineInterrupted as exc:
                bar.stop()
                _report_interrupt(exc.result, job_out)
                raise Reported(exit_code(exc)) from None
            except Exception as exc:  # noqa: BLE001 - one bad file must never stop a batch
                bar.stop()
                if len(jobs) == 1:
                    raise
                why = exc if isinstance(exc, ColorizeError) else f"unexpected {type(exc).__name__}: {exc}"
                if out_of_memory(exc):
                    why = "not enough memory for this input"
                say(f"stream-colorize: error: {job_in}: {why}")
                failures += 1
                continue
            say(result.summary())
            if _cut_short(job_in, result, settings, accept_partial):
                failures += 1
        if not jobs:
            say("stream-colorize: nothing to do: every output exists (-n)")
        if failures:
            if len(jobs) > 1:
                say(f"stream-colorize: {failures} of {len(jobs)} inputs failed")
            raise typer.Exit(1)


def _cut_short(job_in: str, result: Result, settings: Settings, accept: bool) -> bool:
    """A stream (URL, pipe, device) that ended before the asked ``--duration``: say how much was
    recorded; True (a failure) unless ``accept``."""
    stats = result.source
    if settings.input.duration is None or stats.limit_reached or result.output is None:
        return False
    if not (is_url(job_in) or not Path(job_in).is_file()):
        return False  # a file shorter than -t is simply all of it, as with ffmpeg
    got = stats.seconds
    asked = settings.input.duration
    message = f"{job_in} ended after {got:.1f} s of the {asked:g} s asked; {result.output} holds that much"
    if accept:
        say(f"stream-colorize: note: {message}")
        return False
    say(f"stream-colorize: error: {message} (pass --accept-partial to accept shorter recordings)")
    return True


def _run_one(
    job_in: str,
    job_out: Path | str,
    settings: Settings,
    engine,
    bar: FilmBar,
    overwrite: bool,
    cluster: ClusterOptions,
    references: list[tuple[float | None, str]] | None = None,
) -> Result:
    """One film, plain or in segments as ``colorize_file`` decides, with the progress bar."""

    def started(source) -> None:
        bar.start(Path(job_in).name if not is_url(job_in) else job_in, expected_frames(source, settings))

    try:
        return colorize_file(
            job_in,
            job_out,
            settings,
            engine=engine,
            on_tick=bar.tick,
            on_start=started,
            overwrite=overwrite,
            cluster=cluster,
            on_note=note,
            references=references,
        )
    finally:
        bar.stop()


def _report_interrupt(result: Result, job_out: Path | str) -> None:
    if result.sent_to is not None:
        msg = f"interrupted; sent {result.frames} frames to {result.sent_to}"
    elif isinstance(job_out, str):
        msg = "interrupted"
    elif result.output is not None:
        msg = f"interrupted; kept the {result.frames} frames done as {result.output} (partial)"
    else:
        msg = f"interrupted before any frame was written; no {job_out} and no {partial_path(job_out)}"
    say(f"stream-colorize: {msg}")
