"""``stream-colorize video``: colorize a film (file, URL or folder), keeping its sound and timing.

    $ stream-colorize video film.mp4 film_colour.mp4
    $ stream-colorize video old_reels/ colour_reels/ --config fast --skip 3
    $ stream-colorize video rtsp://camera/stream clip.mp4 --duration 30

A thin layer: options become a ``Settings`` (preset file first, flags on top), the library's
``colorize_file`` does the work, a rich progress bar shows frames, fps and ETA on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..config import Settings, load_settings
from ..engine import DEVICES
from ..errors import MediaError, UsageError
from ..io.sink import partial_path
from ..io.source import is_url
from ..pipeline import Counters, PipelineInterrupted, Result, build_engine, colorize_file
from .common import VIDEO_SUFFIXES, OverwriteOption, TemperatureOption, ThreadsOption, check_output, same_file
from .segmented import ClusterOptions, RayOption, SegmentOption, WorkersOption, run_segmented, wants_segments

EXIT_INTERRUPTED = 130


def collect_jobs(input: str, output: Path, overwrite: bool) -> list[tuple[str, Path]]:
    """(input, output) pairs: one file or URL, or every video in a folder into another folder."""
    src = Path(input)
    if not is_url(input) and src.is_dir():
        if output.exists() and not output.is_dir():
            raise UsageError(f"input {src} is a folder, so the output must be a folder too; {output} is a file")
        if not output.is_dir():
            raise UsageError(f"output folder {output} does not exist; create it first")
        if same_file(src, output):
            raise UsageError("input and output folders are the same; choose another output folder")
        videos = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise MediaError(f"folder {src} holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        jobs = [(str(p), output / p.name) for p in videos]
    else:
        if not is_url(input) and not src.exists():
            raise MediaError(f"input not found: {src}")
        if output.is_dir():
            name = src.name if not is_url(input) else "stream.mp4"
            output = output / name
        jobs = [(input, output)]
    for job_in, job_out in jobs:
        check_output(job_out, [] if is_url(job_in) else [Path(job_in)], overwrite)
    return jobs


class _Bar:
    """A rich progress bar on stderr, fed from the pipeline's counters."""

    def __init__(self, enabled: bool) -> None:
        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.progress: Progress | None = None
        self.task = None

    def start(self, label: str, total: int | None) -> None:
        if not self.enabled:
            return
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} fps"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(label, total=total or None, fps=0.0)

    def tick(self, counters: Counters) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=counters.written, fps=counters.fps)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _settings(config: str | None, **flags: object) -> Settings:
    return load_settings(config).override(**flags)


def register(app: typer.Typer) -> None:
    """Add the ``video`` command to ``app``."""

    @app.command()
    def video(
        input: str = typer.Argument(..., help="Video file, URL (rtsp://, http://...) or folder of videos."),
        output: Path = typer.Argument(..., help="Output file (its suffix picks the container) or folder."),
        model: str | None = typer.Option(None, "--model", "-m", help="Registry name or model path (default: default)."),
        device: str | None = typer.Option(None, "--device", "-d", help=f"Compute device: {'|'.join(DEVICES)}."),
        temperature: float | None = TemperatureOption,
        threads: int | None = ThreadsOption,
        skip: int | None = typer.Option(None, "--skip", min=1, help="Run the model on every Nth frame (default: 1)."),
        smooth: bool | None = typer.Option(None, "--smooth/--no-smooth", help="Temporal smoothing of colour."),
        strength: float | None = typer.Option(
            None,
            "--smooth-strength",
            min=0.0,
            max=0.99,
            help="Weight of the past in the smoothing where the picture is still (default: 0.97).",
        ),
        batch: int | None = typer.Option(None, "--batch", min=1, help="Frames per model call (default: 1)."),
        codec: str | None = typer.Option(None, "--codec", help="Video encoder (default: libx264; VP9 for .webm)."),
        crf: int | None = typer.Option(None, "--crf", min=0, max=63, help="Constant rate factor (default: 18)."),
        preset: str | None = typer.Option(None, "--preset", help="Encoder preset (default: veryfast)."),
        pix_fmt: str | None = typer.Option(None, "--pix-fmt", help="Output pixel format (default: auto)."),
        audio_codec: str | None = typer.Option(
            None, "--audio-codec", help="'copy' (default) or an encoder (aac, libopus, ...) to transcode audio."
        ),
        subtitles: bool | None = typer.Option(None, "--subtitles/--no-subtitles", help="Copy subtitle streams."),
        duration: float | None = typer.Option(None, "--duration", min=0.001, help="Stop after this many seconds."),
        config: str | None = typer.Option(None, "--config", "-c", help="Preset: a TOML file or a name in configs/."),
        overwrite: bool = OverwriteOption,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (the summary line stays)."),
        workers: int | None = WorkersOption,
        ray: str | None = RayOption,
        segment_seconds: float | None = SegmentOption,
    ) -> None:
        """Colorize videos, keeping audio, subtitles and timing."""
        settings = _settings(
            config,
            model=model,
            device=device,
            temperature=temperature,
            threads=threads,
            skip=skip,
            smooth=smooth,
            smooth_strength=strength,
            batch=batch,
            codec=codec,
            crf=crf,
            preset=preset,
            pix_fmt=pix_fmt,
            audio_codec=audio_codec,
            subtitles=subtitles,
            duration=duration,
        )
        jobs = collect_jobs(input, output, overwrite)
        cluster = ClusterOptions(workers=workers, ray=ray, threads=threads, segment_seconds=segment_seconds)
        loaded: list = []

        def engine():
            if not loaded:
                loaded.append(build_engine(settings))
            return loaded[0]

        bar = _Bar(enabled=not quiet)
        failures = 0
        for job_in, job_out in jobs:
            try:
                if wants_segments(job_in, job_out, settings, cluster):
                    result = run_segmented(job_in, job_out, settings, cluster, bar)
                else:
                    result = _run_one(job_in, job_out, settings, engine, bar)
            except PipelineInterrupted as exc:
                bar.stop()
                _report_interrupt(exc.result, job_out)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except (MediaError, UsageError) as exc:
                bar.stop()
                if len(jobs) == 1:
                    raise
                typer.echo(f"stream-colorize: error: {job_in}: {exc}", err=True)
                failures += 1
                continue
            typer.echo(result.summary(), err=True)
        if failures:
            raise typer.Exit(1)


def _run_one(job_in: str, job_out: Path, settings: Settings, engine, bar: _Bar) -> Result:
    def started(source) -> None:
        bar.start(Path(job_in).name if not is_url(job_in) else job_in, source.info.frames)

    try:
        return colorize_file(job_in, job_out, settings, engine=engine, on_tick=bar.tick, on_start=started)
    finally:
        bar.stop()


def _report_interrupt(result: Result, job_out: Path) -> None:
    if result.output is not None:
        msg = f"interrupted; kept the {result.frames} frames done as {result.output} (partial)"
    else:
        msg = f"interrupted before any frame was written; no {job_out} and no {partial_path(job_out)}"
    print(f"stream-colorize: {msg}", file=sys.stderr, flush=True)
