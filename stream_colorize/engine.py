"""The colorization engine: a model in a compute backend, turning frames into colour.

    >>> engine = Colorizer("default")                                  # the bundled model, ONNX Runtime
    >>> engine = Colorizer("film.onnx", backend="opencv")               # cv2.dnn, the reference
    >>> engine.precision, engine.precision_reason   # ("int8", "int8: ONNX Runtime on a CPU with AVX2...")
    >>> ab = engine.predict_ab([frame])            # (1, 2, h, w) ab at the model's resolution
    >>> colour = engine.colorize(frame)            # BGR uint8 at the frame's own size
    >>> colours = engine.colorize([frame, other])  # a list in, a list out
    >>> ab = engine.predict_ab([frame], {"hints_ab": hints})  # a model with more inputs, by role
    >>> colour = engine.colorize(frame, hints=Hints.of([HintPoint.from_color(120, 80, "#a0522d")]))

The network runs in a backend (``backends/``): ``auto`` (the default, as on the command line and
in ``Settings``) takes ONNX Runtime, a dependency of the package, and falls back to cv2.dnn, the
reference (``backend="opencv"``), where ONNX Runtime is missing or cannot load the model.
Device choice happens inside the backend: ``auto`` tries the GPUs it can drive, each only when a
probe forward agrees with the CPU, then the CPU; every step down is logged once with its reason
(``stream-colorize info`` shows the whole table).  ``precision`` picks the model's float copy or
its int8 copy (``backends/precision.py``; ``auto``: int8 where it was measured to pay).

Inputs: the engine builds the L input from the frames (``lab.network_input``) and takes any other
input the model declares (``ModelSpec.inputs``, from its sidecar) from the caller, by role, or
fills it with the input's default; the backend gets them all by graph name.  Colour hints
(``hints.Hints``, one per frame, in the frame's own pixels) are drawn onto the model's hint input
(role ``hints.HINT_ROLE``) at its grid; a model without one refuses them (UsageError).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, overload

import cv2
import numpy as np

from .backends import BACKENDS, Backend, DeviceChoice, feeds_slice, open_backend
from .backends.opencv_dnn import (
    DEVICES,
    HAS_CLASSIC_ENGINE,
    OPENCV_MAJOR,
    cuda_device_count,
    device_capabilities,
    opencl_device,
    probe_blob,
)
from .backends.precision import choose as choose_precision
from .errors import ColorizeError, UsageError
from .hints import HINT_ROLE, Hints, Spread, hint_batch
from .lab import MergeMethod, limit_to_gamut, merge_ab, network_input
from .models.resolve import resolve_model
from .models.spec import L_ROLE, InputSpec, ModelSpec

__all__ = [
    "BACKENDS",
    "DEVICES",
    "HAS_CLASSIC_ENGINE",
    "OPENCV_MAJOR",
    "Colorizer",
    "DeviceChoice",
    "DeviceName",
    "cuda_device_count",
    "device_capabilities",
    "opencl_device",
]

log = logging.getLogger("stream_colorize")

HintsArg = Hints | Sequence[Hints | None] | None  # colour hints: one Hints per frame (see Colorizer.hint_planes)
DeviceName = Literal["auto", "cpu", "opencl", "opencl-fp16", "cuda", "cuda-fp16"]


class Colorizer:
    """Runs one model in one backend on one device; turns uint8 gray/BGR frames into ab or colour frames.

    ``model`` is a ``ModelSpec``, a model name (``"default"``, see ``stream-colorize models list``)
    or the path of a model file.
    """

    def __init__(
        self,
        model: ModelSpec | str | Path = "default",
        device: str = "auto",
        temperature: float | None = None,
        merge: MergeMethod = "u8",
        threads: int | None = None,
        batch_size: int = 1,
        gamut_limit: bool = True,
        backend: str = "auto",
        precision: str = "auto",
    ) -> None:
        if temperature is not None and not (temperature > 0 and math.isfinite(temperature)):
            raise UsageError(f"temperature must be a finite number > 0 (got {temperature})")
        spec = model if isinstance(model, ModelSpec) else resolve_model(model)
        if threads:
            cv2.setNumThreads(int(threads))  # also the merge's and the input resize's threads
        self.spec = spec
        self.temperature = float(temperature) if temperature is not None else spec.temperature
        self.merge: MergeMethod = merge
        self.batch_size = max(1, int(batch_size))
        self.gamut_limit = gamut_limit
        # how the model's sidecar lets point hints reach past their cells (None: as the network gives)
        self.spread = Spread.from_sidecar(spec.extra.get("hint_spread")) if spec.format == "onnx" else None
        self.input_size = spec.input_size
        loaded, self.precision, self.precision_reason = choose_precision(spec, precision, backend, device)
        try:
            self.backend: Backend = open_backend(loaded, backend, device, self.temperature, threads)
        except ColorizeError as exc:
            if loaded is spec or precision == "int8":
                raise
            log.warning("the int8 copy of '%s' did not load (%s); running fp32", spec.name, exc)
            self.precision, self.precision_reason = "fp32", f"fp32: the int8 copy did not load ({exc})"
            self.backend = open_backend(spec, backend, device, self.temperature, threads)
        if self.precision == "int8" and self.backend.name != "onnxruntime" and precision == "auto":
            # auto chose int8 for ONNX Runtime; where auto's backend fell back to cv2.dnn, the reference runs
            self.precision, self.precision_reason = "fp32", "fp32: cv2.dnn runs the float reference"
            self.backend = open_backend(spec, backend, device, self.temperature, threads)
        self.choice: DeviceChoice = self.backend.choice
        if self.choice.fallbacks:
            # Landing on the CPU because no accelerator exists is the normal case on most machines:
            # say it quietly (`stream-colorize info` shows it); a failed probe or a refused request is news.
            expected = device == "auto" and self.choice.device == "cpu" and not self.backend.probe_failed
            log.log(logging.INFO if expected else logging.WARNING, self.summary())

    def set_temperature(self, temperature: float) -> None:
        """Change the annealing temperature for the following forwards (live's colour strength:
        lower is bolder); UsageError unless a finite number > 0.  A model that outputs ab directly
        has no temperature: it is kept but changes nothing."""
        if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
            raise UsageError(f"temperature must be a finite number > 0 (got {temperature})")
        self.backend.set_temperature(float(temperature))
        self.temperature = float(temperature)

    @property
    def backend_name(self) -> str:
        """``opencv`` or ``onnxruntime``: what runs the network."""
        return self.backend.name

    @property
    def net(self) -> cv2.dnn.Net:
        """The loaded ``cv2.dnn.Net`` (cv2.dnn backend only)."""
        net = getattr(self.backend, "net", None)
        if net is None:
            raise AttributeError(f"the {self.backend.name} backend has no cv2.dnn.Net")
        return net

    def summary(self) -> str:
        """One line: backend, precision, device, and why."""
        return f"backend {self.backend.name} {self.precision}, {self.choice.summary()}"

    @property
    def hint_input(self) -> InputSpec | None:
        """The model's colour-hint input (role ``HINT_ROLE``), or None when it takes no hints."""
        return next((i for i in self.spec.inputs if i.role == HINT_ROLE), None)

    @property
    def takes_hints(self) -> bool:
        """Whether the model takes colour hints (``colorize(frames, hints=...)``)."""
        return self.hint_input is not None

    def hint_planes(
        self, frames: Sequence[np.ndarray], hints: Hints | Sequence[Hints | None] | None
    ) -> np.ndarray | None:
        """The (N, 3, g, g) hint planes for ``frames`` (g: the model's hint grid), None when no frame
        has hints (the model's fill: automatic colour).  ``hints`` is one ``Hints`` (or None) per
        frame, or one ``Hints`` for a single frame.  UsageError for hints the model cannot take,
        a point outside its frame, or a count that does not match the frames."""
        listed = _hint_list(hints, len(frames))
        if not any(listed):
            return None
        item = self.hint_input
        if item is None:
            roles = ", ".join(i.role for i in self.spec.inputs if i.role != L_ROLE) or "only the L"
            raise UsageError(
                f"model '{self.spec.name}' takes no colour hints (its inputs: {roles}; "
                f"hints need an input with the role {HINT_ROLE!r})"
            )
        if item.channels != 3:
            raise UsageError(
                f"model '{self.spec.name}': its {HINT_ROLE!r} input has {item.channels} channels, "
                "colour hints give 3 (a, b, mask)"
            )
        sizes = [frame.shape[:2] for frame in frames]
        for given, (height, width) in zip(listed, sizes):
            if given:
                given.check_inside(width, height)
        return hint_batch(listed, sizes, self.input_size // item.stride)

    def _probe_blob(self) -> np.ndarray:
        return probe_blob(self.input_size)

    # -- inference --------------------------------------------------------------------------
    def feeds(self, blob: np.ndarray, extra: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Every network input by graph name: the L blob (N, 1, S, S), then each other declared input
        from ``extra`` (keyed by role, (N, C, h, w)) or at its fill value.  UsageError for a role the
        model lacks or an array of the wrong shape."""
        extra = dict(extra or {})
        spec, count = self.spec, blob.shape[0]
        unknown = sorted(set(extra) - {i.role for i in spec.inputs if i.role != L_ROLE})
        if unknown:
            roles = ", ".join(i.role for i in spec.inputs if i.role != L_ROLE) or "none besides the L"
            raise UsageError(f"model '{spec.name}' has no input with the role {unknown[0]!r} (its roles: {roles})")
        feeds: dict[str, np.ndarray] = {}
        for item in spec.inputs:
            if item.role == L_ROLE:
                feeds[item.name] = blob
                continue
            given = extra.get(item.role)
            if given is None:
                feeds[item.name] = item.default(count, self.input_size)
                continue
            given = np.asarray(given, np.float32)
            if given.shape != item.shape(count, self.input_size):
                raise UsageError(
                    f"{item.role} for model '{spec.name}' must be shaped {item.shape(count, self.input_size)} "
                    f"(frames, channels, height, width), not {given.shape}"
                )
            feeds[item.name] = given
        return feeds

    def forward(self, feeds: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """Run prepared inputs, by graph name, or a bare (N, 1, S, S) L-50 blob (other inputs at
        their defaults); return (N, 2, h, w) ab."""
        if isinstance(feeds, np.ndarray):
            feeds = self.feeds(feeds)
        out = self.backend.forward(feeds)
        limit = self.backend.max_batch
        if limit is not None and limit < self.batch_size:
            self.batch_size = limit  # this graph has a fixed batch
        return out

    def _forward_batches(self, feeds: Mapping[str, np.ndarray], count: int, step: int) -> np.ndarray:
        """``forward`` over ``count`` frames' feeds, ``step`` at a time, as one (count, 2, h, w) array."""
        return np.concatenate([self.forward(feeds_slice(feeds, i, i + step)) for i in range(0, count, step)])

    @overload
    def predict_ab(
        self, frames: np.ndarray, extra: Mapping[str, np.ndarray] | None = None, hints: HintsArg = None
    ) -> np.ndarray: ...
    @overload
    def predict_ab(
        self, frames: Sequence[np.ndarray], extra: Mapping[str, np.ndarray] | None = None, hints: HintsArg = None
    ) -> np.ndarray: ...
    def predict_ab(
        self,
        frames: np.ndarray | Sequence[np.ndarray],
        extra: Mapping[str, np.ndarray] | None = None,
        hints: HintsArg = None,
    ) -> np.ndarray:
        """ab at model resolution as float32: (2, h, w) for one uint8 gray/BGR frame, (N, 2, h, w)
        for a list of them.  UsageError for anything that is not a frame.

        ``extra``: the model's other inputs by role (see ``ModelSpec.inputs``), each (N, C, h, w),
        or (C, h, w) with one bare frame; an input left out gets its default (for hints: none).
        ``hints``: colour hints, one ``Hints`` (or None) per frame or one for a bare frame, in each
        frame's own pixels (see ``hint_planes``); not together with hint planes in ``extra``.
        """
        batch, single = frame_list(frames)
        if not batch:
            return np.zeros((0, 2, 1, 1), np.float32)
        planes = self.hint_planes(batch, hints)
        blob = network_input(batch, self.input_size)
        if single and extra:
            extra = {role: np.asarray(value)[None] for role, value in extra.items()}
        if planes is not None:
            if extra and HINT_ROLE in extra:
                raise UsageError(f"colour hints given twice: as hints= and as extra[{HINT_ROLE!r}]; pass one")
            extra = {**(extra or {}), HINT_ROLE: planes}
        feeds = self.feeds(blob, extra)
        step = self.batch_size  # fixed for this call: forward() may lower batch_size for the next
        ab = self._forward_batches(feeds, len(batch), step)
        given = extra.get(HINT_ROLE) if extra else None
        spread = self.spread if given is not None and given.shape[2:] == ab.shape[2:] else None
        own = None
        if spread is not None and extra and given is not None and any(spread.needs_own(np.asarray(g)) for g in given):
            # the colour term compares the network's unhinted colours: one more forward, only for point hints
            plain = self.feeds(blob, {role: value for role, value in extra.items() if role != HINT_ROLE})
            own = self._forward_batches(plain, len(batch), step)
        if self.gamut_limit or spread is not None:
            height, width = ab.shape[2:]
            for i in range(ab.shape[0]):
                light = cv2.resize(blob[i, 0], (width, height), interpolation=cv2.INTER_AREA) + np.float32(50)
                if spread is not None and given is not None:
                    planes_i = np.asarray(given[i], np.float32)
                    ab[i] = spread.apply(ab[i], planes_i, light, None if own is None else own[i])
                if self.gamut_limit:
                    ab[i] = limit_to_gamut(ab[i], light)
        return ab[0] if single else ab

    @overload
    def colorize(self, frames: np.ndarray, hints: HintsArg = None) -> np.ndarray: ...
    @overload
    def colorize(self, frames: Sequence[np.ndarray], hints: HintsArg = None) -> list[np.ndarray]: ...
    def colorize(
        self, frames: np.ndarray | Sequence[np.ndarray], hints: HintsArg = None
    ) -> np.ndarray | list[np.ndarray]:
        """The colour version (BGR uint8, same size) of one uint8 gray/BGR frame, or a list of
        them for a list of frames.  UsageError for anything that is not a frame.

        ``hints``: colour hints for a model that takes them (``takes_hints``): one ``Hints`` for a
        bare frame, or a list of one ``Hints`` (or None: automatic) per frame, in the frame's pixels.
        """
        batch, single = frame_list(frames)
        # through the public method, which a subclass may wrap (without the hints keyword, if it never takes them)
        ab = self.predict_ab(batch) if hints is None else self.predict_ab(batch, hints=hints)
        color = [merge_ab(frame, ab[i], self.merge) for i, frame in enumerate(batch)]
        return color[0] if single else color


def _hint_list(hints: object, count: int) -> list[Hints | None]:
    """``hints`` as one ``Hints`` or None per frame; UsageError naming what does not fit."""
    if hints is None:
        return [None] * count
    if isinstance(hints, Hints):
        if count != 1:
            raise UsageError(f"one Hints for {count} frames: pass a list with one Hints (or None) per frame")
        return [hints]
    if isinstance(hints, (str, bytes)) or not isinstance(hints, Iterable):
        what = type(hints).__name__
        raise UsageError(f"hints must be a Hints, or a list of one Hints (or None) per frame; got {what}")
    listed = list(hints)
    if len(listed) != count:
        raise UsageError(f"{len(listed)} hints for {count} frames: pass one Hints (or None) per frame")
    wrong = next((h for h in listed if h is not None and not isinstance(h, Hints)), None)
    if wrong is not None:
        raise UsageError(f"each frame's hints must be a Hints or None, not {type(wrong).__name__}")
    return listed


def frame_list(frames: object) -> tuple[list[np.ndarray], bool]:
    """``frames`` as a list of checked frames, and whether one bare frame was given.

    A numpy array is one frame: (H, W) gray, or (H, W, 1|3|4) with the channels in OpenCV's
    order; anything iterable (a list, a tuple) holds frames.  Everything else, and frames that
    are empty, not uint8 or of another shape, is a UsageError that names the frame.
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim == 4 or (frames.ndim == 3 and frames.shape[2] not in (1, 3, 4)):
            raise UsageError(f"one frame is (H, W) or (H, W, 3), not {frames.shape}; pass several frames as a list")
        return [_checked(frames, "the frame")], True
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise UsageError(
            f"frames must be a numpy frame (H, W) or (H, W, 3), or a list of them; got {type(frames).__name__}"
        )
    return [_checked(frame, f"frame {i}") for i, frame in enumerate(frames)], False


def _checked(frame: object, name: str) -> np.ndarray:
    if not isinstance(frame, np.ndarray):
        raise UsageError(f"{name} is {type(frame).__name__}, not a numpy array (uint8, gray or BGR)")
    if frame.dtype != np.uint8:
        hint = " (scale floats in 0..1 by 255 first)" if frame.dtype.kind == "f" else ""
        raise UsageError(f"{name} must be uint8, not {frame.dtype}{hint}")
    channels = frame.shape[2] if frame.ndim == 3 else None
    if not (frame.ndim == 2 or channels in (1, 3, 4)):
        raise UsageError(f"{name} must be gray (H, W) or BGR (H, W, 3), not shape {frame.shape}")
    if frame.size == 0:
        raise UsageError(f"{name} is empty (shape {frame.shape})")
    return frame
