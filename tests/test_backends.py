"""Backends: ONNX Runtime against cv2.dnn (the reference), backend choice, graph edits, the CLI flag.

Runs under every OpenCV line scripts/test.sh tests; needs onnxruntime (a dependency of the
package, which scripts/setup-dev.sh installs in every venv) and onnx.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize import backends
from stream_colorize.bins import annealed_mean, load_bins
from stream_colorize.engine import DEVICES, Colorizer
from stream_colorize.errors import DeviceError, ModelError
from stream_colorize.lab import network_input
from stream_colorize.models import resolve_model
from stream_colorize.models.caffe import write_standin_caffe
from stream_colorize.models.spec import spec_from_caffe, spec_from_path
from tests.support.cli import CV_MAJOR, run_main
from tests.support.media import chroma, make_clip, video_frames

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def scenes() -> list[np.ndarray]:
    """Three frames unlike each other: a gradient with a disc, a textured BGR frame, a dark flat one."""
    y, x = np.mgrid[0:180, 0:240].astype(np.float32)
    grad = 20 + 200 * x / 240 + 15 * np.sin(y / 9)
    grad[(x - 150) ** 2 + (y - 70) ** 2 < 900] = 230
    texture = np.dstack([grad, np.roll(grad, 40, 1), 255 - grad]) * 0.9
    dark = np.full((120, 160), 24, np.float32)
    return [np.clip(a, 0, 255).astype(np.uint8) for a in (grad, texture, dark)]


def test_ort_matches_cv2_dnn_on_the_bundled_model() -> None:
    spec = resolve_model("default")
    reference = Colorizer(spec, device="cpu", backend="opencv")
    runtime = Colorizer(spec, device="cpu", backend="onnxruntime", precision="fp32")  # auto: the int8 copy
    assert reference.backend_name == "opencv" and runtime.backend_name == "onnxruntime"
    frames = scenes()
    ab_ref, ab_ort = reference.predict_ab(frames), runtime.predict_ab(frames)
    assert ab_ort.shape == ab_ref.shape == (3, 2, 56, 56)
    assert float(np.abs(ab_ref).mean()) > 1.0  # real colour, not a constant both could agree on
    assert float(np.abs(ab_ort - ab_ref).max()) <= 1e-3
    assert not runtime.backend.decode_in_graph  # on the CPU provider with all cores numpy decodes
    budget = Colorizer(spec, device="cpu", backend="onnxruntime", threads=1, precision="fp32")
    assert budget.backend.decode_in_graph and float(np.abs(budget.predict_ab(frames) - ab_ref).max()) <= 1e-3


def test_in_graph_annealed_mean_is_the_numpy_decode() -> None:
    """The decode GPU sessions run inside the graph, run here on the CPU provider."""
    from stream_colorize.backends import graph

    spec = resolve_model("default")
    model = graph.with_free_batch(onnx.load(str(spec.path)))
    decoding = graph.with_annealed_mean(model, load_bins(), spec.temperature)
    onnx.checker.check_model(decoding)
    blob = network_input(scenes(), spec.input_size)
    raw = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ab = ort.InferenceSession(decoding.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: (blob if i.role == "l" else i.default(len(blob), spec.input_size)) for i in spec.inputs}
    decoded = annealed_mean(raw.run(None, feeds)[0], load_bins(), spec.temperature)
    out = ab.run(None, feeds)
    assert ab.get_outputs()[0].name == graph.AB_OUTPUT and out[0].shape == (3, 2, 56, 56)
    assert float(np.abs(out[0] - decoded).max()) <= 1e-3


def test_ort_matches_cv2_dnn_on_the_zhang_standin(zhang_onnx: Path) -> None:
    """Logits agree to float32 precision; ab to 1e-3 on average.

    The stand-in's random weights give logits up to ~±200 (a trained model's are far smaller), so
    float32 rounding of 1e-4 in a logit, divided by T = 0.38 inside the softmax, moves ab by up to
    a few hundredths at pixels where two bins nearly tie: no two fp32 runtimes agree tighter there.
    """
    spec = spec_from_path(zhang_onnx)
    reference = Colorizer(spec, device="cpu", backend="opencv")
    runtime = Colorizer(spec, device="cpu", backend="onnxruntime")
    blob = network_input(scenes()[:1], spec.input_size)
    net = reference.net
    net.setInput(blob)
    logits_cv = net.forward()
    session = ort.InferenceSession(str(zhang_onnx), providers=["CPUExecutionProvider"])
    logits_ort = session.run(None, {session.get_inputs()[0].name: blob})[0]
    assert float(np.abs(logits_ort - logits_cv).max()) <= 1e-5 * float(np.abs(logits_cv).max())
    ab_ref, ab_ort = reference.forward(blob), runtime.forward(blob)
    diff = np.abs(ab_ort - ab_ref)
    assert float(diff.mean()) <= 1e-3 and float(diff.max()) <= 0.1


def test_ort_batches_a_graph_saved_with_batch_one() -> None:
    spec = resolve_model("default")
    batched = Colorizer(spec, device="cpu", backend="onnxruntime", batch_size=3)
    single = Colorizer(spec, device="cpu", backend="onnxruntime")
    frames = scenes()
    ab = batched.predict_ab(frames)
    assert batched.backend.max_batch is None and batched.batch_size == 3  # really ran as one batch of 3
    assert float(np.abs(ab - np.concatenate([single.predict_ab([f]) for f in frames])).max()) <= 1e-4


def test_every_device_on_ort_gives_a_device_or_a_reason(tiny_spec) -> None:
    for device in DEVICES:
        engine = Colorizer(tiny_spec, device=device, backend="onnxruntime")
        assert engine.choice.device in DEVICES
        if not backends.ort.gpu_providers():
            assert engine.choice.device == "cpu"
            if device not in ("cpu", "auto"):
                assert any(device in note for note in engine.choice.fallbacks), engine.choice.fallbacks
        assert engine.predict_ab([scenes()[0]]).shape == (1, 2, 56, 56)


def test_auto_picks_ort_when_installed_and_cv2_without_it(tiny_spec, monkeypatch, caplog) -> None:
    caplog.set_level("INFO", logger="stream_colorize")
    engine = Colorizer(tiny_spec, device="cpu", backend="auto")
    assert engine.backend_name == "onnxruntime"
    assert any("backend onnxruntime (auto)" in r.getMessage() and r.levelname == "INFO" for r in caplog.records)
    caplog.clear()
    monkeypatch.setattr(backends, "ort_installed", lambda: False)
    engine = Colorizer(tiny_spec, device="cpu", backend="auto")
    assert engine.backend_name == "opencv"
    note = next(r.getMessage() for r in caplog.records if "backend opencv (auto)" in r.getMessage())
    assert "pip install onnxruntime" in note


def test_auto_falls_back_to_cv2_when_ort_refuses_the_graph(tmp_path: Path, caplog) -> None:
    """A graph cv2.dnn runs but ONNX Runtime refuses (an op from a domain it doesn't know): one note, cv2.dnn."""
    from onnx import helper

    model_path = tmp_path / "odd.onnx"
    src = onnx.load(str(write_tiny(tmp_path)))
    src.graph.node[0].domain = "com.example.nothing"
    src.opset_import.append(helper.make_opsetid("com.example.nothing", 1))
    onnx.save(src, str(model_path))
    caplog.set_level("INFO", logger="stream_colorize")
    try:
        engine = Colorizer(spec_from_path(model_path), device="cpu", backend="auto")
    except ModelError:
        pytest.skip("cv2.dnn refuses this graph too on this OpenCV line")
    assert engine.backend_name == "opencv"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("ONNX Runtime cannot load" in w and "using cv2.dnn" in w for w in warnings)


def write_tiny(folder: Path) -> Path:
    from stream_colorize.models.standin import write_standin_onnx

    return write_standin_onnx(folder / "tiny.onnx", arch="tiny", seed=3)


def test_unknown_backend_is_refused(tiny_spec) -> None:
    with pytest.raises(DeviceError, match="unknown backend"):
        Colorizer(tiny_spec, backend="tensorflow")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_model_in_ort_is_a_model_error(tiny_onnx: Path, tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "bad.onnx"
    data = tiny_onnx.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a model at all" * 100)
    for backend in ("onnxruntime", "auto"):
        with pytest.raises(ModelError) as err:
            Colorizer(spec_from_path(bad), device="cpu", backend=backend)
        assert "\n" not in str(err.value)


def test_fp16_graph_stays_close_to_fp32() -> None:
    """The graph the cuda-fp16 device runs (fp16 weights, float32 in/out, fp32 annealed mean), run on the CPU."""
    from stream_colorize.backends import graph

    spec = resolve_model("default")
    model = graph.with_free_batch(onnx.load(str(spec.path)))
    full = graph.with_annealed_mean(model, load_bins(), spec.temperature)
    half = graph.with_annealed_mean(graph.to_fp16(model), load_bins(), spec.temperature)
    onnx.checker.check_model(half)
    inits = {i.name: i.data_type for i in half.graph.initializer}
    assert sum(t == onnx.TensorProto.FLOAT16 for t in inits.values()) > 10
    blob = network_input(scenes(), spec.input_size)
    feeds = {i.name: (blob if i.role == "l" else i.default(len(blob), spec.input_size)) for i in spec.inputs}
    if len(spec.inputs) > 1:  # a hint model: some hints too, through the fp16 hint path
        feeds["hints"][:, :, 10:14, 20:24] = np.array([40.0, -20.0, 1.0], np.float32)[None, :, None, None]
    run = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        for m in (full, half)
    ]
    assert run[0].shape == run[1].shape == (3, 2, 56, 56)
    diff = np.abs(run[0] - run[1])
    assert 0 < float(diff.max()) < 6.0 and float(diff.mean()) < 0.5  # really fp16, yet the same colours


def test_caffe_model_runs_in_ort_through_the_converter(tmp_path: Path, model_home: Path) -> None:
    """A Caffe model given by path: converted once into the cache, never beside the user's files."""
    prototxt, _ = write_standin_caffe(tmp_path / "caffe", seed=0, arch="zhang")  # the converter's architecture
    before = sorted(p.name for p in (tmp_path / "caffe").iterdir())
    spec = spec_from_caffe(prototxt)
    runtime = Colorizer(spec, device="cpu", backend="onnxruntime")
    assert sorted(p.name for p in (tmp_path / "caffe").iterdir()) == before
    assert runtime.backend.spec.format == "onnx" and model_home in runtime.backend.spec.path.parents
    frame = scenes()[:1]
    ab = runtime.predict_ab(frame)
    assert float(np.abs(ab).mean()) > 1.0
    again = Colorizer(spec, device="cpu", backend="onnxruntime")
    assert again.backend.spec.path == runtime.backend.spec.path  # converted once
    # The reference: cv2.dnn on the Caffe files where OpenCV reads them (4.x), else on the conversion.
    reference_spec = spec if CV_MAJOR < 5 else runtime.backend.spec
    reference = Colorizer(reference_spec, device="cpu", backend="opencv", temperature=spec.temperature)
    diff = np.abs(reference.predict_ab(frame) - ab)
    assert float(diff.mean()) <= 1e-3 and float(diff.max()) <= 0.1  # see the Zhang stand-in test for why


# -- the command line ---------------------------------------------------------------------------


def test_video_with_ort_backend_writes_color(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1, audio=1)
    out = tmp_path / "out.mp4"
    args = ["video", str(clip), str(out), "--model", str(tiny_onnx), "--backend", "onnxruntime", "-d", "cpu", "-q"]
    code, _, err = run_main(args, capsys)
    assert code == 0, err
    frames = video_frames(out)
    assert len(frames) == 25 and chroma(frames[10]) > 2.0


def test_info_shows_the_backend_table(capsys) -> None:
    code, out, _ = run_main(["info"], capsys)
    assert code == 0
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("--backend ")}
    assert set(rows) == {"opencv", "onnxruntime", "auto"}
    assert f"onnxruntime {ort.__version__}" in rows["onnxruntime"] and "CPU" in rows["onnxruntime"]
    assert "picks onnxruntime" in rows["auto"] or "picks opencv" in rows["auto"]


_WITHOUT_ORT = """
import sys
sys.modules["onnxruntime"] = None  # as if it were not installed (pip install --no-deps)
from stream_colorize.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("command", ["image", "video"])
def test_backend_onnxruntime_without_it_is_one_line_naming_the_extra(
    tmp_path: Path, tiny_onnx: Path, command: str
) -> None:
    if command == "image":
        src = tmp_path / "photo.png"
        cv2.imwrite(str(src), scenes()[0])
        args = ["image", str(src), "-o", str(tmp_path / "out.png")]
    else:
        src = make_clip(tmp_path / "clip.mp4", seconds=0.2)
        args = ["video", str(src), str(tmp_path / "out.mp4")]
    args += ["--model", str(tiny_onnx), "--backend", "onnxruntime"]
    run = subprocess.run([sys.executable, "-c", _WITHOUT_ORT, *args], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install onnxruntime" in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    # auto in the same situation: cv2.dnn, and the output is written.
    args[args.index("onnxruntime")] = "auto"
    run = subprocess.run([sys.executable, "-c", _WITHOUT_ORT, *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_provider_plan_per_device() -> None:
    """Which providers each --device tries, for the provider lists of the CPU, GPU and OpenVINO builds."""
    from stream_colorize.backends.ort import CPU, CUDA, OPENVINO, TENSORRT, _attempts

    gpu_build = [TENSORRT, CUDA, CPU]
    plan, notes = _attempts("cuda-fp16", gpu_build)
    assert [(a.device, a.providers, a.fp16) for a in plan] == [
        ("cuda-fp16", (TENSORRT, CUDA, CPU), True),
        ("cpu", (CPU,), False),
    ] and not notes
    plan, _ = _attempts("auto", [CUDA, CPU])
    assert [(a.device, a.providers, a.fp16) for a in plan] == [("cuda", (CUDA, CPU), False), ("cpu", (CPU,), False)]
    plan, _ = _attempts("auto", [OPENVINO, CPU])
    assert [a.providers for a in plan] == [(OPENVINO, CPU)]
    plan, notes = _attempts("opencl", gpu_build)
    assert [a.device for a in plan] == ["cpu"] and "no OpenCL provider" in notes[0]
    plan, notes = _attempts("cuda", [CPU])
    assert [a.device for a in plan] == ["cpu"] and "pip install onnxruntime-gpu" in notes[0]


def test_a_gpu_provider_that_does_not_start_falls_back_with_its_reason(tiny_spec, monkeypatch, caplog) -> None:
    """onnxruntime-gpu without CUDA libraries lists CUDA yet runs on the CPU: we notice, and say so."""
    from stream_colorize.backends import ort as ort_backend

    if ort_backend.gpu_providers():
        pytest.skip("a real GPU provider is present")
    monkeypatch.setattr(ort_backend, "available_providers", lambda: [ort_backend.CUDA, ort_backend.CPU])
    caplog.set_level("INFO", logger="stream_colorize")
    engine = Colorizer(tiny_spec, device="cuda", backend="onnxruntime")
    assert engine.choice.device == "cpu"
    assert any("cuda not used: onnxruntime could not start CUDAExecutionProvider" in n for n in engine.choice.fallbacks)
    assert any(r.levelname == "WARNING" and "cuda not used" in r.getMessage() for r in caplog.records)
    assert engine.predict_ab([scenes()[0]]).shape == (1, 2, 56, 56)
