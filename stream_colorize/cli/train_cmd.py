"""``stream-colorize train`` (fine-tune on your own colour photos/videos) and ``eval`` (measure a model).

    $ stream-colorize eval reserved_photos/ --model default
    $ stream-colorize eval --video colour_clip.mp4
    $ stream-colorize train --data my_photos/ --data reel.mp4 --out my_model.onnx --steps 300

Training needs the optional extra ``[train]`` (torch); evaluation needs nothing beyond the base
install.  Torch is imported only inside the ``train`` command.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import typer

from ..build import build_engine, build_temporal
from ..config import MODEL_KEYS, TEMPORAL_KEYS
from ..engine import Colorizer
from ..errors import InputNotFoundError, MediaError, ModelError, UsageError
from ..evaluate import (
    MEASURE_PIXELS,
    evaluate_guided,
    evaluate_images,
    format_guided,
    format_report,
    hint_side,
    measured,
)
from ..hints import HINT_ROLE, MAX_POINTS
from ..imagestats import has_colour
from ..io.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..photo import read_image, read_photo
from ..video_metrics import evaluate_video, read_video_frames
from .common import (
    BackendOption,
    ConfigOption,
    DeviceOption,
    ModelOption,
    NoSmoothOption,
    OverwriteOption,
    PrecisionOption,
    SkipOption,
    SmootherOption,
    SmoothOption,
    TemperatureOption,
    ThreadsOption,
    command_settings,
    preset_values,
    smoothing,
)
from .console import say
from .image import collect_images

TRAIN_FRAMES_PER_VIDEO = 48  # frames `train` samples from each of the user's videos


def sample_video(path: Path, count: int = TRAIN_FRAMES_PER_VIDEO) -> list[np.ndarray]:
    """Up to ``count`` frames spread over a video (BGR uint8); MediaError when none decode."""
    return read_video_frames(path, count, spread=True)


def gather_training_images(paths: list[Path]) -> list[np.ndarray]:
    """Colour photos and sampled video frames from files and folders (folders: recursive)."""
    files: list[Path] = []
    for item in paths:
        if item.is_dir():
            try:
                found = sorted(p for p in item.rglob("*") if p.is_file())
            except PermissionError as exc:
                raise MediaError(f"cannot read folder {item}: permission denied") from exc
            media = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
            if not media:
                raise MediaError(f"folder {item} holds no images or videos to train on")
            files.extend(media)
        elif item.is_file():
            files.append(item)
        else:
            raise InputNotFoundError(f"training data not found: {item}")
    images: list[np.ndarray] = []
    for path in files:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            images.extend(sample_video(path))
        else:
            images.append(read_image(path))
    color = [img for img in images if min(img.shape[:2]) >= 32 and has_colour(img)]
    if not color:
        raise MediaError(
            f"none of the {len(images)} training images has colour (all grayscale or tiny); "
            "training needs colour photos or colour video"
        )
    return color


class EvalPhotos:
    """The colour photos of ``paths`` for ``eval``, read one at a time as ``read_photo`` reads them
    (16-bit and float files included, as their 8-bit preview), skipping unreadable files and gray
    photos with a count of each; ``names``: those measured, filled as they are read."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.names: list[str] = []
        self.unreadable = 0
        self.gray = 0
        self.scaled = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            try:
                photo = read_photo(path).preview
            except MediaError as exc:
                say(f"stream-colorize: note: {exc}; skipped")
                self.unreadable += 1
                continue
            if not has_colour(photo):
                self.gray += 1
                continue
            small = measured(photo)  # here, so that this generator does not hold the full-size photo
            if small is not photo:
                self.scaled += 1
                photo = small
            self.names.append(path.name)
            yield photo
            del photo

    def left_out(self) -> str:
        """' (N gray, M unreadable)' for a message; '' when none were left out."""
        parts = [f"{self.gray} gray" if self.gray else "", f"{self.unreadable} unreadable" if self.unreadable else ""]
        text = ", ".join(p for p in parts if p)
        return f" ({text} left out)" if text else ""

    def tell(self) -> None:
        """Say on stderr what was left out or scaled down, once each."""
        if self.scaled:
            say(f"stream-colorize: note: {self.scaled} photo(s) above {MEASURE_PIXELS / 1e6:.1f} megapixels "
                "(3840x2160) measured on a copy scaled down to that size (INTER_AREA)")  # fmt: skip
        if self.gray:
            say(f"stream-colorize: note: left out {self.gray} gray photo(s): evaluation compares against colour "
                "originals")  # fmt: skip
        if self.unreadable:
            say(f"stream-colorize: note: skipped {self.unreadable} unreadable file(s)")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"--out must name an .onnx file, not {out}")
    if (out.exists() or out.with_suffix(".json").exists()) and not overwrite:
        raise UsageError(f"output {out} already exists; choose another name or pass -y/--overwrite")
    if not out.parent.is_dir():
        raise UsageError(f"output folder {out.parent} does not exist")


def _load_init(init: str):
    """The network to start from and its temperature: a model made by ``train``, or for ``none`` the
    ImageNet-pretrained encoder with a fresh decoder."""
    from ..models import resolve_model
    from ..models.registry import cache_dir
    from ..train.lite_model import ARCH_TYPE, LiteArch, LiteColorNet
    from ..train.model import ArchConfig, ColorNet

    if init in ("none", "scratch"):
        return LiteColorNet.pretrained(download_dir=cache_dir() / "backbone"), 0.45
    spec = resolve_model(init)
    arch = spec.extra.get("arch")
    if spec.format != "onnx" or spec.output != "logits" or not isinstance(arch, dict):
        raise ModelError(f"cannot fine-tune '{init}': only models made by 'stream-colorize train' can be a start")
    try:
        if arch.get("type") == ARCH_TYPE:
            return LiteColorNet.from_onnx(spec.path, LiteArch.from_dict(arch)), spec.temperature
        return ColorNet.from_onnx(spec.path, ArchConfig.from_dict(arch)), spec.temperature
    except (ValueError, KeyError, OSError) as exc:
        raise ModelError(f"cannot fine-tune '{init}': {exc}") from exc


def _compare(before: dict, after: dict, init: str) -> str:
    """The verdict line: did fine-tuning beat the model it started from on the held-out images?"""
    dp = after["psnr"] - before["psnr"]
    dc = after["colourfulness_ratio"] - before["colourfulness_ratio"]
    head = f"against {init}: PSNR {before['psnr']:.2f} -> {after['psnr']:.2f} dB ({dp:+.2f}), " \
           f"colourfulness ratio {before['colourfulness_ratio']:.2f} -> {after['colourfulness_ratio']:.2f}"
    if dp >= 0 and dc >= -0.02:
        return f"{head}: better on your held-out images"
    if dp < 0 and dc <= 0.02:
        return f"{head}: WORSE on your held-out images; keep using '{init}' (more data or --steps may help)"
    return f"{head}: a trade (more colour for less PSNR, or the reverse); look at the results before switching"


def train_command(
    data: list[Path] = typer.Option(..., "--data", help="Colour photos, videos, or folders of them (repeatable)."),
    out: Path = typer.Option(..., "--out", "-o", help="The new model (.onnx; a .json sidecar is written beside it)."),
    init: str = typer.Option("default", "--init", help="Model to fine-tune (name or path), or 'none' for scratch."),
    steps: int = typer.Option(300, "--steps", min=1, help="Training steps (batches)."),
    minutes: float | None = typer.Option(None, "--minutes", min=0.01, help="Stop after this long instead."),
    device: str = typer.Option("cpu", "--device", help="Torch device: cpu, cuda, or auto."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for training (default 2)."),
    batch: int = typer.Option(8, "--batch", min=1, help="Crops per step."),
    crop: int | None = typer.Option(
        None, "--crop", min=32, help="Training crop side (default 224 for the default model, 128 for 'compact')."
    ),
    train_encoder: bool = typer.Option(
        False, "--train-encoder", help="Also train the pretrained encoder (default: decoder only)."
    ),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default 5e-4 fine-tuning, 2e-3 scratch)."),
    overwrite: bool = OverwriteOption,
) -> None:
    """Fine-tune the colorization model on your own colour photos or videos; writes ONNX + sidecar."""
    _check_out(out, overwrite)
    try:
        import torch
    except ImportError as exc:
        raise UsageError("training needs torch: pip install 'stream-colorize[train]'") from exc
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..train.export import export_model, kept_from_start
    from ..train.loop import TrainConfig, resolve_device, split_validation, train

    images = gather_training_images(data)
    if device not in ("cpu", "cuda", "auto") and not device.startswith("cuda:"):
        raise UsageError(f"unknown training device {device!r}; use cpu, cuda or auto")
    if resolve_device(device).type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda asked, but torch sees no CUDA device; use --device cpu")
    from ..train.lite_model import LiteColorNet

    net, temperature = _load_init(init)
    lite = isinstance(net, LiteColorNet)
    crop = crop or (224 if lite else 128)
    if crop % (32 if lite else 16):
        raise UsageError(f"--crop must be a multiple of {32 if lite else 16} for this model")
    if lite:
        net.freeze_encoder(not train_encoder)
    fine_tuning = init not in ("none", "scratch")
    train_set, val_set = split_validation(images, 0.1) if len(images) >= 5 else (images, images)
    held_out = len(images) >= 5
    cfg = TrainConfig(
        steps=None if minutes else steps,
        minutes=minutes,
        batch=batch,
        crop=crop,
        lr=lr or (5e-4 if fine_tuning else 1e-3),
        device=device,
        threads=threads or 2,
        dropout=0.0 if fine_tuning else 0.1,
        rebalance_lambda=0.5,
    )
    part = "" if not lite else (" (encoder and decoder)" if train_encoder else " (decoder only)")
    typer.echo(f"training on {len(train_set)} colour images ({len(val_set)} {'held out' if held_out else 'reused'} "
               f"for evaluation), from {init}{part}")  # fmt: skip
    columns = (TextColumn("train"), BarColumn(), TextColumn("{task.percentage:>3.0f}%  loss {task.fields[loss]}"),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("train", total=1000, loss="-")
        net = train(
            train_set,
            cfg,
            init=net,
            progress=lambda step, done, loss: bar.update(task, completed=int(done * 1000), loss=f"{loss:.3f}"),
            log=lambda msg: None,
        )
        if net.stopped_at is None:
            bar.update(task, completed=1000)
    if net.stopped_at is not None:
        typer.echo(f"stopped by Ctrl-C after {net.stopped_at} steps: writing the model from what was learned")
    from ..models import resolve_model

    start = resolve_model(init) if fine_tuning else None
    kept = kept_from_start(start.extra, net) if start is not None else {}
    export_model(net, out, temperature=temperature, meta={"description": f"fine-tuned from {init}", **kept})
    from ..models.spec import spec_from_onnx

    # Both models in float: the starting model's int8 copy would not be a fair comparison.
    report = evaluate_images(Colorizer(spec_from_onnx(out), device="cpu", threads=threads, precision="fp32"), val_set)
    typer.echo(f"wrote {out} and {out.with_suffix('.json').name}")
    typer.echo("evaluation on " + ("held-out" if held_out else "the training") + " images:\n" + format_report(report))
    if start is not None:
        before = evaluate_images(Colorizer(start, device="cpu", threads=threads, precision="fp32"), val_set)
        typer.echo(_compare(before, report, init))


def eval_command(
    images: Path | None = typer.Argument(None, help="Folder (or file) of colour photos: the ground truth."),
    video: Path | None = typer.Option(None, "--video", help="A colour video: also measure flicker and warp error."),
    model: str | None = ModelOption,
    device: str | None = DeviceOption,
    backend: str | None = BackendOption,
    precision: str | None = PrecisionOption,
    temperature: float | None = TemperatureOption,
    threads: int | None = ThreadsOption,
    max_frames: int = typer.Option(300, "--max-frames", min=2, help="Frames of --video to use."),
    skip: int | None = SkipOption,
    smooth: float | None = SmoothOption,
    no_smooth: bool = NoSmoothOption,
    smoother: str | None = SmootherOption,
    config: str | None = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    per_image: bool = typer.Option(False, "--per-image", help="Also list each photo, worst PSNR gain first."),
    hints: int = typer.Option(
        0,
        "--hints",
        min=0,
        max=MAX_POINTS,
        help="Also colorize each photo given N random truth colour hints (a model with a hint input) and "
        "report the gain over its automatic result; photos only, not with --video. 0: automatic only.",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the random --hints points (same seed, same points)."),
) -> None:
    """Measure a model on colour photos (and a video): PSNR, SSIM, colourfulness, false colour, flicker and
    warp error vs truth; with --hints, also guided by truth colour hints."""
    if images is None and video is None:
        raise UsageError("give a folder of colour photos, --video FILE, or both")
    if hints and (video is not None or images is None):
        raise UsageError("--hints measures guided colourization on photos only; run --video without --hints")
    paths = collect_images([images]) if images is not None else []
    if video is not None and not video.is_file():
        raise InputNotFoundError(f"video not found: {video}")
    preset = preset_values(config, MODEL_KEYS + TEMPORAL_KEYS)
    model_flags = (model, device, backend, temperature, threads)
    settings = command_settings(
        preset, model_flags, precision=precision, skip=skip, smooth=smoothing(smooth, no_smooth), smoother=smoother
    )
    colorizer = build_engine(settings.model)
    if hints and hint_side(colorizer) is None:
        raise UsageError(
            f"--hints: model '{settings.model.name}' takes no colour hints (no '{HINT_ROLE}' input); "
            "give a model with a hint input, or leave --hints out"
        )
    results: dict[str, dict] = {}
    guided: dict | None = None
    if paths:
        photos = EvalPhotos(paths)
        names = photos.names if per_image else None
        try:
            if hints:
                guided = evaluate_guided(colorizer, photos, hints, seed, names)
                results["images"] = guided["automatic"]
            else:
                results["images"] = evaluate_images(colorizer, photos, names)
        except MediaError:
            if photos.names:
                raise
            raise MediaError(f"{images} holds no colour photos{photos.left_out()}; "
                             "evaluation compares against colour originals") from None  # fmt: skip
        photos.tell()
    if video is not None:
        wanted = settings.temporal.smooth > 0 or (settings.temporal.skip or 1) > 1
        temporal = build_temporal(settings.temporal) if wanted else None
        results["video"] = evaluate_video(colorizer, video, max_frames, temporal)
    if guided is not None:
        # The automatic report stays under "images", as without --hints.
        results["guided"] = {key: value for key, value in guided.items() if key not in ("automatic", "guided")}
        results["guided"].update(guided["guided"])
    if as_json:
        typer.echo(json.dumps(_json_safe({"model": settings.model.name, **results}), indent=2))
        return
    typer.echo(f"model {settings.model.name} on {colorizer.choice.device} ({colorizer.backend_name})")
    for name, report in results.items():
        if name != "guided":
            typer.echo(f"-- {name}\n{format_report(report)}")
    if guided is not None:
        typer.echo(f"-- guided by truth hints\n{format_guided(guided)}")


def _json_safe(value: object) -> object:
    """``value`` with NaN and infinite floats as None (JSON has no NaN; a figure with nothing to
    measure, such as hue agreement on a photo without colour, is null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``eval`` to the app."""
    app.command("train")(train_command)
    app.command("eval")(eval_command)
