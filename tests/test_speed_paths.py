"""The fast paths of issue 25: ONNX Runtime as the default everywhere, graph edits without the
``onnx`` package, the merge straight into the encoder's 4:2:0 planes, start-up, threads, int8.

No timings are asserted: each test checks what runs (backend, graph, planes, imports) and that
its results agree with the reference path on real frames and real files.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from stream_colorize.build import build_engine
from stream_colorize.config import ModelSettings, Settings
from stream_colorize.engine import Colorizer
from tests.support.cli import run_main

REPO = Path(__file__).resolve().parent.parent
ort = pytest.importorskip("onnxruntime")


def _scene(height: int = 120, width: int = 160) -> np.ndarray:
    """A gray frame with edges and gradients (what the colour paths must agree on)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    gray = 30 + 180 * x / width + 25 * np.sin(y / 7)
    gray[(x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (height / 4) ** 2] = 235
    gray[y > height * 0.8] = 12
    return np.clip(gray, 0, 255).astype(np.uint8)


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


# -- ONNX Runtime: a dependency, and what auto runs everywhere --------------------------------------


def test_onnxruntime_is_a_dependency_and_the_dev_setup_needs_no_ort_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("onnxruntime") for dep in project["dependencies"])
    extras = project["optional-dependencies"]
    # onnxruntime-gpu beside the CPU build breaks both: no extra may pull it in next to the dependency.
    assert not any(dep.startswith("onnxruntime") for deps in extras.values() for dep in deps)
    setup = (REPO / "scripts" / "setup-dev.sh").read_text()
    assert ",ort" not in setup and "[ort" not in setup and "onnxruntime" in setup


def test_auto_is_the_one_default_of_colorizer_settings_and_builder(tiny_onnx: Path) -> None:
    plain = Colorizer(tiny_onnx, device="cpu")
    built = build_engine(Settings(model=str(tiny_onnx), device="cpu").model)
    assert ModelSettings().backend == "auto"
    assert plain.backend_name == built.backend_name == "onnxruntime"
    reference = Colorizer(tiny_onnx, device="cpu", backend="opencv")
    assert reference.backend_name == "opencv"
    frame = _scene()
    assert float(np.abs(plain.predict_ab(frame) - reference.predict_ab(frame)).max()) < 0.05


def test_info_says_which_backend_auto_runs_and_why(capsys) -> None:
    code, out, _ = run_main(["info"], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("--backend auto"))
    assert "picks onnxruntime: installed" in line and "faster than cv2.dnn" in line
    hidden = _python(
        "import sys; sys.modules['onnxruntime'] = None\nfrom stream_colorize.cli import main\nmain(['info'])"
    )
    assert hidden.returncode == 0, hidden.stderr
    line = next(x for x in hidden.stdout.splitlines() if x.startswith("--backend auto"))
    assert "picks opencv: ONNX Runtime is not installed (pip install onnxruntime" in line


# -- graph edits on the protobuf wire -------------------------------------------------------------


def test_wire_edits_match_the_onnx_edits_and_free_the_batch(tiny_onnx: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from stream_colorize.backends import graph, wire_edit
    from stream_colorize.bins import load_bins

    data = tiny_onnx.read_bytes()
    edited = wire_edit.edit(data, (load_bins(), 0.45, wire_edit.graph_outputs(data)[0]))
    onnx.checker.check_model(onnx.load_model_from_string(edited))
    reference = graph.with_annealed_mean(graph.with_free_batch(onnx.load(str(tiny_onnx))), load_bins(), 0.45)
    ours = ort.InferenceSession(edited, providers=["CPUExecutionProvider"])
    theirs = ort.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {ours.get_inputs()[0].name: np.random.default_rng(0).normal(0, 20, (3, 1, 224, 224)).astype(np.float32)}
    got = ours.run([graph.AB_OUTPUT], feeds)[0]
    want = theirs.run([graph.AB_OUTPUT], feeds)[0]
    assert got.shape == (3, 2, 56, 56) and float(np.abs(got - want).max()) < 0.01  # ab units: float rounding
    assert ours.get_inputs()[0].shape[0] == "N"


def test_the_file_pipeline_session_decodes_in_the_graph_without_importing_onnx(tiny_onnx: Path) -> None:
    """onnx is not a dependency, and importing it costs a second: the ONNX Runtime path never needs it."""
    run = _python(
        "import sys\n"
        "from stream_colorize.engine import Colorizer\n"
        "engine = Colorizer(sys.argv[1], device='cpu', threads=1, batch_size=2)\n"
        "import numpy as np\n"
        "ab = engine.predict_ab([np.zeros((40, 60), np.uint8)] * 2)\n"
        "print(engine.backend_name, engine.backend.decode_in_graph, ab.shape, 'onnx' in sys.modules)",
        str(tiny_onnx),
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["onnxruntime", "True", "(2,", "2,", "56,", "56)", "False"]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_model_is_one_model_error_through_the_default_backend(
    tiny_onnx: Path, tmp_path: Path, damage: str
) -> None:
    from stream_colorize.errors import ModelError
    from stream_colorize.models.spec import spec_from_path

    bad = tmp_path / "bad.onnx"
    data = tiny_onnx.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a model at all" * 100)
    for threads in (None, 1):  # numpy decode, and the annealed mean appended on the wire
        with pytest.raises(ModelError, match="corrupt or truncated"):
            Colorizer(spec_from_path(bad), device="cpu", threads=threads)
