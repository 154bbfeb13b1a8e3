"""Typed settings in four groups, the same tables a preset has: model, temporal, encode, input.

    >>> settings = Settings(skip=2, crf=20)                  # the flat form: each key finds its group
    >>> settings.temporal.skip, settings.encode.crf          # (2, 20)
    >>> settings = settings.override(model="mine.onnx", crf=None)   # None keeps the value
    >>> Settings(temporal=TemporalSettings(skip=3))          # or whole groups

Each group is handed as it is to what uses it: ``model`` to ``build.build_engine``, ``temporal``
to ``build.build_temporal``, ``encode`` to the writer (``io.sink.FileSink``), ``input`` to the
reader; nothing copies their fields into option objects of its own.  Every value is checked when
a group is made (a ``Settings`` in hand is a valid one), with the ranges of the command-line
flags, so flags, presets (``presets.py``) and library callers meet the same rules.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, fields
from typing import Any

from .backends import BACKENDS
from .backends.precision import PRECISIONS
from .errors import UsageError
from .smoothers import DEFAULT_SMOOTH, SMOOTHERS
from .temporal import DEFAULT_CUT_THRESHOLD
from .timespec import parse_time

# Inference threads one engine may ask for.  No machine this tool runs on gains from more, and
# each thread costs its stack: 100000 took 17 GB and the terminal's Ctrl-C with it.
MAX_THREADS = 256
TEMPERATURE_RANGE = (0.01, 10.0)  # what --temperature takes
MAX_SECONDS = 1e7  # start, end, duration: about 115 days; much larger values overflow FFmpeg's timestamps


def check_threads(threads: int | None, name: str = "threads") -> None:
    """Raise UsageError unless ``threads`` is None (the backend's default) or 1..MAX_THREADS."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"{name} must be 1..{MAX_THREADS} (got {threads}); leave it unset for the default")


def _check_types(group: object, optional: set[str]) -> None:
    """UsageError unless each value has its field's type: finite numbers, non-empty text, a bool."""
    for f in fields(group):  # type: ignore[arg-type]  # every group is a dataclass
        value = getattr(group, f.name)
        if value is None and f.name in optional:
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
            raise UsageError(f"{flat_key(f.name)} must be {want} (got {value!r})")


def flat_key(attribute: str) -> str:
    return "model" if attribute == "name" else attribute


@dataclass(frozen=True)
class ModelSettings:
    """Which network runs where: ``[model]`` in a preset, ``build.build_engine`` builds it."""

    name: str = "default"  # a registry name or a model file (the flat key and the preset's is ``model``)
    device: str = "auto"
    backend: str = "auto"  # ONNX Runtime when installed (faster on the CPU), else cv2.dnn
    temperature: float | None = None  # None: the model's own
    threads: int | None = None  # None: each path's default (video: all cores but one)
    batch: int = 1
    precision: str = "auto"  # fp32, int8 (the model's int8 copy), auto: int8 where it pays (backends/precision.py)

    def __post_init__(self) -> None:
        if isinstance(self.name, os.PathLike):  # a path reads as its text (presets and job manifests keep text)
            object.__setattr__(self, "name", os.fspath(self.name))
        _check_types(self, {"temperature", "threads"})
        check_threads(self.threads)
        low, high = TEMPERATURE_RANGE
        if self.temperature is not None and not low <= self.temperature <= high:
            raise UsageError(f"temperature must be in {low:g}..{high:g} (got {self.temperature:g})")
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.batch < 1:
            raise UsageError(f"batch must be >= 1 (got {self.batch})")
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")


@dataclass(frozen=True)
class TemporalSettings:
    """Across frames: ``[temporal]`` in a preset, ``build.build_temporal`` builds it."""

    skip: int | None = 1  # run the model on every Nth frame; None: auto (live keeps up by itself, files: 1)
    smooth: float = DEFAULT_SMOOTH  # weight of the past where the picture is still; 0: off
    scene_cut: float = DEFAULT_CUT_THRESHOLD
    smoother: str = "flow"  # "flow": the past moves along the optical flow; "motion": it stays, fading where it moves

    def __post_init__(self) -> None:
        _check_types(self, {"skip"})
        if self.smoother not in SMOOTHERS:
            raise UsageError(f"unknown smoother {self.smoother!r}; choose one of {', '.join(SMOOTHERS)}")
        if self.skip is not None and self.skip < 1:
            raise UsageError(f"skip must be >= 1 (got {self.skip})")
        if not 0.0 <= self.smooth < 1.0:
            raise UsageError(f"smooth must be in [0, 1) (got {self.smooth}; 0 turns smoothing off)")
        if self.scene_cut <= 0:
            raise UsageError(f"scene_cut must be > 0 (got {self.scene_cut})")


@dataclass(frozen=True)
class EncodeSettings:
    """How the video is encoded and what happens to the other streams: ``[encode]``, for the writer."""

    codec: str = "auto"  # libx264, or the container's own where it cannot hold H.264 (VP9 for .webm)
    crf: int = 18
    preset: str = "veryfast"  # x264 medium is the slowest stage at 720p on 2 cores (bench/pipeline.py)
    pix_fmt: str = "auto"  # yuv420p, 10-bit for deeper input, yuv444p for odd sizes
    audio_codec: str = "copy"  # or an encoder name, or "none" for no audio (ffmpeg's -an)
    subtitles: bool = True

    def __post_init__(self) -> None:
        _check_types(self, set())
        if not 0 <= self.crf <= 63:
            raise UsageError(f"crf must be in 0..63 (got {self.crf})")

    @property
    def copy_kinds(self) -> tuple[str, ...]:
        """The kinds of input streams copied to the output beside the colourized video."""
        wanted = {"audio": self.audio_codec != "none", "subtitle": self.subtitles, "data": True}
        return tuple(kind for kind, keep in wanted.items() if keep)


TIME_KEYS = ("start", "end", "duration")  # times: seconds, or ffmpeg's time text


@dataclass(frozen=True)
class InputSettings:
    """What part of the input is read, and how much is held between stages: ``[input]``."""

    start: float | None = None  # seconds into the input to start at (ffmpeg's -ss); text: parse_time
    end: float | None = None  # seconds into the input to stop at (ffmpeg's -to)
    duration: float | None = None  # seconds of video to keep (ffmpeg's -t)
    queue_size: int = 8

    def __post_init__(self) -> None:
        for name in TIME_KEYS:  # ffmpeg's time text ("00:10:00", "90", "1.5") as the command line takes it
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, parse_time(value, name))
        _check_types(self, set(TIME_KEYS))
        for name in TIME_KEYS:
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

    @property
    def trimmed(self) -> bool:
        """Whether only part of the input is read (-ss, -to or -t)."""
        return self.start is not None or self.end is not None or self.duration is not None


GROUPS: dict[str, type] = {
    "model": ModelSettings,
    "temporal": TemporalSettings,
    "encode": EncodeSettings,
    "input": InputSettings,
}
# The flat keys (the presets' and the flags' names) by group; ``model`` is ModelSettings.name.
SECTIONS: dict[str, tuple[str, ...]] = {
    group: tuple(flat_key(f.name) for f in fields(kind)) for group, kind in GROUPS.items()
}
MODEL_KEYS, TEMPORAL_KEYS, ENCODE_KEYS, INPUT_KEYS = (SECTIONS[g] for g in GROUPS)
KEY_GROUP = {key: group for group, keys in SECTIONS.items() for key in keys}


@dataclass(frozen=True, init=False)
class Settings:
    """Everything a command can be told, in its four groups; the defaults are the plain command's.

    ``Settings(skip=2, crf=20)`` takes the flat keys (each finds its group); ``Settings(model=
    ModelSettings(...))`` takes groups; both mix.  A string or path as ``model`` is the model's
    name.  Checked on construction: ``Settings(temperature=1e-300)`` is a UsageError, as
    ``--temperature`` and a preset's ``temperature`` are.
    """

    model: ModelSettings
    temporal: TemporalSettings
    encode: EncodeSettings
    input: InputSettings

    def __init__(
        self,
        model: ModelSettings | str | os.PathLike[str] | None = None,
        temporal: TemporalSettings | None = None,
        encode: EncodeSettings | None = None,
        input: InputSettings | None = None,
        **flat: Any,
    ) -> None:
        if model is not None and not isinstance(model, ModelSettings):
            flat["model"] = model
            model = None
        given = {"model": model, "temporal": temporal, "encode": encode, "input": input}
        for group, value in given.items():
            if value is not None and not isinstance(value, GROUPS[group]):
                raise UsageError(f"{group} must be a {GROUPS[group].__name__}, not {type(value).__name__}")
        unknown = sorted(set(flat) - set(KEY_GROUP))
        if unknown:
            raise UsageError(f"unknown setting(s): {', '.join(unknown)} (known: {', '.join(sorted(KEY_GROUP))})")
        for group, kind in GROUPS.items():
            values = {_attribute(k): v for k, v in flat.items() if KEY_GROUP[k] == group}
            base = given[group] or kind()
            object.__setattr__(self, group, dataclasses.replace(base, **values) if values else base)

    def override(self, **values: object) -> Settings:
        """A copy with every non-None flat value replaced (so unset CLI flags keep preset values)."""
        changes: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
        model = self.model
        if "model" in changes:  # the flat key names the model; the group comes along renamed
            model = dataclasses.replace(self.model, name=changes.pop("model"))
        return Settings(model, self.temporal, self.encode, self.input, **changes)

    def flat(self) -> dict[str, object]:
        """Every value by its flat key (``model`` is the model's name): for manifests and messages."""
        return {
            flat_key(f.name): getattr(getattr(self, group), f.name)
            for group in GROUPS
            for f in fields(getattr(self, group))
        }


def _attribute(key: str) -> str:
    return "name" if key == "model" else key
