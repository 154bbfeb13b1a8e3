"""Named model inputs: a model with an L and a hints input, declared in its sidecar, on both backends.

The generated model's hints push the logits of every bin by the bin's agreement with the hint's
ab, cell by cell, so a hint colours its own cells and no others; without hints (the declared fill)
the model is a plain L -> logits network.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize.bins import annealed_mean, load_bins
from stream_colorize.engine import Colorizer
from stream_colorize.errors import ModelError, UsageError
from stream_colorize.lab import limit_to_gamut, network_input
from stream_colorize.models import resolve_model
from stream_colorize.models.spec import InputSpec, spec_from_path
from tests.support.cli import run_main
from tests.support.media import make_image

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZE = 32  # the model's input size; hints come at half of it (stride 2), ab at a quarter
HINTS = {"name": "hints", "role": "hints_ab", "channels": 2, "stride": 2}


def write_hint_model(
    folder: Path, inputs: list[dict] | None, graph_inputs: int = 2, output_name: str | None = None
) -> Path:
    """A two-input ONNX model (``data_l`` (N, 1, 32, 32), ``hints`` (N, 2, 16, 16)) -> logits (N, 313, 8, 8).

    Both inputs are averaged to 8 x 8 cells by strided convolutions; a 1x1 convolution gives each
    bin a small random weight on L plus 0.05 x (hint . bin centre).  ``inputs`` is the sidecar's
    list (None: no ``inputs`` key); ``graph_inputs=1`` leaves the hints out of the graph.  With
    ``output_name`` the graph outputs the L cells first and the logits second, and the sidecar
    names the output to decode.
    """
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    centres = load_bins()
    head = np.concatenate([rng.normal(0, 0.05, (313, 1)), 0.05 * centres], 1).astype(np.float32)
    pool_h = np.eye(2, dtype=np.float32).reshape(2, 2, 1, 1).repeat(2, 2).repeat(2, 3) / 4  # per-channel 2x2 mean
    inits = [
        numpy_helper.from_array(np.full((1, 1, 4, 4), 1 / 16, np.float32), "pool_l"),
        numpy_helper.from_array(pool_h, "pool_h"),
        numpy_helper.from_array(head.reshape(313, 3, 1, 1), "head_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, 313).astype(np.float32), "head_b"),
    ]
    l_in = helper.make_tensor_value_info("data_l", TensorProto.FLOAT, ["N", 1, SIZE, SIZE])
    h_in = helper.make_tensor_value_info("hints", TensorProto.FLOAT, ["N", 2, SIZE // 2, SIZE // 2])
    nodes = [helper.make_node("Conv", ["data_l", "pool_l"], ["cells_l"], kernel_shape=[4, 4], strides=[4, 4])]
    if graph_inputs == 2:
        nodes += [
            helper.make_node("Conv", ["hints", "pool_h"], ["cells_h"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Concat", ["cells_l", "cells_h"], ["cells"], axis=1),
            helper.make_node("Conv", ["cells", "head_w", "head_b"], ["logits"], kernel_shape=[1, 1]),
        ]
    else:
        inits[2] = numpy_helper.from_array(head[:, :1].reshape(313, 1, 1, 1).copy(), "head_w")
        nodes.append(helper.make_node("Conv", ["cells_l", "head_w", "head_b"], ["logits"], kernel_shape=[1, 1]))
    graph = helper.make_graph(
        nodes,
        "hinted",
        [l_in, h_in][:graph_inputs],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 313, None, None])],
        inits,
    )
    if output_name is not None:
        graph.output.insert(0, helper.make_tensor_value_info("cells_l", TensorProto.FLOAT, ["N", 1, None, None]))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hinted.onnx"
    onnx.save(model, str(path))
    sidecar: dict = {"name": "hinted", "input_size": SIZE, "output": "logits", "temperature": 0.4}
    if inputs is not None:
        sidecar["inputs"] = inputs
    if output_name is not None:
        sidecar["output_name"] = output_name
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture(scope="module")
def hinted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hint_model(tmp_path_factory.mktemp("hinted"), [{"name": "data_l", "role": "l"}, HINTS])


def gray_frames() -> list[np.ndarray]:
    """Three mid-grey frames with a little texture (mid L leaves room for saturated hints)."""
    rng = np.random.default_rng(0)
    return [np.clip(rng.normal(level, 12, (48, 64)), 0, 255).astype(np.uint8) for level in (110, 128, 150)]


def red_hint(count: int) -> np.ndarray:
    """A strong red hint (a = 60) over the top-left quarter of the hints map (model cells 0..3 x 0..3)."""
    hints = np.zeros((count, 2, SIZE // 2, SIZE // 2), np.float32)
    hints[:, 0, :8, :8] = 60.0
    return hints


def test_sidecar_declares_the_inputs(hinted: Path) -> None:
    spec = spec_from_path(hinted)
    assert spec.inputs == (InputSpec("data_l"), InputSpec("hints", "hints_ab", channels=2, stride=2))
    assert spec.l_input.name == "data_l"


@pytest.mark.parametrize("backend", ["opencv", "onnxruntime"])
def test_hints_color_their_own_cells_on_each_backend(hinted: Path, backend: str) -> None:
    engine = Colorizer(spec_from_path(hinted), device="cpu", backend=backend)
    frames = gray_frames()
    plain = engine.predict_ab(frames)
    assert plain.shape == (3, 2, 8, 8)
    zeros = engine.predict_ab(frames, {"hints_ab": np.zeros((3, 2, 16, 16), np.float32)})
    assert np.array_equal(plain, zeros)  # no hints = the declared fill (0)
    hinted_ab = engine.predict_ab(frames, {"hints_ab": red_hint(3)})
    inside, outside = (slice(None), slice(None), slice(0, 4), slice(0, 4)), np.ones((8, 8), bool)
    outside[:4, :4] = False
    assert np.abs(hinted_ab - plain)[:, :, outside].max() <= 1e-5  # other cells untouched
    assert float(hinted_ab[inside][:, 0].mean()) > 25.0  # red where hinted
    assert float(hinted_ab[inside][:, 0].mean()) > float(plain[inside][:, 0].mean()) + 20.0
    one = engine.predict_ab(frames[0], {"hints_ab": red_hint(1)[0]})  # one bare frame: its hints without N
    assert one.shape == (2, 8, 8) and float(np.abs(one - hinted_ab[0]).max()) <= 1e-4


def test_backends_agree_with_and_without_hints(hinted: Path) -> None:
    spec = spec_from_path(hinted)
    frames = gray_frames()
    engines = [
        Colorizer(spec, device="cpu", backend="opencv"),
        Colorizer(spec, device="cpu", backend="onnxruntime"),
        Colorizer(spec, device="cpu", backend="onnxruntime", threads=1),  # annealed mean inside the graph
    ]
    assert engines[2].backend.decode_in_graph
    for extra in (None, {"hints_ab": red_hint(3)}):
        ab = [engine.predict_ab(frames, extra) for engine in engines]
        assert float(np.abs(ab[0]).mean()) > 1.0
        for other in ab[1:]:
            assert float(np.abs(other - ab[0]).max()) <= 1e-3


@pytest.mark.parametrize("backend", ["opencv", "onnxruntime"])
def test_batches_carry_each_frames_own_hints(hinted: Path, backend: str) -> None:
    spec = spec_from_path(hinted)
    frames = gray_frames()
    hints = red_hint(3)
    hints[1] = 0.0
    hints[2, 1] = -50.0  # the third frame gets a blue hint (b < 0) as well
    batched = Colorizer(spec, device="cpu", backend=backend, batch_size=2).predict_ab(frames, {"hints_ab": hints})
    single = Colorizer(spec, device="cpu", backend=backend)
    alone = np.concatenate([single.predict_ab([f], {"hints_ab": hints[i : i + 1]}) for i, f in enumerate(frames)])
    assert float(np.abs(batched - alone).max()) <= 1e-4


def test_fill_value_comes_from_the_sidecar(tmp_path: Path) -> None:
    path = write_hint_model(tmp_path, [{"name": "data_l", "role": "l"}, {**HINTS, "fill": 30.0}])
    engine = Colorizer(spec_from_path(path), device="cpu")
    frames = gray_frames()[:1]
    filled = np.full((1, 2, 16, 16), 30.0, np.float32)
    assert np.array_equal(engine.predict_ab(frames), engine.predict_ab(frames, {"hints_ab": filled}))
    assert not np.array_equal(engine.predict_ab(frames), engine.predict_ab(frames, {"hints_ab": filled * 0}))


def test_the_sidecar_names_the_output_to_decode(hinted: Path, tmp_path: Path) -> None:
    """A graph whose first output is not the logits: both backends decode the one the sidecar names."""
    path = write_hint_model(tmp_path, [{"name": "data_l", "role": "l"}, HINTS], output_name="logits")
    spec = spec_from_path(path)
    assert spec.output_name == "logits"
    frames, extra = gray_frames(), {"hints_ab": red_hint(3)}
    expected = Colorizer(spec_from_path(hinted), device="cpu").predict_ab(frames, extra)
    for backend, threads in (("opencv", None), ("onnxruntime", None), ("onnxruntime", 1)):
        engine = Colorizer(spec, device="cpu", backend=backend, threads=threads)
        assert float(np.abs(engine.predict_ab(frames, extra) - expected).max()) <= 1e-3


def test_graph_edits_keep_both_inputs(hinted: Path) -> None:
    """Free batch, fp16 (what cuda-fp16 runs) and the in-graph decode on a two-input graph, on the CPU."""
    from stream_colorize.backends import graph

    spec = spec_from_path(hinted)
    model = graph.with_free_batch(onnx.load(str(hinted)))
    assert graph.input_names(model) == ["data_l", "hints"]
    full = graph.with_annealed_mean(model, load_bins(), spec.temperature, "logits")
    half = graph.with_annealed_mean(graph.to_fp16(model), load_bins(), spec.temperature)
    onnx.checker.check_model(half)
    casts = [n for n in half.graph.node if n.op_type == "Cast" and n.input[0] in ("data_l", "hints")]
    assert sorted(n.input[0] for n in casts) == ["data_l", "hints"]
    feeds = {"data_l": network_input(gray_frames(), SIZE), "hints": red_hint(3)}
    run = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        for m in (full, half)
    ]
    assert run[0].shape == (3, 2, 8, 8) and float(run[0][:, 0, :4, :4].mean()) > 25.0
    assert 0 < float(np.abs(run[0] - run[1]).max()) < 6.0


# -- single-input models: exactly as before ---------------------------------------------------


def _plain_expectation(spec, frames: list[np.ndarray], backend: str) -> np.ndarray:
    """What the engine computed before inputs had names: the L blob into the graph's only input,
    the numpy annealed mean, the gamut limit."""
    blob = network_input(frames, spec.input_size)
    net = cv2.dnn.readNetFromONNX(str(spec.path))
    session = ort.InferenceSession(str(spec.path), providers=["CPUExecutionProvider"])

    def run(one: np.ndarray) -> np.ndarray:  # one frame at a time, as the engine runs at batch 1
        if backend == "opencv":
            net.setInput(one)
            return net.forward()
        return session.run(None, {session.get_inputs()[0].name: one})[0]

    logits = np.concatenate([run(blob[i : i + 1]) for i in range(len(frames))])
    ab = annealed_mean(logits, load_bins(), spec.temperature)
    for i in range(len(frames)):
        light = cv2.resize(blob[i, 0], ab.shape[:1:-1], interpolation=cv2.INTER_AREA) + np.float32(50)
        ab[i] = limit_to_gamut(ab[i], light)
    return ab


@pytest.mark.parametrize("backend", ["opencv", "onnxruntime"])
@pytest.mark.parametrize("which", ["tiny", "default-v1"])
def test_single_input_models_are_unchanged(tiny_onnx: Path, which: str, backend: str) -> None:
    spec = spec_from_path(tiny_onnx) if which == "tiny" else resolve_model(which)
    assert spec.inputs == (InputSpec("data_l"),)  # one L input, named after the graph's
    frames = gray_frames()
    ab = Colorizer(spec, device="cpu", backend=backend, precision="fp32").predict_ab(frames)  # the file itself
    assert np.array_equal(ab, _plain_expectation(spec, frames, backend))


def test_a_hand_made_spec_feeds_the_graphs_only_input(tiny_onnx: Path) -> None:
    """A ModelSpec built in code (no graph read) names no input: both backends feed the only one."""
    from stream_colorize.models.spec import ModelSpec

    spec = ModelSpec(name="bare", format="onnx", path=tiny_onnx)
    assert spec.inputs == (InputSpec(""),)
    frames = gray_frames()[:1]
    for backend in ("opencv", "onnxruntime"):
        ab = Colorizer(spec, device="cpu", backend=backend).predict_ab(frames)
        assert float(np.abs(ab - _plain_expectation(spec, frames, backend)).max()) <= 1e-3


# -- mistakes: one line each ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "graph_inputs", "says"),
    [
        ([{"name": "data_l", "role": "l"}, {**HINTS, "name": "hint"}], 2, "input 'hint' is not in the graph"),
        ([{"name": "data_l", "role": "l"}], 2, "graph input 'hints' of hinted.onnx is not listed under 'inputs'"),
        (None, 2, "the graph has 2 inputs (data_l, hints)"),
        ([{"name": "data_l", "role": "l"}, {**HINTS, "channels": 3}], 2, "is (N, 2, 16, 16) in the graph"),
        ([{"name": "data_l", "role": "l"}, {**HINTS, "stride": 3}], 2, "stride 3 does not divide input_size 32"),
        ([{"name": "data_l", "role": "l"}, {**HINTS, "role": "l"}], 2, "the L input has 1 channel"),
        ([HINTS], 2, 'no input has the role "l"'),
        ([{"name": "data_l", "role": "l"}, {**HINTS, "colour": 1}], 2, "unknown key 'colour'"),
        ([{"name": "data_l", "role": "Hints!"}], 1, "role must be a lower-case identifier"),
        ("data_l", 1, "inputs must be a list"),
        ([{"name": "data_l", "role": "l"}, HINTS], 2, "output_name 'ab' is not an output of hinted.onnx"),
    ],
)
def test_a_wrong_inputs_list_is_a_one_line_model_error(tmp_path: Path, inputs, graph_inputs: int, says: str) -> None:
    path = write_hint_model(tmp_path, inputs, graph_inputs, output_name="ab" if "output_name" in says else None)
    with pytest.raises(ModelError) as caught:
        spec_from_path(path)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_wrong_input_name_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_hint_model(tmp_path / "m", [{"name": "data_l", "role": "l"}, {**HINTS, "name": "hint"}])
    image = make_image(tmp_path / "in.png")
    out = tmp_path / "out.png"
    code, _, err = run_main(["image", str(image), "-o", str(out), "-m", str(path)], capsys)
    assert code != 0 and not out.exists()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "input 'hint' is not in the graph of hinted.onnx" in lines[0], err
    assert "Traceback" not in err


def test_extra_inputs_the_model_lacks_or_misshapes_are_usage_errors(hinted: Path, tiny_onnx: Path) -> None:
    frames = gray_frames()[:2]
    engine = Colorizer(spec_from_path(hinted), device="cpu")
    with pytest.raises(UsageError, match=r"must be shaped \(2, 2, 16, 16\)"):
        engine.predict_ab(frames, {"hints_ab": np.zeros((1, 2, 16, 16), np.float32)})
    with pytest.raises(UsageError, match="no input with the role 'hints_mask' .its roles: hints_ab"):
        engine.predict_ab(frames, {"hints_mask": np.zeros((2, 1, 32, 32), np.float32)})
    with pytest.raises(UsageError, match="none besides the L"):
        Colorizer(spec_from_path(tiny_onnx), device="cpu").predict_ab(frames, {"hints_ab": red_hint(2)})
