"""Which copy of a model runs: the float one or its int8 copy (``--precision fp32|int8|auto``).

    >>> spec, why = choose(spec, "auto", backend="auto", device="auto")
    >>> why                              # "int8: ... faster on this CPU (AVX-512 VNNI), colours within the bar"

A bundled model may ship an int8 copy beside it (``tools/quantize.py`` makes it: static QDQ,
int8 weights per channel, calibrated on training-source crops), recorded in the float model's
sidecar under ``int8`` with its figures on the reserved photos and whether it meets the bar
(PSNR within 0.1 dB and hue agreement within 0.01 of the float model, and faster).  ``auto``
runs it only where that was measured to pay: ONNX Runtime on the CPU (not a GPU provider) of a
CPU with int8 dot products (x86 AVX2 or better, ARM's dot-product extension); elsewhere, and on
cv2.dnn (the float reference), the float model.  ``int8`` asks for the copy on any backend;
``fp32`` never uses it.
"""

from __future__ import annotations

import dataclasses
import platform
from functools import cache
from pathlib import Path

from ..errors import UsageError
from ..models.spec import ModelSpec

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "int8")
# The bar an int8 copy must meet for auto (on the reserved photos, against the float model).
PSNR_BAR = 0.1  # dB it may lose
HUE_BAR = 0.01  # hue agreement it may lose


def check_precision(precision: str) -> None:
    """UsageError for an unknown precision name."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


def int8_copy(spec: ModelSpec) -> ModelSpec | None:
    """The model's int8 copy (same inputs, bins and temperature; another file), when its sidecar
    names one that exists beside it; None otherwise."""
    entry = spec.extra.get("int8") if spec.format == "onnx" else None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None
    path = spec.path.parent / Path(entry["file"]).name
    return dataclasses.replace(spec, path=path) if path.is_file() else None


def meets_bar(spec: ModelSpec) -> bool:
    """Whether the int8 copy's recorded figures met the bar for ``auto``."""
    entry = spec.extra.get("int8")
    return isinstance(entry, dict) and entry.get("meets_bar") is True


# /proc/cpuinfo flags of the instructions ONNX Runtime's int8 kernels use, best first.
_INT8_FLAGS = (
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx2", "AVX2"),
    ("asimddp", "ARM dot product"),
)


@cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def cpu_int8_path() -> str | None:
    """The int8 dot-product instructions ONNX Runtime's CPU kernels use here, or None."""
    flags = _cpu_flags()
    return next((name for flag, name in _INT8_FLAGS if flag in flags), None)


def auto_int8(spec: ModelSpec, backend: str, device: str) -> tuple[ModelSpec | None, str]:
    """The int8 copy ``auto`` would run for this request, or None, and why (one phrase)."""
    copy = int8_copy(spec)
    if copy is None:
        return None, f"fp32: model '{spec.name}' has no int8 copy"
    if not meets_bar(spec):
        return None, f"fp32: the int8 copy of '{spec.name}' missed the quality bar"
    if backend == "opencv":
        return None, "fp32: cv2.dnn runs the float reference (--precision int8 asks for the copy)"
    from . import ort_installed

    if not ort_installed():
        return None, "fp32: int8 runs through ONNX Runtime, which is not installed"
    if device not in ("cpu", "auto"):
        return None, f"fp32: int8 is for the CPU, not {device}"
    if device == "auto":
        from .ort import gpu_providers

        if gpu_providers():
            return None, "fp32: a GPU provider is present (int8 is for the CPU)"
    why = cpu_int8_path()
    if why is None:
        return None, f"fp32: no int8 dot-product instructions known on this CPU ({platform.machine()})"
    entry = spec.extra["int8"]
    gain = ""
    if isinstance(entry.get("ms"), (int, float)) and isinstance(entry.get("ms_fp32"), (int, float)) and entry["ms"] > 0:
        gain = f", {entry['ms_fp32'] / entry['ms']:.1f}x faster where measured"
    return copy, f"int8: ONNX Runtime on a CPU with {why}{gain}, colours within the bar"


def choose(spec: ModelSpec, precision: str, backend: str, device: str) -> tuple[ModelSpec, str, str]:
    """(the spec to load, "fp32" or "int8", why) for a precision request; UsageError for
    ``int8`` on a model without an int8 copy."""
    check_precision(precision)
    if precision == "fp32":
        return spec, "fp32", "fp32: asked for"
    if precision == "int8":
        copy = int8_copy(spec)
        if copy is None:
            raise UsageError(f"model '{spec.name}' has no int8 copy; --precision int8 needs one (bundled: default)")
        from .opencv_dnn import OPENCV_MAJOR

        if backend == "opencv" and OPENCV_MAJOR < 5:
            raise UsageError(
                "cv2.dnn of OpenCV 4 cannot read the int8 copy (QuantizeLinear/DequantizeLinear); "
                "use --backend onnxruntime or auto"
            )
        return copy, "int8", "int8: asked for"
    copy, why = auto_int8(spec, backend, device)
    return (copy, "int8", why) if copy is not None else (spec, "fp32", why)
