"""The cv2.dnn backend (the reference): ONNX or Caffe, on the CPU, OpenCL or CUDA where the build allows.

    >>> backend = OpenCvBackend(spec, device="auto", temperature=0.38)
    >>> ab = backend.forward({"data_l": blob})       # (N, 2, h, w); inputs by graph name

Device choice: ``auto`` tries CUDA (only when this OpenCV build sees CUDA devices), then OpenCL
(only on a GPU, and only when a probe forward agrees with the CPU), then the CPU.  Every step
down is noted with its reason.  OpenCV 5's new DNN engine ignores targets, so any non-CPU target
loads the ONNX graph with the classic engine, which honours them; 5.1 removed that engine, so
there every device is the CPU.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import cv2
import numpy as np

from ..bins import annealed_mean, load_bins
from ..errors import DeviceError, ModelError
from ..models.spec import ModelSpec
from . import DeviceChoice, feeds_batch, feeds_slice, probe_feeds

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
PROBE_TOLERANCE = {"cpu": 0.0, "opencl": 2.0, "cuda": 2.0, "opencl-fp16": 6.0, "cuda-fp16": 6.0}


def check_device(requested: str) -> None:
    """Raise DeviceError for a device name no backend knows."""
    if requested not in DEVICES:
        raise DeviceError(f"unknown device {requested!r}; choose one of {', '.join(DEVICES)}")


def probe_blob(size: int) -> np.ndarray:
    """A deterministic (1, 1, size, size) L - 50 input for comparing a device with the CPU."""
    ramp = np.linspace(-50.0, 50.0, size, dtype=np.float32)
    return (ramp[None, :] * np.cos(ramp[:, None] / 20.0)).reshape(1, 1, size, size)


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


def unavailable_reason(device: str, auto: bool) -> str | None:
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


def engine_name() -> str:
    """Which cv2.dnn engine runs the CPU path on this build."""
    return "the DNN module" if OPENCV_MAJOR < 5 else "the new engine"


def device_capabilities() -> list[tuple[str, str]]:
    """For each concrete device, what cv2.dnn would use for it on this OpenCV build, or why it can't.

    One row per device in ``DEVICES`` (``auto`` aside): ``("opencl", "classic engine, target
    OpenCL (probe against the CPU first)")`` or ``("cuda", "unavailable: <reason>")``.
    """
    if OPENCV_MAJOR < 5:
        engine = "the DNN module"
    else:
        engine = "the classic engine" if HAS_CLASSIC_ENGINE else "the new engine"
    rows = [("cpu", f"{engine_name()}, CPU")]
    for device in DEVICES[2:]:
        reason = unavailable_reason(device, auto=False)
        if reason is None:
            target = device.replace("-fp16", " fp16").replace("opencl", "OpenCL").replace("cuda", "CUDA")
            rows.append((device, f"{engine}, target {target} (used once a probe forward agrees with the CPU)"))
        else:
            rows.append((device, f"unavailable: {reason}"))
    return rows


def _candidates(requested: str) -> list[str]:
    check_device(requested)
    if requested == "auto":
        return ["cuda", "opencl", "cpu"]
    return [requested] if requested == "cpu" else [requested, "cpu"]


def read_net(spec: ModelSpec, device: str) -> cv2.dnn.Net:
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
            engine = cv2.dnn.ENGINE_CLASSIC if classic and HAS_CLASSIC_ENGINE else cv2.dnn.ENGINE_AUTO  # type: ignore[attr-defined]  # 5.0 only
            return cv2.dnn.readNetFromONNX(str(spec.path), engine)
        return cv2.dnn.readNetFromONNX(str(spec.path))
    except cv2.error as exc:
        text = " ".join(str(exc).split()) or "unknown error"
        said = re.search(r"error: \(-?\d+:[^)]*\) (.*?)(?: in function '[^']*')?$", text)  # OpenCV's own words
        raise ModelError(
            f"cannot load model '{spec.name}' from {spec.path}: the file looks corrupt or truncated "
            f"(OpenCV: {said.group(1) if said else text}); re-fetch it or check it with 'stream-colorize models verify'"
        ) from exc


class OpenCvBackend:
    """One model in cv2.dnn on the best device it can use; ``net`` is the loaded ``cv2.dnn.Net``."""

    name = "opencv"

    def __init__(self, spec: ModelSpec, device: str, temperature: float, threads: int | None = None) -> None:
        if threads:
            cv2.setNumThreads(int(threads))
        self.spec = spec
        self.temperature = temperature
        self.input_size = spec.input_size
        self._bins = load_bins(str(spec.bins) if spec.bins else None) if spec.output == "logits" else None
        if spec.format == "caffe" and spec.bins is None:
            raise ModelError(f"model '{spec.name}' needs pts_in_hull.npy beside {spec.path.name}")
        self.choice = DeviceChoice(requested=device)
        self.probe_failed = False
        self._max_batch: int | None = None
        self.net = self._select_device(device)

    @property
    def max_batch(self) -> int | None:
        """None until a batched forward failed; then 1 (the graph has a fixed batch)."""
        return self._max_batch

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

    def set_temperature(self, temperature: float) -> None:
        """Decode the following forwards at ``temperature`` (Caffe: the scale layer's blob is replaced)."""
        self.temperature = float(temperature)
        if self.spec.format == "caffe":
            centres = self._bins if self._bins is not None else load_bins()
            scale = np.full((1, centres.shape[0]), 1.0 / self.temperature, np.float32)
            self.net.getLayer(self.net.getLayerId("conv8_313_rh")).blobs = [scale]

    def _select_device(self, requested: str) -> cv2.dnn.Net:
        reference: np.ndarray | None = None
        for device in _candidates(requested):
            reason = unavailable_reason(device, auto=requested == "auto")
            if reason is not None:
                self.choice.fallbacks.append(f"{device} not used: {reason}")
                continue
            net = self._configure(read_net(self.spec, device), device)
            if device == "cpu":
                self.choice.device = "cpu"
                return net
            try:
                probe = self.forward_net(net, probe_feeds(self.spec))
                if reference is None:
                    cpu = self._configure(read_net(self.spec, "cpu"), "cpu")
                    reference = self.forward_net(cpu, probe_feeds(self.spec))
                diff = float(np.abs(probe - reference).max())
            except cv2.error as exc:
                self.probe_failed = True
                self.choice.fallbacks.append(f"{device} not used: probe forward failed ({str(exc).strip()[-120:]})")
                continue
            if not diff <= PROBE_TOLERANCE[device]:
                self.probe_failed = True
                self.choice.fallbacks.append(f"{device} not used: its output differs from the CPU's by {diff:.2f} ab")
                continue
            self.choice.device = device
            return net
        raise DeviceError(f"no usable device for {requested!r}")  # unreachable: cpu always works

    def forward_net(self, net: cv2.dnn.Net, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run ``feeds`` (inputs by name) through ``net`` and decode its output to ab."""
        for name, value in feeds.items():
            net.setInput(value, name)  # "" is the graph's only input
        if self.spec.format == "caffe":
            out = net.forward("class8_ab")
        else:
            out = net.forward(self.spec.output_name) if self.spec.output_name else net.forward()
        if self.spec.format == "caffe":
            return out.astype(np.float32)
        if self.spec.output == "logits":
            assert self._bins is not None  # loaded for every logits model
            return annealed_mean(out, self._bins, self.temperature)
        return out.astype(np.float32) * np.float32(self.spec.ab_scale)

    def forward(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inputs by name, (N, C, h, w) each -> (N, 2, h, w) ab; a graph with a fixed batch of 1 runs frame by frame."""
        count = feeds_batch(feeds)
        if self._max_batch is None or count <= self._max_batch:
            try:
                return self.forward_net(self.net, feeds)
            except cv2.error:
                if count == 1:
                    raise
                self._max_batch = 1  # this graph has a fixed batch of 1
        return np.concatenate([self.forward_net(self.net, feeds_slice(feeds, i, i + 1)) for i in range(count)])
