"""The colorization engine: a model in cv2.dnn, on the best device, turning frames into colour.

    >>> engine = Colorizer(resolve_model("default"), device="auto")
    >>> ab = engine.predict_ab([frame])            # (1, 2, h, w) ab at the model's resolution
    >>> colour = engine.colorize([frame])[0]       # BGR uint8 at the frame's own size

Device choice: ``auto`` tries CUDA (only when this OpenCV build sees CUDA devices), then OpenCL
(only on a GPU, and only when a probe forward agrees with the CPU), then the CPU.  Every step
down is logged once with its reason.  OpenCV 5's new DNN engine ignores targets, so any non-CPU
target loads the ONNX graph with the classic engine, which honours them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from .bins import annealed_mean, load_bins
from .errors import DeviceError, ModelError
from .lab import MergeMethod, limit_to_gamut, merge_ab, network_input
from .models.spec import ModelSpec

log = logging.getLogger("stream_colorize")

DeviceName = Literal["auto", "cpu", "opencl", "opencl-fp16", "cuda", "cuda-fp16"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "opencl", "opencl-fp16", "cuda", "cuda-fp16")
OPENCV_MAJOR = int(cv2.__version__.split(".")[0])
# OpenCV 4 and 5.0 have the classic DNN engine, which honours OpenCL/CUDA targets.  OpenCV 5's new
# engine ignores targets, and 5.1 removed the classic one, so there every device is the CPU.
HAS_CLASSIC_ENGINE = OPENCV_MAJOR < 5 or hasattr(cv2.dnn, "ENGINE_CLASSIC")

_TARGETS = {
    "cpu": (cv2.dnn.DNN_BACKEND_OPENCV, cv2.dnn.DNN_TARGET_CPU),
    "opencl": (cv2.dnn.DNN_BACKEND_OPENCV, cv2.dnn.DNN_TARGET_OPENCL),
    "opencl-fp16": (cv2.dnn.DNN_BACKEND_OPENCV, cv2.dnn.DNN_TARGET_OPENCL_FP16),
    "cuda": (cv2.dnn.DNN_BACKEND_CUDA, cv2.dnn.DNN_TARGET_CUDA),
    "cuda-fp16": (cv2.dnn.DNN_BACKEND_CUDA, cv2.dnn.DNN_TARGET_CUDA_FP16),
}
# Largest |ab| difference from the CPU on the probe input that still counts as agreement.
_PROBE_TOLERANCE = {"cpu": 0.0, "opencl": 2.0, "cuda": 2.0, "opencl-fp16": 6.0, "cuda-fp16": 6.0}


def cuda_device_count() -> int:
    """Number of CUDA devices this OpenCV build can use (0 for the pip wheels)."""
    try:
        return int(cv2.cuda.getCudaEnabledDeviceCount())
    except (AttributeError, cv2.error):
        return 0


def opencl_device() -> dict | None:
    """Describe OpenCV's default OpenCL device, or None when OpenCL is unavailable."""
    if not cv2.ocl.haveOpenCL():
        return None
    try:
        dev = cv2.ocl.Device.getDefault()
        if not dev.name():
            return None  # a runtime without a device OpenCV accepts (it picks GPUs by default)
        dtype = dev.type()
        kind = "gpu" if dtype & cv2.ocl.DEVICE_TYPE_GPU else "cpu" if dtype & cv2.ocl.DEVICE_TYPE_CPU else "other"
        return {"name": dev.name(), "vendor": dev.vendorName(), "type": kind, "fp16": bool(dev.halfFPConfig())}
    except cv2.error:
        return None


def _unavailable_reason(device: str, auto: bool) -> str | None:
    """Why ``device`` cannot even be tried here, or None when it is worth a probe."""
    if device != "cpu" and not HAS_CLASSIC_ENGINE:
        return (
            f"OpenCV {cv2.__version__}'s DNN runs on the CPU only (the classic engine, which honoured "
            "targets, was removed in 5.1; opencv-python 5.0 and 4.x have it)"
        )
    if device.startswith("cuda"):
        if cuda_device_count() == 0:
            return "this OpenCV build has no CUDA devices (pip wheels are built without CUDA)"
        return None
    if device.startswith("opencl"):
        ocl = opencl_device()
        if ocl is None:
            return (
                "no OpenCL GPU found (for a CPU OpenCL runtime such as PoCL set OPENCV_OPENCL_DEVICE=:CPU: "
                "and OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1)"
            )
        if ocl["type"] == "cpu":
            if auto:
                return f"the OpenCL device '{ocl['name']}' is a CPU; the native CPU path is faster"
            if os.environ.get("OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES") != "1":
                return (
                    f"the OpenCL device '{ocl['name']}' is a CPU, which cv2.dnn ignores unless "
                    "OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 and OPENCV_OPENCL_DEVICE=:CPU: are set"
                )
    return None


def device_capabilities() -> list[tuple[str, str]]:
    """For each concrete device, what cv2.dnn would use for it on this OpenCV build, or why it can't.

    One row per device in ``DEVICES`` (``auto`` aside): ``("opencl", "classic engine, target
    OpenCL (probe against the CPU first)")`` or ``("cuda", "unavailable: <reason>")``.
    """
    if OPENCV_MAJOR < 5:
        engine = "the DNN module"
    else:
        engine = "the classic engine" if HAS_CLASSIC_ENGINE else "the new engine"
    rows = [("cpu", f"{'the DNN module' if OPENCV_MAJOR < 5 else 'the new engine'}, CPU")]
    for device in DEVICES[2:]:
        reason = _unavailable_reason(device, auto=False)
        if reason is None:
            target = device.replace("-fp16", " fp16").replace("opencl", "OpenCL").replace("cuda", "CUDA")
            rows.append((device, f"{engine}, target {target} (used once a probe forward agrees with the CPU)"))
        else:
            rows.append((device, f"unavailable: {reason}"))
    return rows


def _candidates(requested: str) -> list[str]:
    if requested not in DEVICES:
        raise DeviceError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")
    if requested == "auto":
        return ["cuda", "opencl", "cpu"]
    return [requested] if requested == "cpu" else [requested, "cpu"]


@dataclass
class DeviceChoice:
    """The device a Colorizer runs on, and the steps that led there."""

    requested: str
    device: str = "cpu"
    fallbacks: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what runs where, and why."""
        why = "; ".join(self.fallbacks)
        return f"device {self.device} (asked {self.requested})" + (f": {why}" if why else "")


def _read_net(spec: ModelSpec, device: str) -> cv2.dnn.Net:
    """Load the network for ``device`` (OpenCV 5: classic engine unless on the CPU)."""
    try:
        if spec.format == "caffe":
            if not hasattr(cv2.dnn, "readNetFromCaffe") or OPENCV_MAJOR >= 5:
                raise ModelError(
                    f"OpenCV {cv2.__version__} cannot read Caffe models; convert it once with "
                    f"'stream-colorize models convert {spec.name if spec.name.startswith('zhang2016') else spec.path}' "
                    "or install opencv-python<5"
                )
            return cv2.dnn.readNetFromCaffe(str(spec.prototxt), str(spec.path))
        if OPENCV_MAJOR >= 5:
            classic = device != "cpu" or os.environ.get("STREAM_COLORIZE_DNN_ENGINE") == "classic"
            engine = cv2.dnn.ENGINE_CLASSIC if classic and HAS_CLASSIC_ENGINE else cv2.dnn.ENGINE_AUTO
            return cv2.dnn.readNetFromONNX(str(spec.path), engine)
        return cv2.dnn.readNetFromONNX(str(spec.path))
    except cv2.error as exc:
        text = " ".join(str(exc).split()) or "unknown error"
        said = re.search(r"error: \(-?\d+:[^)]*\) (.*?)(?: in function '[^']*')?$", text)  # OpenCV's own words
        raise ModelError(
            f"cannot load model '{spec.name}' from {spec.path}: the file looks corrupt or truncated "
            f"(OpenCV: {said.group(1) if said else text}); re-fetch it or check it with 'stream-colorize models verify'"
        ) from exc


class Colorizer:
    """Runs one model on one device; turns uint8 gray/BGR frames into ab or colour frames."""

    def __init__(
        self,
        spec: ModelSpec,
        device: str = "auto",
        temperature: float | None = None,
        merge: MergeMethod = "u8",
        threads: int | None = None,
        batch_size: int = 1,
        gamut_limit: bool = True,
    ) -> None:
        if temperature is not None and not temperature > 0:
            raise ValueError("temperature must be > 0")
        if threads:
            cv2.setNumThreads(int(threads))
        self.spec = spec
        self.temperature = float(temperature) if temperature is not None else spec.temperature
        self.merge: MergeMethod = merge
        self.batch_size = max(1, int(batch_size))
        self.gamut_limit = gamut_limit
        self.input_size = spec.input_size
        self._bins = load_bins(str(spec.bins) if spec.bins else None) if spec.output == "logits" else None
        if spec.format == "caffe" and spec.bins is None:
            raise ModelError(f"model '{spec.name}' needs pts_in_hull.npy beside {spec.path.name}")
        self.choice = DeviceChoice(requested=device)
        self.net = self._select_device(device)
        if self.choice.fallbacks:
            # Landing on the CPU because no accelerator exists is the normal case on most machines:
            # say it quietly (`stream-colorize info` shows it); a failed probe or a refused request is news.
            expected = device == "auto" and self.choice.device == "cpu" and not self._probe_failed
            log.log(logging.INFO if expected else logging.WARNING, self.choice.summary())

    # -- device selection -------------------------------------------------------------------
    def _configure(self, net: cv2.dnn.Net, device: str) -> cv2.dnn.Net:
        backend, target = _TARGETS[device]
        if device != "cpu":  # the CPU is every engine's default; OpenCV 5's new one warns on any target
            net.setPreferableBackend(backend)
            net.setPreferableTarget(target)
        if self.spec.format == "caffe":
            # The deploy recipe: bin centres into class8_ab, the annealing scale into conv8_313_rh.
            centres = self._bins if self._bins is not None else load_bins()
            net.getLayer(net.getLayerId("class8_ab")).blobs = [
                np.ascontiguousarray(centres.T.reshape(2, -1, 1, 1), np.float32)
            ]
            scale = np.full((1, centres.shape[0]), 1.0 / self.temperature, np.float32)
            net.getLayer(net.getLayerId("conv8_313_rh")).blobs = [scale]
        return net

    def _probe_blob(self) -> np.ndarray:
        size = self.input_size
        ramp = np.linspace(-50.0, 50.0, size, dtype=np.float32)
        return (ramp[None, :] * np.cos(ramp[:, None] / 20.0)).reshape(1, 1, size, size)

    def _select_device(self, requested: str) -> cv2.dnn.Net:
        candidates = _candidates(requested)
        reference: np.ndarray | None = None
        self._probe_failed = False
        for device in candidates:
            reason = _unavailable_reason(device, auto=requested == "auto")
            if reason is not None:
                self.choice.fallbacks.append(f"{device} not used: {reason}")
                continue
            net = self._configure(_read_net(self.spec, device), device)
            if device == "cpu":
                self.choice.device = "cpu"
                return net
            try:
                probe = self._forward_net(net, self._probe_blob())
                if reference is None:
                    cpu = self._configure(_read_net(self.spec, "cpu"), "cpu")
                    reference = self._forward_net(cpu, self._probe_blob())
                diff = float(np.abs(probe - reference).max())
            except cv2.error as exc:
                self._probe_failed = True
                self.choice.fallbacks.append(f"{device} not used: probe forward failed ({str(exc).strip()[-120:]})")
                continue
            if not diff <= _PROBE_TOLERANCE[device]:
                self._probe_failed = True
                self.choice.fallbacks.append(f"{device} not used: its output differs from the CPU's by {diff:.2f} ab")
                continue
            self.choice.device = device
            return net
        raise DeviceError(f"no usable device for {requested!r}")  # unreachable: cpu always works

    # -- inference --------------------------------------------------------------------------
    def _forward_net(self, net: cv2.dnn.Net, blob: np.ndarray) -> np.ndarray:
        net.setInput(blob)
        out = net.forward("class8_ab") if self.spec.format == "caffe" else net.forward()
        if self.spec.format == "caffe":
            return out.astype(np.float32)
        if self.spec.output == "logits":
            return annealed_mean(out, self._bins, self.temperature)
        return out.astype(np.float32) * np.float32(self.spec.ab_scale)

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """Run a prepared (N, 1, S, S) L-50 blob; return (N, 2, h, w) ab."""
        if blob.shape[0] <= self.batch_size:
            try:
                return self._forward_net(self.net, blob)
            except cv2.error:
                if blob.shape[0] == 1:
                    raise
                self.batch_size = 1  # this graph has a fixed batch of 1
        return np.concatenate([self._forward_net(self.net, blob[i : i + 1]) for i in range(blob.shape[0])])

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
