"""``stream-colorize live``: watch a camera, a network stream, a file or a lavfi graph in colour.

$ stream-colorize live                          # the first camera, in a window
$ stream-colorize live rtsp://cam.local/stream --skip auto
$ stream-colorize live lavfi:testsrc2=size=640x480:rate=30 --headless --record out.mp4 --duration 10
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from ..build import build_engine
from ..config import MODEL_KEYS, TEMPORAL_KEYS
from ..errors import UsageError
from ..io.devices import parse_source
from ..io.live_source import LiveSource
from ..io.window import require_display
from ..live import LiveOptions, run_live
from .common import (
    BackendOption,
    ConfigOption,
    DeviceOption,
    ModelOption,
    NoSmoothOption,
    OverwriteOption,
    PrecisionOption,
    SmoothOption,
    TemperatureOption,
    ThreadsOption,
    check_output,
    command_settings,
    preset_values,
    smoothing,
)
from .console import say

KEYS_HELP = "Keys: q/Esc quit, space pause, s side-by-side, t smoothing, +/- skip, p snapshot PNG."


def parse_skip(text: str) -> int | None:
    """``auto`` -> None, a positive integer -> itself; UsageError otherwise."""
    if text.lower() == "auto":
        return None
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"--skip must be 'auto' or a positive integer, not {text!r}")


def register(app: typer.Typer) -> None:
    """Add the ``live`` command to ``app``."""

    @app.command(help=f"Colorize a live source in a window (or headless). {KEYS_HELP}")
    def live(
        source: str | None = typer.Argument(
            None,
            help="Camera index or device (default: the first camera), rtsp:// rtmp:// http(s):// udp:// URL, "
            "a file, or lavfi:<graph>.",
        ),
        model: str | None = ModelOption,
        device: str | None = DeviceOption,
        backend: str | None = BackendOption,
        precision: str | None = PrecisionOption,
        temperature: float | None = TemperatureOption,
        threads: int | None = ThreadsOption,
        skip: str | None = typer.Option(
            None, "--skip", help="Run the model on every Nth frame, or 'auto' (default) to keep up."
        ),
        smooth: float | None = SmoothOption,
        no_smooth: bool = NoSmoothOption,
        config: str | None = ConfigOption,
        side: bool = typer.Option(False, "--side-by-side", help="Start with original | colour."),
        headless: bool = typer.Option(False, "--headless", help="No window; print fps and latency periodically."),
        record: Path | None = typer.Option(None, "--record", help="Also write what is shown to this video file."),
        overwrite: bool = OverwriteOption,
        duration: float | None = typer.Option(None, "--duration", min=0.1, help="Stop after this many seconds."),
        rtsp_transport: str = typer.Option("tcp", "--rtsp-transport", help="RTSP over tcp or udp."),
        timeout: float = typer.Option(10.0, "--timeout", min=0.5, help="Seconds to wait when opening a stream."),
        read_timeout: float = typer.Option(5.0, "--read-timeout", min=0.5, help="Seconds without data = stalled."),
        retries: int = typer.Option(5, "--retries", min=0, help="Reconnection attempts after a stream drops."),
        camera_size: str | None = typer.Option(None, "--camera-size", help="Ask the camera for WxH, e.g. 1280x720."),
        camera_fps: float | None = typer.Option(None, "--camera-fps", min=1.0, help="Ask the camera for this rate."),
        snapshots: Path = typer.Option(Path("."), "--snapshot-dir", help="Where the p key saves PNGs."),
    ) -> None:
        # --config: the preset's model and temporal keys (the encoder's are the recording's own).
        preset = preset_values(config, MODEL_KEYS + TEMPORAL_KEYS)
        model_flags = (model, device, backend, temperature, threads)
        settings = command_settings(preset, model_flags, precision=precision, smooth=smoothing(smooth, no_smooth))
        # live's own default is an automatic skip (None); a preset's or the flag's number overrides it
        skip_value = parse_skip(skip) if skip is not None else (settings.temporal.skip if "skip" in preset else None)
        if rtsp_transport not in ("tcp", "udp"):
            raise UsageError(f"--rtsp-transport must be tcp or udp, not {rtsp_transport!r}")
        if not headless:
            require_display()  # before anything touches the OpenCV GUI, which would abort the process
        if record is not None:
            check_output(record, [], overwrite)
        spec = parse_source(source, rtsp_transport=rtsp_transport, camera_size=camera_size, camera_fps=camera_fps)
        if record is not None and spec.kind == "file":
            check_output(record, [Path(spec.call.file)], overwrite)
        engine = build_engine(settings.model)
        options = LiveOptions(
            temporal=dataclasses.replace(settings.temporal, skip=skip_value),
            side_by_side=side,
            headless=headless,
            record=record,
            duration=duration,
            snapshot_dir=snapshots,
            on_status=say,
        )
        src = LiveSource(spec, retries=retries, open_timeout=timeout, read_timeout=read_timeout)
        stats = run_live(spec, engine, options, source=src)
        p = stats.latency_percentiles()
        typer.echo(
            f"shown {stats.shown} frames at {stats.fps:.1f} fps; latency p50 {p['p50'] * 1000:.0f} ms, "
            f"p95 {p['p95'] * 1000:.0f} ms, max {p['max'] * 1000:.0f} ms",
            err=True,
        )
