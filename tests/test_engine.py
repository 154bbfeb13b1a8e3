"""The Colorizer on generated models: shapes, lightness, batching, devices, bad models.

Runs under opencv-python 5.x and 4.x (scripts/test.sh runs it in both venvs).  These are cv2.dnn's
tests (its devices and targets per OpenCV line), so every engine here asks for ``backend="opencv"``;
the default, ``auto`` (ONNX Runtime), is tested in test_backends.py and test_speed_paths.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize.engine import DEVICES, HAS_CLASSIC_ENGINE, Colorizer, device_capabilities, opencl_device
from stream_colorize.errors import DeviceError, ModelError
from stream_colorize.lab import lightness
from stream_colorize.models.spec import spec_from_path


@pytest.fixture(scope="module")
def tiny(tiny_spec) -> Colorizer:
    return Colorizer(tiny_spec, device="cpu", backend="opencv")


def _ramp(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    # 16..235: video's legal range; pure black/white can't hold chroma without leaving the gamut
    return (16 + (x * 219 // max(w - 1, 1) + y * 3) % 220).astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 1), (17, 31), (480, 640), (720, 405)])
def test_output_has_frame_size_and_its_lightness(tiny: Colorizer, shape: tuple[int, int]) -> None:
    frame = _ramp(*shape)
    out = tiny.colorize([frame])[0]
    assert out.shape == (*shape, 3) and out.dtype == np.uint8
    assert np.abs(lightness(out) - lightness(frame)).mean() < 3.0


def test_output_is_colored(tiny: Colorizer) -> None:
    out = tiny.colorize([_ramp(120, 160)])[0]
    lab = cv2.cvtColor(out, cv2.COLOR_BGR2Lab).astype(np.float32)
    chroma = np.hypot(lab[:, :, 1] - 128, lab[:, :, 2] - 128)
    assert chroma.mean() > 3.0


def test_batches_equal_single_frames(tiny_spec) -> None:
    frames = [_ramp(60, 80), np.full((60, 80), 30, np.uint8), _ramp(60, 80)[::-1].copy()]
    batched = Colorizer(tiny_spec, device="cpu", backend="opencv", batch_size=4).predict_ab(frames)
    single = np.concatenate([Colorizer(tiny_spec, device="cpu", backend="opencv").predict_ab([f]) for f in frames])
    assert batched.shape == (3, 2, 56, 56)
    assert np.abs(batched - single).max() < 1e-3


def test_temperature_changes_saturation(tiny_spec) -> None:
    frame = [_ramp(64, 64)]
    cold = Colorizer(tiny_spec, device="cpu", backend="opencv", temperature=0.1).predict_ab(frame)
    hot = Colorizer(tiny_spec, device="cpu", backend="opencv", temperature=5.0).predict_ab(frame)
    assert np.abs(cold).mean() > np.abs(hot).mean()


def test_unknown_device_is_refused(tiny_spec) -> None:
    with pytest.raises(DeviceError, match="unknown device"):
        Colorizer(tiny_spec, device="tpu", backend="opencv")


def test_auto_falls_back_to_cpu_and_says_why(tiny_spec) -> None:
    engine = Colorizer(tiny_spec, device="auto", backend="opencv")
    if opencl_device() is None or opencl_device()["type"] != "gpu":
        assert engine.choice.device == "cpu"
        assert any("cuda not used" in note for note in engine.choice.fallbacks)
        assert any("opencl not used" in note for note in engine.choice.fallbacks)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_models_give_a_model_error(tiny_onnx: Path, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "bad.onnx"
    data = tiny_onnx.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a model at all" * 100)
    with pytest.raises(ModelError, match="corrupt or truncated"):
        Colorizer(spec_from_path(bad), device="cpu", backend="opencv")


def test_missing_model_file() -> None:
    with pytest.raises(ModelError, match="not found"):
        spec_from_path("/nonexistent/model.onnx")


def test_zhang_standin_has_the_papers_shapes(zhang_onnx: Path) -> None:
    engine = Colorizer(spec_from_path(zhang_onnx), device="cpu", backend="opencv")
    ab = engine.predict_ab([_ramp(300, 400)])
    assert ab.shape == (1, 2, 56, 56)
    assert np.isfinite(ab).all() and np.abs(ab).max() <= 128


_OPENCL_SCRIPT = """
import sys, numpy as np
from stream_colorize.engine import Colorizer
from stream_colorize.models.spec import spec_from_path
spec = spec_from_path(sys.argv[1])
gpu = Colorizer(spec, device="opencl", backend="opencv")
cpu = Colorizer(spec, device="cpu", backend="opencv")
blob = gpu._probe_blob()
print(gpu.choice.summary(), file=sys.stderr)
print(gpu.choice.device, float(np.abs(gpu.forward(blob) - cpu.forward(blob)).max()))
"""


@pytest.mark.skipif(not Path("/etc/OpenCL/vendors").is_dir(), reason="no OpenCL ICD (pocl-opencl-icd) installed")
def test_opencl_target_runs_on_pocl_and_matches_cpu(tiny_onnx: Path) -> None:
    env = dict(os.environ, OPENCV_OPENCL_DEVICE=":CPU:", OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES="1")
    run = subprocess.run(
        [sys.executable, "-c", _OPENCL_SCRIPT, str(tiny_onnx)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    device, diff = run.stdout.split()[-2:]
    if not HAS_CLASSIC_ENGINE:
        # OpenCV 5.1+: no engine honours targets; the request falls back to the CPU and says why.
        assert device == "cpu" and float(diff) == 0.0
        assert "opencl not used" in run.stderr and "CPU only" in run.stderr
        return
    assert device == "opencl"
    # Really computed by OpenCL: not bit-identical to the CPU path, yet within float error.
    assert 0.0 < float(diff) < 0.5


def test_every_device_request_gives_a_device_or_a_reason(tiny_onnx: Path) -> None:
    """No --device value ends in a traceback on any OpenCV line: a device, or a fallback with its reason."""
    rows = dict(device_capabilities())
    assert set(rows) == set(DEVICES) - {"auto"}
    for device in DEVICES:
        engine = Colorizer(spec_from_path(tiny_onnx), device=device, backend="opencv")
        assert engine.choice.device in DEVICES
        if engine.choice.device != device and device != "auto":
            assert engine.choice.fallbacks and rows[device].startswith("unavailable: ")
        assert engine.predict_ab([_ramp(64, 80)]).shape[1] == 2


_AB_SCRIPT = """
import sys, numpy as np
from stream_colorize.engine import Colorizer
from stream_colorize.models import resolve_model
y, x = np.mgrid[0:180, 0:240]
frame = (40 + 150 * x / 240 + 30 * np.sin(y / 9.0)).clip(0, 255).astype(np.uint8)
np.save(sys.argv[1], Colorizer(resolve_model("default"), device="cpu", backend="opencv").predict_ab([frame]))
"""


def test_bundled_default_gives_the_same_color_on_every_opencv_line(tmp_path: Path) -> None:
    """The bundled model's ab agrees within 2e-3 between this OpenCV and the other lines CI installs
    (v2, with its hint input at its fill: 1.1e-3 at most, measured; v1 kept within 1e-3)."""
    repo = Path(__file__).resolve().parent.parent
    # A venv's interpreter is a link to the same binary as every other venv's, so "which line is
    # this" is told by the venv folder (sys.prefix), not by comparing executables.
    here = Path(sys.prefix).resolve()
    venvs = [repo / v for v in (".venv", ".venv-cv50", ".venv-cv4")]
    others = [v / "bin" / "python" for v in venvs if (v / "bin" / "python").is_file() and v.resolve() != here]
    if not others:
        pytest.skip("no other OpenCV line installed beside this one (scripts/setup-dev.sh makes them)")
    outs = []
    for py in [Path(sys.executable), *others]:
        out = tmp_path / f"ab{len(outs)}.npy"
        run = subprocess.run([str(py), "-c", _AB_SCRIPT, str(out)], capture_output=True, text=True, timeout=300,
                             cwd=repo)  # fmt: skip
        assert run.returncode == 0, run.stderr
        outs.append(np.load(out))
    assert np.abs(outs[0]).max() > 1.0  # real colour, not a gray model
    for other in outs[1:]:
        assert np.abs(other - outs[0]).max() <= 2e-3
