"""The ONNX Runtime backend: execution providers chosen by what this onnxruntime build offers.

    >>> backend = OrtBackend(spec, device="auto", temperature=0.45)
    >>> backend.choice.summary()        # "device cuda [CUDAExecutionProvider] (asked auto)"
    >>> ab = backend.forward({"data_l": blob})   # (N, 2, h, w), batches of any size when the graph allows

Providers, best first: TensorRT and CUDA (``onnxruntime-gpu`` in place of ``onnxruntime``,
``GPU_INSTALL_HINT``) for ``cuda`` and ``cuda-fp16``; OpenVINO where installed; the CPU provider
always.  ``auto`` takes a GPU provider when one starts and agrees with the CPU on a probe input.
``cuda-fp16`` computes in float16 (TensorRT's fp16 mode; weights halved for CUDA, which needs
the ``onnx`` package).  The model is the same ONNX cv2.dnn reads, edited in memory
(``wire_edit``): the batch size is freed and, on a GPU provider or with a thread budget, the
annealed mean runs inside the graph (see ``_graph``).
A Caffe model is converted to ONNX once (``models convert``) and the conversion is used.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..bins import annealed_mean, load_bins
from ..errors import ModelError
from ..models.protowire import WireError
from ..models.spec import ModelSpec
from ..signals import Interrupted, stopping
from . import GPU_INSTALL_HINT, DeviceChoice, feeds_batch, feeds_slice, probe_feeds
from .graph import AB_OUTPUT
from .opencv_dnn import PROBE_TOLERANCE, check_device

log = logging.getLogger("stream_colorize")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)
_SHORT = {CPU: "CPU", CUDA: "CUDA", TENSORRT: "TensorRT", OPENVINO: "OpenVINO"}


class OrtUnusable(ModelError):
    """ONNX Runtime cannot load or run this model (``auto`` then falls back to cv2.dnn)."""


def import_onnxruntime() -> ModuleType:
    """``import onnxruntime``, with a Ctrl-C that lands during it (the import takes half a second)
    reported as the interruption it is: onnxruntime's native module turns any exception raised
    while it initializes into "ImportError: initialization failed"."""
    try:
        import onnxruntime
    except ImportError as exc:
        signum = stopping()
        if signum is not None or _from_interrupt(exc):
            raise Interrupted(signum or signal.SIGINT) from None
        raise
    return onnxruntime


def _from_interrupt(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
    return False


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build has (empty when it is not installed)."""
    from . import ort_installed

    if not ort_installed():
        return []
    return list(import_onnxruntime().get_available_providers())


def gpu_providers() -> list[str]:
    """TensorRT and CUDA, as far as this build has them, best first."""
    have = available_providers()
    return [p for p in GPU_PROVIDERS if p in have]


def describe() -> str:
    """One line for ``info``: version and providers, and what --device cuda would get."""
    onnxruntime = import_onnxruntime()

    have = available_providers()
    names = ", ".join(_SHORT.get(p, p.removesuffix("ExecutionProvider")) for p in have)
    gpu = gpu_providers()
    if gpu:
        chain = " + ".join(_SHORT[p] for p in gpu)
        where = f"--device cuda -> {chain} (probe against the CPU first), cuda-fp16 in fp16"
    else:
        where = f"no GPU provider (for CUDA/TensorRT: {GPU_INSTALL_HINT})"
    return f"onnxruntime {onnxruntime.__version__}: providers {names}; {where}"


@dataclass(frozen=True)
class _Attempt:
    """One way to run the model: a device name, providers in priority order, fp16 or not."""

    device: str
    providers: tuple[str, ...]
    fp16: bool = False


def _attempts(requested: str, have: list[str]) -> tuple[list[_Attempt], list[str]]:
    """What to try for a device request, best first, and notes on what cannot even be tried."""
    gpu = tuple(p for p in GPU_PROVIDERS if p in have)
    notes: list[str] = []
    cpu_chain = ((OPENVINO,) if OPENVINO in have and requested == "auto" else ()) + (CPU,)
    cpu = _Attempt("cpu", cpu_chain)
    if requested == "cpu":
        return [cpu], notes
    if requested.startswith("opencl"):
        notes.append(f"{requested} not used: ONNX Runtime has no OpenCL provider (--backend opencv drives OpenCL)")
        return [cpu], notes
    if not gpu:
        if requested != "auto":
            notes.append(
                f"{requested} not used: this onnxruntime has no CUDA or TensorRT provider "
                f"(the GPU build: {GPU_INSTALL_HINT})"
            )
        else:
            notes.append(f"cuda not used: this onnxruntime has no GPU provider (the GPU build: {GPU_INSTALL_HINT})")
        return [cpu], notes
    fp16 = requested == "cuda-fp16"
    return [_Attempt("cuda-fp16" if fp16 else "cuda", (*gpu, CPU), fp16), cpu], notes


def _provider_options(provider: str, fp16: bool) -> dict:
    if provider == TENSORRT:
        from ..models.registry import cache_dir

        folder = cache_dir() / "tensorrt"
        folder.mkdir(parents=True, exist_ok=True)
        # Building a TensorRT engine takes minutes; the cache makes it a one-time cost per model.
        return {"trt_fp16_enable": fp16, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(folder)}
    return {}


def _onnx_available() -> bool:
    return importlib.util.find_spec("onnx") is not None


def _decodes(session) -> bool:
    """Whether ``session``'s graph has the annealed mean output (``wire_edit``)."""
    return any(o.name == AB_OUTPUT for o in session.get_outputs())


class OrtBackend:
    """One model in an ONNX Runtime session on the best provider that works."""

    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, device: str, temperature: float, threads: int | None = None) -> None:
        check_device(device)
        self._ort = import_onnxruntime()
        if spec.format == "caffe":
            from ..models.conversions import onnx_for_caffe

            spec = onnx_for_caffe(spec)
        self.spec = spec
        self.temperature = temperature
        self.threads = threads
        self.input_size = spec.input_size
        self._bins = load_bins(str(spec.bins) if spec.bins else None) if spec.output == "logits" else None
        self.choice = DeviceChoice(requested=device)
        self.probe_failed = False
        self._graphs: dict[tuple[bool, bool], bytes] = {}
        self._unedited = False  # set when ONNX Runtime refused our edits of this graph
        self._max_batch: int | None = None  # until a batch is refused
        self.session = self._select(device)

    # -- model bytes ----------------------------------------------------------------------------
    def _graph(self, fp16: bool, decode: bool) -> bytes:
        """The serialized model for a session: the file's bytes with the batch size freed and,
        when ``decode``, the annealed mean appended (``wire_edit``: no ``onnx`` import, which
        costs a second of start-up); fp16 weights need the ``onnx`` package (``graph.to_fp16``).

        ``decode`` puts the annealed mean in the graph: on a GPU provider 2 channels leave the
        device instead of 313; with a thread budget (``threads``, as the file pipeline sets) the
        decode stays on ONNX Runtime's threads.  Otherwise (CPU, all cores) numpy decodes: less
        wall time alone, but its BLAS threads cost the pipeline's other stages more CPU
        (bench/pipeline.py --vs-ffmpeg: 102-107 against 121-127 CPU ms a frame at skip 1).
        """
        key = (fp16, decode)
        if key in self._graphs:
            return self._graphs[key]
        data = self.spec.path.read_bytes()
        if self._unedited:
            if fp16 or decode:
                raise OrtUnusable("this graph takes no edits (fp16, the annealed mean inside)")
            return data
        from . import wire_edit

        if fp16:
            if not _onnx_available():
                raise OrtUnusable("fp16 needs the 'onnx' package to convert the weights (pip install onnx)")
            import onnx

            from . import graph

            data = graph.to_fp16(self._parsed(onnx, data)).SerializeToString()
        try:
            decoding = None
            if decode and self._bins is not None:  # a logits model
                decoding = (self._bins, self.temperature, self.spec.output_name or wire_edit.graph_outputs(data)[0])
            data = wire_edit.edit(data, decoding)
        except WireError as exc:
            raise self._damaged(exc) from exc
        self._graphs[key] = data
        return data

    def _parsed(self, onnx, data: bytes):
        """``data`` as an onnx.ModelProto; ModelError naming the file when it does not parse."""
        try:
            return onnx.load_model_from_string(data)
        except Exception as exc:  # onnx raises DecodeError and others for a damaged file
            raise self._damaged(exc) from exc

    def _damaged(self, exc: Exception) -> ModelError:
        return ModelError(
            f"cannot load model '{self.spec.name}' from {self.spec.path}: the file looks corrupt or "
            f"truncated (ONNX: {type(exc).__name__}: {' '.join(str(exc).split()) or 'unreadable'}); "
            "re-fetch it or check it with 'stream-colorize models verify'"
        )

    def _session(self, attempt: _Attempt):
        options = self._ort.SessionOptions()
        options.log_severity_level = 3  # errors only: provider fallbacks are reported by us, once
        if self.threads:
            options.intra_op_num_threads = int(self.threads)
        # Our pipeline's other stages (decode, merge, x264) share the cores: idle ORT threads sleep
        # instead of spinning (measured in bench/pipeline.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [(p, _provider_options(p, attempt.fp16)) for p in attempt.providers]
        try:
            with warnings.catch_warnings():  # a provider that does not start: we report it, once
                warnings.simplefilter("ignore", UserWarning)
                decode = (attempt.device != "cpu" or bool(self.threads)) and not self._unedited
                data = self._graph(attempt.fp16, decode=decode)
                return self._ort.InferenceSession(data, options, providers=providers)
        except ModelError:
            raise
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/RuntimeException types
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise OrtUnusable(f"ONNX Runtime cannot load model '{self.spec.name}': {text}") from exc

    def _cpu_session(self, attempt: _Attempt):
        """The CPU session, stepping down until one loads: OpenVINO first where asked, then the
        CPU provider alone, then the model exactly as it is on disk (an edit the graph refuses)."""
        tries = [attempt] + ([_Attempt("cpu", (CPU,))] if attempt.providers != (CPU,) else [])
        for one in tries:
            try:
                return self._session(one)
            except OrtUnusable as exc:
                log.debug("ONNX Runtime session with %s refused: %s", one.providers, exc)
        self._unedited = True
        self._graphs = {}
        return self._session(_Attempt("cpu", (CPU,)))

    def _run(self, session, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Feed every input by name ("" = the graph's only input) and decode the named output."""
        names = {name or session.get_inputs()[0].name: np.ascontiguousarray(v, np.float32) for name, v in feeds.items()}
        if _decodes(session):  # the annealed mean runs in the graph
            return session.run([AB_OUTPUT], names)[0].astype(np.float32, copy=False)
        out = session.run([self.spec.output_name] if self.spec.output_name else None, names)[0]
        if self.spec.output == "logits":
            assert self._bins is not None  # loaded for every logits model
            return annealed_mean(out, self._bins, self.temperature)
        return out.astype(np.float32) * np.float32(self.spec.ab_scale)

    # -- device selection -----------------------------------------------------------------------
    def _select(self, requested: str):
        attempts, notes = _attempts(requested, available_providers())
        self.choice.fallbacks.extend(notes)
        reference: np.ndarray | None = None
        for attempt in attempts:
            if attempt.device == "cpu":
                session = self._cpu_session(attempt)
                self.choice.device = "cpu"
                self.choice.detail = ", ".join(_SHORT.get(p, p) for p in session.get_providers() if p != CPU)
                return session
            try:
                session = self._session(attempt)
            except OrtUnusable as exc:
                self.probe_failed = True
                self.choice.fallbacks.append(f"{attempt.device} not used: session failed ({exc})")
                continue
            used = [p for p in session.get_providers() if p in GPU_PROVIDERS]
            if not used:
                self.choice.fallbacks.append(
                    f"{attempt.device} not used: onnxruntime could not start {' or '.join(attempt.providers[:-1])} "
                    "(CUDA/cuDNN libraries missing or no GPU)"
                )
                continue
            try:
                probe = self._run(session, probe_feeds(self.spec))
                if reference is None:
                    reference = self._run(self._session(_Attempt("cpu", (CPU,))), probe_feeds(self.spec))
                diff = float(np.abs(probe - reference).max())
            except Exception as exc:  # noqa: BLE001 - any failure of the device is a reason to fall back
                self.probe_failed = True
                self.choice.fallbacks.append(f"{attempt.device} not used: probe forward failed ({str(exc)[:120]})")
                continue
            if not diff <= PROBE_TOLERANCE[attempt.device]:
                self.probe_failed = True
                self.choice.fallbacks.append(
                    f"{attempt.device} not used: its output differs from the CPU's by {diff:.2f} ab"
                )
                continue
            self.choice.device = attempt.device
            self.choice.detail = " + ".join(_SHORT[p] for p in used)
            return session
        raise OrtUnusable(f"no provider could run the model for {requested!r}")  # unreachable: CPU always runs

    def set_temperature(self, temperature: float) -> None:
        """Decode the following forwards at ``temperature``.  Where the annealed mean runs in the
        graph (GPU providers, a thread budget) the temperature is a constant of it: the session is
        made again on the same providers (the old one serves until the new one is ready)."""
        self.temperature = float(temperature)
        if not self.decode_in_graph:
            return  # numpy decodes with self.temperature
        self._graphs = {key: data for key, data in self._graphs.items() if not key[1]}
        device = self.choice.device
        attempt = _Attempt(device, tuple(self.session.get_providers()), device.endswith("fp16"))
        self.session = self._session(attempt)

    # -- inference ------------------------------------------------------------------------------
    @property
    def decode_in_graph(self) -> bool:
        """True when the session decodes the annealed mean itself (GPU providers, a thread budget)."""
        return _decodes(self.session)

    @property
    def max_batch(self) -> int | None:
        """None until a batched run failed; then 1 (the graph computes a batch of 1 only)."""
        return self._max_batch

    def forward(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inputs by name, (N, C, h, w) each -> (N, 2, h, w) ab; a graph that takes one frame runs frame by frame."""
        count = feeds_batch(feeds)
        if self._max_batch is None or count <= self._max_batch:
            try:
                return self._run(self.session, feeds)
            except self._ort_errors() as exc:
                if count == 1:
                    raise ModelError(f"ONNX Runtime failed on model '{self.spec.name}': {str(exc)[:200]}") from exc
                self._max_batch = 1  # a reshape or resize inside fixes the batch at 1
        return np.concatenate([self._run(self.session, feeds_slice(feeds, i, i + 1)) for i in range(count)])

    def _ort_errors(self) -> tuple[type[BaseException], ...]:
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        return (state.Fail, state.InvalidArgument, state.RuntimeException, state.InvalidGraph)
