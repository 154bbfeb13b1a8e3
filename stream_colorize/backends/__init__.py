"""Compute backends: what runs the network behind a ``Colorizer`` — cv2.dnn or ONNX Runtime.

    >>> backend = open_backend(spec, "auto", device="auto", temperature=0.45)
    >>> backend.name, backend.choice.summary()      # ("onnxruntime", "device cpu (asked auto)")
    >>> ab = backend.forward({"data_l": blob})      # inputs by graph name  ->  (N, 2, h, w) ab

``opencv`` (cv2.dnn) is the reference, and the way to OpenCV's OpenCL targets.  ``onnxruntime``
is a dependency of the package (its CPU build; ``onnxruntime-gpu`` in its place brings CUDA and
TensorRT); its CPU provider runs our networks 1.2-1.4x faster than cv2.dnn 5.1
(``bench/engine.py``).  ``auto``, the default everywhere, takes ONNX Runtime, unless the device
asked for is an OpenCL one that only cv2.dnn can drive, and falls back to cv2.dnn with a one-line
note when ONNX Runtime is missing (an install without dependencies) or cannot load the model.
Both take the same ``--device`` names; a device a backend cannot use falls back to the CPU with
its reason, never with a traceback.

A backend takes every network input by its graph name (``ModelSpec.inputs``: the L and whatever
else the model declares, already shaped and filled by the engine) and returns the decoded ab of
the output the spec names; it knows nothing of what the inputs mean.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from ..errors import DeviceError
from ..models.spec import ModelSpec

log = logging.getLogger("stream_colorize")

BackendName = Literal["auto", "opencv", "onnxruntime"]
BACKENDS: tuple[str, ...] = ("auto", "opencv", "onnxruntime")
# ONNX Runtime is a dependency; an environment can still lack it (pip install --no-deps, a
# platform without its wheels).  Its CPU and GPU builds must not be installed together.
ORT_INSTALL_HINT = "pip install onnxruntime"
GPU_INSTALL_HINT = "pip uninstall -y onnxruntime && pip install onnxruntime-gpu"
# Measured on 2 cores, 2 threads, batch 1 (bench/engine.py): ORT CPU / cv2.dnn 5.1 speed.
ORT_CPU_GAIN = "1.2-1.4x faster than cv2.dnn on the CPU"


@dataclass
class DeviceChoice:
    """The device a backend runs on, and the steps that led there."""

    requested: str
    device: str = "cpu"
    fallbacks: list[str] = field(default_factory=list)
    detail: str = ""  # e.g. the ONNX Runtime execution providers in use

    def summary(self) -> str:
        """One line: what runs where, and why."""
        why = "; ".join(self.fallbacks)
        what = f"device {self.device}" + (f" [{self.detail}]" if self.detail else "")
        return what + f" (asked {self.requested})" + (f": {why}" if why else "")


class Backend(Protocol):
    """What a Colorizer needs from a backend."""

    name: str
    choice: DeviceChoice
    probe_failed: bool  # a device was tried and rejected (news worth a warning, unlike a missing GPU)

    def forward(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Every input of ``spec.inputs`` by name ((N, C, h, w) float32; "" = the graph's only input)
        -> (N, 2, h, w) float32 ab; a batch over ``max_batch`` runs frame by frame."""
        ...

    @property
    def max_batch(self) -> int | None:
        """Most frames one call takes (None: any number)."""
        ...

    def set_temperature(self, temperature: float) -> None:
        """Decode the following forwards at this annealing temperature (> 0)."""
        ...


def feeds_batch(feeds: Mapping[str, np.ndarray]) -> int:
    """The number of frames in a set of feeds (their common first dimension)."""
    return len(next(iter(feeds.values())))


def feeds_slice(feeds: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    """Frames ``start:stop`` of every feed."""
    return {name: value[start:stop] for name, value in feeds.items()}


def probe_feeds(spec: ModelSpec) -> dict[str, np.ndarray]:
    """A deterministic one-frame input for comparing a device with the CPU: a pattern in the L,
    every other input at its fill value."""
    from ..models.spec import L_ROLE
    from .opencv_dnn import probe_blob

    size = spec.input_size
    return {i.name: probe_blob(size) if i.role == L_ROLE else i.default(1, size) for i in spec.inputs}


def ort_installed() -> bool:
    """True when the ``onnxruntime`` package (CPU or GPU build) can be imported."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # blocked in sys.modules, or a broken install
        return False


def check_backend(name: str) -> None:
    """Raise DeviceError for an unknown backend name."""
    if name not in BACKENDS:
        raise DeviceError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _auto_prefers_opencv(device: str) -> str | None:
    """Why ``auto`` should take cv2.dnn over ONNX Runtime for ``device``, or None."""
    from . import opencv_dnn, ort

    if device.startswith("opencl"):
        if opencv_dnn.unavailable_reason(device, auto=False) is None:
            return f"{device} is a cv2.dnn target (ONNX Runtime has no OpenCL provider)"
        return None
    if device == "auto" and not ort.gpu_providers():
        for gpu in ("cuda", "opencl"):
            if opencv_dnn.unavailable_reason(gpu, auto=True) is None:
                return f"cv2.dnn can use {gpu} here and ONNX Runtime has no GPU provider"
    return None


def open_backend(
    spec: ModelSpec,
    backend: str = "auto",
    device: str = "auto",
    temperature: float | None = None,
    threads: int | None = None,
) -> Backend:
    """Load ``spec`` in the named backend on ``device``; see the module docstring for ``auto``.

    ``onnxruntime`` without the package installed is a DeviceError naming the extra to install.
    """
    from . import opencv_dnn

    check_backend(backend)
    temperature = float(temperature) if temperature is not None else spec.temperature
    if backend == "opencv":
        return opencv_dnn.OpenCvBackend(spec, device, temperature, threads)
    if backend == "onnxruntime":
        if not ort_installed():
            raise DeviceError(f"--backend onnxruntime needs ONNX Runtime: {ORT_INSTALL_HINT}")
        from .ort import OrtBackend

        return OrtBackend(spec, device, temperature, threads)
    # auto
    if not ort_installed():
        log.info("backend opencv (auto): ONNX Runtime is not installed (%s: %s)", ORT_INSTALL_HINT, ORT_CPU_GAIN)
        return opencv_dnn.OpenCvBackend(spec, device, temperature, threads)
    reason = _auto_prefers_opencv(device)
    if reason is not None:
        log.info("backend opencv (auto): %s", reason)
        return opencv_dnn.OpenCvBackend(spec, device, temperature, threads)
    from .ort import OrtBackend, OrtUnusable

    try:
        chosen = OrtBackend(spec, device, temperature, threads)
    except OrtUnusable as exc:  # a damaged file is a ModelError from either backend: not caught here
        log.warning("%s; using cv2.dnn (backend auto)", exc)
        return opencv_dnn.OpenCvBackend(spec, device, temperature, threads)
    log.info("backend onnxruntime (auto): %s", auto_reason(chosen.choice.device != "cpu"))
    return chosen


def auto_reason(gpu: bool) -> str:
    """Why ``auto`` runs ONNX Runtime: on a GPU provider, or the CPU's measured gain."""
    return "a GPU provider" if gpu else f"installed, {ORT_CPU_GAIN}"


def backend_table() -> list[tuple[str, str]]:
    """For ``info``: one row per backend (what it would use here, or why it can't), then auto's pick."""
    from . import opencv_dnn, ort

    rows = [("opencv", f"cv2.dnn {opencv_dnn.cv2.__version__}: {opencv_dnn.engine_name()} (the reference)")]
    if ort_installed():
        rows.append(("onnxruntime", ort.describe()))
    else:
        rows.append(("onnxruntime", f"not installed: {ORT_INSTALL_HINT}"))
    rows.append(("auto", f"picks {auto_pick()} (the default)"))
    return rows


def auto_pick() -> str:
    """What ``--backend auto`` runs here and why, for ``info``: "onnxruntime: installed, ..."."""
    from . import ort

    if not ort_installed():
        return f"opencv: ONNX Runtime is not installed ({ORT_INSTALL_HINT}: {ORT_CPU_GAIN})"
    reason = _auto_prefers_opencv("auto")
    if reason is not None:
        return f"opencv: {reason}"
    return "onnxruntime: " + auto_reason(bool(ort.gpu_providers()))
