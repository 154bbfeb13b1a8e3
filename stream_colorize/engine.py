"""The colorization engine: a model in a compute backend, turning frames into colour.

    >>> engine = Colorizer("default")                                  # the bundled model in cv2.dnn
    >>> engine = Colorizer("film.onnx", backend="auto", device="auto")  # ONNX Runtime when installed
    >>> ab = engine.predict_ab([frame])            # (1, 2, h, w) ab at the model's resolution
    >>> colour = engine.colorize([frame])[0]       # BGR uint8 at the frame's own size

The network runs in a backend (``backends/``): cv2.dnn, the reference and the default here, or
ONNX Runtime (extras ``ort`` and ``gpu``).  Device choice happens inside the backend: ``auto``
tries the GPUs it can drive, each only when a probe forward agrees with the CPU, then the CPU;
every step down is logged once with its reason (``stream-colorize info`` shows the whole table).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from .backends import BACKENDS, Backend, DeviceChoice, open_backend
from .backends.opencv_dnn import (
    DEVICES,
    HAS_CLASSIC_ENGINE,
    OPENCV_MAJOR,
    cuda_device_count,
    device_capabilities,
    opencl_device,
    probe_blob,
)
from .backends.opencv_dnn import unavailable_reason as _unavailable_reason
from .errors import UsageError
from .lab import MergeMethod, limit_to_gamut, merge_ab, network_input
from .models.resolve import resolve_model
from .models.spec import ModelSpec

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "BACKENDS",
    "DEVICES",
    "HAS_CLASSIC_ENGINE",
    "OPENCV_MAJOR",
    "Colorizer",
    "build_engine",
    "DeviceChoice",
    "DeviceName",
    "_unavailable_reason",
    "cuda_device_count",
    "device_capabilities",
    "opencl_device",
]

log = logging.getLogger("stream_colorize")

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
        backend: str = "opencv",
    ) -> None:
        if temperature is not None and not temperature > 0:
            raise UsageError(f"temperature must be > 0 (got {temperature})")
        spec = model if isinstance(model, ModelSpec) else resolve_model(model)
        if threads:
            cv2.setNumThreads(int(threads))  # also the merge's and the input resize's threads
        self.spec = spec
        self.temperature = float(temperature) if temperature is not None else spec.temperature
        self.merge: MergeMethod = merge
        self.batch_size = max(1, int(batch_size))
        self.gamut_limit = gamut_limit
        self.input_size = spec.input_size
        self.backend: Backend = open_backend(spec, backend, device, self.temperature, threads)
        self.choice: DeviceChoice = self.backend.choice
        if self.choice.fallbacks:
            # Landing on the CPU because no accelerator exists is the normal case on most machines:
            # say it quietly (`stream-colorize info` shows it); a failed probe or a refused request is news.
            expected = device == "auto" and self.choice.device == "cpu" and not self.backend.probe_failed
            log.log(logging.INFO if expected else logging.WARNING, self.summary())

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
        """One line: backend, device, and why."""
        return f"backend {self.backend.name}, {self.choice.summary()}"

    def _probe_blob(self) -> np.ndarray:
        return probe_blob(self.input_size)

    # -- inference --------------------------------------------------------------------------
    def forward(self, blob: np.ndarray) -> np.ndarray:
        """Run a prepared (N, 1, S, S) L-50 blob; return (N, 2, h, w) ab."""
        out = self.backend.forward(blob)
        limit = self.backend.max_batch
        if limit is not None and limit < self.batch_size:
            self.batch_size = limit  # this graph has a fixed batch
        return out

    def predict_ab(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """ab at model resolution, (N, 2, h, w) float32, for a list of uint8 gray/BGR frames."""
        if not frames:
            return np.zeros((0, 2, 1, 1), np.float32)
        blob = network_input(frames, self.input_size)
        chunks = [self.forward(blob[i : i + self.batch_size]) for i in range(0, len(frames), self.batch_size)]
        ab = np.concatenate(chunks)
        if self.gamut_limit:
            height, width = ab.shape[2:]
            for i in range(ab.shape[0]):
                light = cv2.resize(blob[i, 0], (width, height), interpolation=cv2.INTER_AREA) + np.float32(50)
                ab[i] = limit_to_gamut(ab[i], light)
        return ab

    def colorize(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colour versions (BGR uint8, same sizes) of a list of uint8 gray/BGR frames."""
        ab = self.predict_ab(frames)
        return [merge_ab(frame, ab[i], self.merge) for i, frame in enumerate(frames)]


def build_engine(settings: Settings) -> Colorizer:
    """Load the model the settings name on the device they ask for."""
    return Colorizer(
        settings.model,
        device=settings.device,
        temperature=settings.temperature,
        threads=settings.threads,
        batch_size=settings.batch,
        backend=settings.backend,
    )
