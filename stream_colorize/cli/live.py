"""``stream-colorize live``: watch a camera, a network stream, a file or a lavfi graph in colour.

$ stream-colorize live                          # the first camera, in a window
$ stream-colorize live rtsp://cam.local/stream --skip auto
$ stream-colorize live lavfi:testsrc2=size=640x480:rate=30 --headless --record out.mp4 --duration 10
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..build import build_engine
from ..config import MODEL_KEYS, TEMPORAL_KEYS
from ..errors import UsageError
from ..io.devices import parse_source
from ..io.hls import plan_hls
from ..io.inputs import is_stdin
from ..io.live_outputs import LiveOutput
from ..io.live_source import LiveSource
from ..io.stream_output import StreamOutput
from ..io.stream_targets import StreamTarget, is_hls_output, stream_target
from ..io.window import require_display
from ..live import LiveOptions, close_outputs, run_live
from ..models.resolve import resolve_model
from ..references import FixedCamera, check_model_takes_hints, load_references
from .common import (
    BackendOption,
    ConfigOption,
    DeviceOption,
    ModelOption,
    NoSmoothOption,
    OverwriteOption,
    PrecisionOption,
    SmootherOption,
    SmoothOption,
    TemperatureOption,
    ThreadsOption,
    check_output,
    command_settings,
    preset_values,
    smoothing,
)
from .console import say
from .stream_jobs import stdin_ready

if TYPE_CHECKING:
    from ..serve.output import ServeOutput

KEYS_HELP = "Keys: q/Esc quit, space pause, s side-by-side, t smoothing, +/- skip, p snapshot PNG."


def parse_skip(text: str) -> int | None:
    """``auto`` -> None, a positive integer -> itself; UsageError otherwise."""
    if text.lower() == "auto":
        return None
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UsageError(f"--skip must be 'auto' or a positive integer, not {text!r}")


def _note(line: str) -> None:
    say(f"stream-colorize: {line}")


def _web_view(listen: str | None, token: str | None, token_file: Path | None, max_viewers: int) -> ServeOutput | None:
    """The --serve output, checked (address, token, aiohttp installed) but not yet listening."""
    if listen is None:
        if token is not None or token_file is not None:
            raise UsageError("--token and --token-file go with --serve")
        return None
    if token is not None and token_file is not None:
        raise UsageError("give --token or --token-file, not both")
    from ..serve import load_serve_output
    from ..serve.address import parse_listen, read_token_file

    address = parse_listen(listen)
    secret = read_token_file(token_file) if token_file is not None else token
    return load_serve_output()(address, secret, max_viewers)


def _stream_targets(urls: list[str], inputs: list[Path], overwrite: bool) -> list[StreamTarget]:
    """The --output targets, checked: UsageError for what FFmpeg cannot write, or an HLS playlist
    (``NAME.m3u8``) whose folder is missing or that exists without -y."""
    targets, playlists = [], set()
    for url in urls:
        if is_hls_output(url):
            plan = plan_hls(url, True, overwrite, inputs, allow="pass -y/--overwrite to replace it")
            if plan.playlist.resolve() in playlists:
                raise UsageError(f"--output {url} is given twice")
            playlists.add(plan.playlist.resolve())
            targets.append(plan.target())
        else:
            targets.append(stream_target(url))
    return targets


def register(app: typer.Typer) -> None:
    """Add the ``live`` command to ``app``."""

    @app.command(help=f"Colorize a live source in a window (or headless). {KEYS_HELP}")
    def live(
        source: str | None = typer.Argument(
            None,
            help="Camera index or device (default: the first camera), rtsp:// rtmp:// http(s):// udp:// URL, "
            "a file, lavfi:<graph>, or - for standard input (MPEG-TS, Matroska, MP4 with faststart).",
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
        smoother: str | None = SmootherOption,
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
        serve: str | None = typer.Option(
            None, "--serve", metavar="[HOST:]PORT",
            help="Also serve a web view (page, /stream.mjpg, /snapshot.jpg, /api/status, /metrics); "
            "on 127.0.0.1 unless a host is given.",
        ),
        token: str | None = typer.Option(
            None, "--token", help="Viewers must send this token (needed off the loopback); --token-file keeps it "
            "out of the process list.",
        ),
        token_file: Path | None = typer.Option(None, "--token-file", help="Read the --token from this file."),
        max_viewers: int = typer.Option(10, "--max-viewers", min=1, help="Viewers of the stream at once (then 503)."),
        stream_out: list[str] = typer.Option(
            [], "--output", metavar="URL",
            help="Also send what is shown to udp://, tcp://, rtsp:// (push), rtmp://, srt:// or - (MPEG-TS on "
            "stdout), or write HLS to FOLDER/NAME.m3u8 (served under /hls/ by --serve); reconnects when it "
            "drops.  Repeatable.",
        ),
        reference: Path | None = typer.Option(
            None, "--reference", metavar="PHOTO",
            help="A colour snapshot of the same view (a fixed camera): its colours where the picture matches it. "
            "Needs a model with a hint input.",
        ),
    ) -> None:
        # --config: the preset's model and temporal keys (the encoder's are the recording's own).
        preset = preset_values(config, MODEL_KEYS + TEMPORAL_KEYS)
        model_flags = (model, device, backend, temperature, threads)
        settings = command_settings(
            preset, model_flags, precision=precision, smooth=smoothing(smooth, no_smooth), smoother=smoother
        )
        # live's own default is an automatic skip (None); a preset's or the flag's number overrides it
        skip_value = parse_skip(skip) if skip is not None else (settings.temporal.skip if "skip" in preset else None)
        if rtsp_transport not in ("tcp", "udp"):
            raise UsageError(f"--rtsp-transport must be tcp or udp, not {rtsp_transport!r}")
        if not headless:
            require_display()  # before anything touches the OpenCV GUI, which would abort the process
        if record is not None:
            check_output(record, [], overwrite)
        if source is not None and is_stdin(source):
            stdin_ready()
        spec = parse_source(source, rtsp_transport=rtsp_transport, camera_size=camera_size, camera_fps=camera_fps)
        if spec.kind != "camera" and (camera_size or camera_fps):
            _note(f"note: --camera-size and --camera-fps ask a camera for a mode; {spec.display_name} is not one: "
                  "ignored")
        if record is not None and spec.kind == "file":
            check_output(record, [Path(spec.call.file)], overwrite)
        view = _web_view(serve, token, token_file, max_viewers)
        targets = _stream_targets(stream_out, [Path(spec.call.file)] if spec.kind == "file" else [], overwrite)
        hls = [t.hls for t in targets if t.hls is not None]
        if view is not None and hls:
            view.share_hls(hls[0])
        refs = load_references([(None, reference)]) if reference is not None else []
        if refs:
            check_model_takes_hints(resolve_model(settings.model.name))
        engine = build_engine(settings.model)
        options = LiveOptions(
            temporal=dataclasses.replace(settings.temporal, skip=skip_value),
            side_by_side=side,
            headless=headless,
            record=record,
            duration=duration,
            snapshot_dir=snapshots,
            on_status=say,
            references=FixedCamera(refs[0]) if refs else None,
        )
        src = LiveSource(spec, retries=retries, open_timeout=timeout, read_timeout=read_timeout)
        outputs: list[LiveOutput] = []
        try:
            if view is not None:
                outputs.append(view.start())
                hint = " (open it with ?token=...)" if view.token_required else ""
                say(f"stream-colorize: serving {view.url}{hint}")
            outputs += [StreamOutput(target, lambda: src.fps, on_note=_note) for target in targets]
            stats = run_live(spec, engine, options, source=src, outputs=outputs)
        finally:
            close_outputs(outputs, ok=False)  # those run_live closed are closed already
        p = stats.latency_percentiles()
        typer.echo(
            f"shown {stats.shown} frames at {stats.fps:.1f} fps; latency p50 {p['p50'] * 1000:.0f} ms, "
            f"p95 {p['p95'] * 1000:.0f} ms, max {p['max'] * 1000:.0f} ms",
            err=True,
        )
