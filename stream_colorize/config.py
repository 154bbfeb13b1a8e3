"""Typed settings for the video pipeline, presets in TOML files, command-line overrides.

    >>> settings = load_settings("configs/film.toml")            # or a preset name: "film"
    >>> settings = settings.override(skip=2, crf=None)          # None keeps the preset's value
    >>> settings.skip, settings.crf                              # (2, 16)

A preset is a TOML file with up to four tables, ``[model]``, ``[temporal]``, ``[encode]`` and
``[input]`` (``SECTIONS`` says which setting belongs where; a key in the wrong table, an unknown
key and a wrong type are errors).  Keys at the top level, as older presets have them, are read
too.  Presets shipped with the project live in ``configs/``; a name without a suffix (``film``,
``fast``) looks there.  ``video`` reads every key; ``live``, ``image`` and ``eval`` read the
sections they have a use for (``[model]``; live and eval also ``[temporal]``) and ignore the rest.
Presets written before ``smooth`` became a strength still read: ``smooth = true`` is the default
strength, ``false`` is 0, and ``smooth_strength = S`` is ``smooth = S``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .backends import BACKENDS
from .errors import UsageError
from .temporal import DEFAULT_CUT_THRESHOLD, DEFAULT_SMOOTH

# A checkout has configs/ beside the package; an installed copy has it as stream_colorize/_configs.
PRESET_DIRS = (Path(__file__).resolve().parent.parent / "configs", Path(__file__).resolve().parent / "_configs")

# Defaults picked by measurement (bench/pipeline.py --temporal); they live beside the code that uses them.
DEFAULT_SCENE_CUT = DEFAULT_CUT_THRESHOLD

# Inference threads one engine may ask for.  No machine this tool runs on gains from more, and
# each thread costs its stack: 100000 took 17 GB and the terminal's Ctrl-C with it.
MAX_THREADS = 256


def check_threads(threads: int | None, name: str = "threads") -> None:
    """Raise UsageError unless ``threads`` is None (the backend's default) or 1..MAX_THREADS."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"{name} must be 1..{MAX_THREADS} (got {threads}); leave it unset for the default")


def pipeline_model_threads() -> int:
    """Threads for the model in the file pipeline: all cores but one, which decode, merge and encode share.

    On 2 cores (1 model thread) ``bench/pipeline.py --vs-ffmpeg`` measured 0.35x / 0.63x of
    ffmpeg's re-encode speed at skip 1 / 2, against 0.27x / 0.44x with the model on both cores:
    the stages overlap instead of the model's threads waiting for the encoder's.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True)
class Settings:
    """Everything the ``video`` command can be told; the defaults are the plain command's.

    Checked on construction (``validated``): ``Settings(temperature=1e-300)`` is a UsageError, as
    ``--temperature`` and a preset's ``temperature`` are.
    """

    model: str = "default"
    device: str = "auto"
    backend: str = "auto"  # ONNX Runtime when installed (faster on the CPU), else cv2.dnn
    temperature: float | None = None
    threads: int | None = field(default_factory=pipeline_model_threads)  # None: the backend's own default
    batch: int = 1
    skip: int = 1
    smooth: float = DEFAULT_SMOOTH  # weight of the past where the picture is still; 0: off
    scene_cut: float = DEFAULT_SCENE_CUT
    codec: str = "auto"  # libx264, or VP9 for .webm
    crf: int = 18
    preset: str = "veryfast"  # x264 medium is the slowest stage at 720p on 2 cores (bench/pipeline.py)
    pix_fmt: str = "auto"
    audio_codec: str = "copy"  # or an encoder name, or "none" for no audio (ffmpeg's -an)
    subtitles: bool = True
    duration: float | None = None  # seconds of video to keep (ffmpeg's -t)
    start: float | None = None  # seconds into the input to start at (ffmpeg's -ss)
    end: float | None = None  # seconds into the input to stop at (ffmpeg's -to)
    queue_size: int = 8

    def override(self, **values: object) -> Settings:
        """A copy with every non-None value replaced (so unset CLI flags keep preset values)."""
        changes: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise UsageError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)  # validated on construction

    def __post_init__(self) -> None:
        # A path as the model reads as its name (presets, job manifests and the cluster keep text).
        if isinstance(self.model, os.PathLike):
            object.__setattr__(self, "model", os.fspath(self.model))
        self.validated()

    def validated(self) -> Settings:
        """Check every value's type and range (the command-line flags' ranges); raise UsageError
        naming the bad setting.  Runs on construction, so a ``Settings`` in hand is a valid one."""
        _check_types(self)
        check_threads(self.threads)
        if self.temperature is not None and not TEMPERATURE_RANGE[0] <= self.temperature <= TEMPERATURE_RANGE[1]:
            low, high = TEMPERATURE_RANGE
            raise UsageError(f"temperature must be in {low:g}..{high:g} (got {self.temperature:g})")
        if self.skip < 1:
            raise UsageError(f"skip must be >= 1 (got {self.skip})")
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.batch < 1:
            raise UsageError(f"batch must be >= 1 (got {self.batch})")
        if not 0.0 <= self.smooth < 1.0:
            raise UsageError(f"smooth must be in [0, 1) (got {self.smooth}; 0 turns smoothing off)")
        if self.scene_cut <= 0:
            raise UsageError(f"scene_cut must be > 0 (got {self.scene_cut})")
        if not 0 <= self.crf <= 63:
            raise UsageError(f"crf must be in 0..63 (got {self.crf})")
        for name in ("start", "end", "duration"):
            seconds = getattr(self, name)
            if seconds is not None and seconds > MAX_SECONDS:
                raise UsageError(f"{name} must be at most {MAX_SECONDS:.0f} s, about 115 days (got {seconds:g})")
        if self.duration is not None and self.duration <= 0:
            raise UsageError(f"duration must be > 0 seconds (got {self.duration})")
        if self.start is not None and self.start < 0:
            raise UsageError(f"start must be >= 0 seconds (got {self.start})")
        if self.end is not None and self.end <= (self.start or 0.0):
            raise UsageError(f"end ({self.end} s) must come after start ({self.start or 0.0} s)")
        if self.queue_size < 1:
            raise UsageError(f"queue_size must be >= 1 (got {self.queue_size})")
        return self


TEMPERATURE_RANGE = (0.01, 10.0)  # what --temperature takes
MAX_SECONDS = 1e7  # start, end, duration: about 115 days; much larger values overflow FFmpeg's timestamps
OPTIONAL = {"temperature", "threads", "duration", "start", "end"}  # None means "not set"


def _check_types(settings: Settings) -> None:
    """UsageError unless each value has its field's type: finite numbers, non-empty text, a bool."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is None and f.name in OPTIONAL:
            continue
        kind = str(f.type)
        if kind.startswith("bool"):
            ok, want = isinstance(value, bool), "true or false"
        elif kind.startswith("int"):
            ok, want = isinstance(value, numbers.Integral) and not isinstance(value, bool), "a whole number"
        elif kind.startswith("float"):
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            want = "a finite number"
        else:
            ok, want = isinstance(value, str) and value.strip() != "", "a non-empty string"
        if not ok:
            raise UsageError(f"{f.name} must be {want} (got {value!r})")


MODEL_KEYS = ("model", "device", "backend", "temperature", "threads", "batch")  # what every command reads
TEMPORAL_KEYS = ("skip", "smooth", "scene_cut")  # what video, live and eval read
ENCODE_KEYS = ("codec", "crf", "preset", "pix_fmt", "audio_codec", "subtitles")
INPUT_KEYS = ("start", "end", "duration", "queue_size")
SECTIONS = {"model": MODEL_KEYS, "temporal": TEMPORAL_KEYS, "encode": ENCODE_KEYS, "input": INPUT_KEYS}


def _field_types() -> dict[str, tuple[type, ...]]:
    kinds: dict[str, tuple[type, ...]] = {}
    for f in fields(Settings):
        text = str(f.type)
        if text.startswith("float"):
            kinds[f.name] = (float, int)
        elif text.startswith("int"):
            kinds[f.name] = (int,)
        elif text.startswith("bool"):
            kinds[f.name] = (bool,)
        else:
            kinds[f.name] = (str,)
    return kinds


def find_preset(name_or_path: str | Path) -> Path:
    """The TOML file for a path or a preset name (looked up in configs/)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.suffix == "" and path.parent == Path("."):
        for folder in PRESET_DIRS:
            candidate = folder / f"{path.name}.toml"
            if candidate.is_file():
                return candidate
    known = sorted({p.stem for d in PRESET_DIRS if d.is_dir() for p in d.glob("*.toml")})
    hint = f" (presets: {', '.join(known)})" if known else ""
    raise UsageError(f"config file not found: {name_or_path}{hint}")


def read_preset(name_or_path: str | Path) -> dict[str, object]:
    """Read and type-check a preset; return its values by field name."""
    path = find_preset(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config {path} is not valid TOML: {exc}") from exc
    kinds = _field_types()
    data = _flatten(data, path)
    _read_old_smoothing(data)
    for key, value in data.items():
        if key not in kinds:
            raise UsageError(f"config {path}: unknown key {key!r} (known: {', '.join(sorted(kinds))})")
        ok = isinstance(value, kinds[key]) and not (isinstance(value, bool) and kinds[key] != (bool,))
        if not ok:
            raise UsageError(f"config {path}: {key} must be {kinds[key][0].__name__}, not {type(value).__name__}")
        if kinds[key] == (float, int):
            assert isinstance(value, (int, float))  # checked just above
            data[key] = float(value)
    try:
        Settings().override(**data)  # the ranges, with the file named: a bad value is the preset's fault
    except UsageError as exc:
        raise UsageError(f"config {path}: {exc}") from None
    return data


def _flatten(data: dict[str, object], path: Path) -> dict[str, object]:
    """The sections' keys and the top-level keys as one table, each key checked against its section."""
    flat: dict[str, object] = {}
    for key, value in data.items():
        if key not in SECTIONS or not isinstance(value, dict):  # a top-level key (``model = "x"`` too)
            if key in flat:
                raise UsageError(f"config {path}: {key} is set twice")
            flat[key] = value
            continue
        for name, item in value.items():
            if name not in SECTIONS[key]:
                home = next((s for s, keys in SECTIONS.items() if name in keys), None)
                where = f"it belongs in [{home}]" if home else f"[{key}] takes {', '.join(SECTIONS[key])}"
                raise UsageError(f"config {path}: {name!r} is not a [{key}] setting; {where}")
            if name in flat:
                raise UsageError(f"config {path}: {name} is set twice")
            flat[name] = item
    return flat


def _read_old_smoothing(data: dict[str, object]) -> None:
    """Presets from before ``smooth`` was a strength: ``smooth = true|false`` and ``smooth_strength``."""
    strength = data.pop("smooth_strength", None)
    switch = data.get("smooth")
    if isinstance(switch, bool):
        data["smooth"] = (strength if strength is not None else DEFAULT_SMOOTH) if switch else 0.0
    elif strength is not None and switch is None:
        data["smooth"] = strength


def as_settings(value: object) -> Settings:
    """A ``Settings`` as given, a preset's name or path loaded (``load_settings``), None as the
    defaults; UsageError for anything else."""
    if value is None:
        return Settings()
    if isinstance(value, Settings):
        return value
    if isinstance(value, (str, bytes, os.PathLike)):
        return load_settings(os.fsdecode(os.fspath(value)))
    raise UsageError(f"settings must be a Settings, a preset name or a preset path, not {type(value).__name__}")


def load_settings(config: str | Path | None = None) -> Settings:
    """Defaults, with a preset file's values on top when one is given."""
    if config is None:
        return Settings()
    return Settings().override(**read_preset(config))
