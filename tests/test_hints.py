"""Colour hints: parsing (``hints.py``), the library (``Colorizer(..., hints=)``, ``colorize_image``),
and ``stream-colorize image --hint/--hints`` as a user runs it (subprocesses on real files).

The model is the ``tiny-hints`` stand-in: its hint input moves a hinted cell's logits towards the
bins nearest the hint's ab, and leaves unhinted cells exactly as the automatic run has them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.errors import UsageError
from stream_colorize.hints import (
    HINT_ROLE,
    MAX_POINTS,
    HintPoint,
    Hints,
    color_to_ab,
    hint_tensor,
    load_hints,
    parse_hint,
)
from stream_colorize.models.spec import InputSpec, spec_from_path
from stream_colorize.models.standin import write_standin_onnx
from stream_colorize.photo import colorize_image

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIENNA = "#a0522d"  # Lab about (44, 30, 40): its ab lies on a bin, and it fits the gamut at its own L
SIZE = (96, 128)  # the test picture's (height, width)


@pytest.fixture(scope="module")
def hint_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny stand-in with a hint input (``data_l`` + ``hints`` (N, 3, 56, 56))."""
    return write_standin_onnx(tmp_path_factory.mktemp("hintmodel") / "hints.onnx", arch="tiny-hints", seed=1)


@pytest.fixture(scope="module")
def engines(hint_model: Path) -> dict[str, Colorizer]:
    spec = spec_from_path(hint_model)
    return {b: Colorizer(spec, device="cpu", backend=b, precision="fp32") for b in ("opencv", "onnxruntime")}


def gray_at(color: str) -> int:
    """The gray level whose Lab L is the colour's: a hint of that colour is in gamut there."""
    rgb = np.array([[[int(color[i : i + 2], 16) for i in (5, 3, 1)]]], np.uint8)
    light = cv2.cvtColor(rgb, cv2.COLOR_BGR2Lab)[0, 0, 0]
    grays = cv2.cvtColor(np.arange(256, dtype=np.uint8).reshape(1, -1, 1).repeat(3, 2), cv2.COLOR_BGR2Lab)[0, :, 0]
    return int(np.abs(grays.astype(int) - int(light)).argmin())


def gray_picture(level: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A gray picture with a little texture, so the automatic colours vary across it."""
    rng = np.random.default_rng(7)
    return np.clip(rng.normal(level, 6, size), 0, 255).astype(np.uint8)


def lab_ab(bgr: np.ndarray) -> np.ndarray:
    """(H, W, 2) CIE a, b of a BGR uint8 picture."""
    return cv2.cvtColor(bgr.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[:, :, 1:]


# -- parsing -----------------------------------------------------------------------------------


def test_parse_hint_reads_point_colour_and_radius() -> None:
    point = parse_hint(" 120, 80 ,#A0522D ")
    assert (point.x, point.y, point.radius) == (120.0, 80.0, 0.0)
    bgr = np.array([[[0x2D, 0x52, 0xA0]]], np.float32) / 255
    a, b = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[0, 0, 1:]
    assert (point.a, point.b) == pytest.approx((a, b), abs=1e-4) and point.a > 20 and point.b > 25
    assert parse_hint("3.5,4,#ffffff,6").radius == 6.0
    assert color_to_ab("#808080") == pytest.approx((0.0, 0.0), abs=1e-3)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("1,2", "must be X,Y,#RRGGBB"),
        ("1,2,#ffffff,3,4", "must be X,Y,#RRGGBB"),
        ("a,2,#ffffff", "must be numbers"),
        ("1,2,red", "is not #RRGGBB"),
        ("1,2,#fff", "is not #RRGGBB"),
        ("1,2,#ggffff", "is not #RRGGBB"),
        ("1,2,#ffffff,-1", "RADIUS 0 or more"),
        ("nan,2,#ffffff", "finite"),
    ],
)
def test_parse_hint_refuses(text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle) as caught:
        parse_hint(text)
    assert "\n" not in str(caught.value) and text in str(caught.value)


def write_json(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_load_hints_reads_points(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "h.json",
        {"points": [{"x": 10, "y": 20.5, "color": SIENNA}, {"x": 0, "y": 0, "color": "#0000ff", "radius": 3}]},
    )
    hints = load_hints(path)
    assert len(hints.points) == 2 and hints.points[0] == HintPoint.from_color(10, 20.5, SIENNA)
    assert hints.points[1].radius == 3.0 and hints.points[1].b < -50  # blue
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as some editors save it
    assert load_hints(bom) == hints


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "does not exist"),
        ('{"points": [', "not valid JSON"),
        ("[1, 2]", 'must hold {"points"'),
        ({"points": {"x": 1}}, 'must hold {"points"'),
        ({"points": []}, "lists no points"),
        ({"points": [{"x": 1, "y": 1, "color": "#ffffff"}] * (MAX_POINTS + 1)}, f"at most {MAX_POINTS}"),
        ({"points": [{"x": 1, "y": 1}]}, "point 1: a point lacks color"),
        ({"points": [{"x": 1, "y": 1, "color": "#ffffff"}, {"x": True, "y": 1, "color": "#ffffff"}]}, "point 2"),
        ('{"points": [{"x": 1e999, "y": 1, "color": "#ffffff"}]}', "finite numbers"),
        ('{"points": [{"x": 1' + "0" * 400 + ', "y": 1, "color": "#ffffff"}]}', "finite numbers"),
        ({"points": [{"x": 1, "y": 1, "color": "#ffffff", "radius": -2}]}, "radius must be 0 or more"),
        ({"points": [{"x": 1, "y": 1, "color": "blue"}]}, "point 1: hint colour 'blue' is not #RRGGBB"),
        (" " * (1 << 20) + "{}", "too large"),
    ],
)
def test_load_hints_refuses(tmp_path: Path, content: object, needle: str) -> None:
    path = tmp_path / "h.json"
    if content is not None:
        write_json(path, content)
    with pytest.raises(UsageError) as caught:
        load_hints(path)
    message = str(caught.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_hints_check_inside_and_limit() -> None:
    hints = Hints.of([HintPoint(127.5, 95, 0, 0)])
    hints.check_inside(128, 96)
    with pytest.raises(UsageError, match=r"\(127.5, 95\) lies outside the 128x95 picture"):
        hints.check_inside(128, 95)
    with pytest.raises(UsageError, match=r"\(-1, 0\) lies outside"):
        Hints.of([HintPoint(-1, 0, 0, 0)]).check_inside(10, 10)
    with pytest.raises(UsageError, match="too many"):
        Hints.of([HintPoint(0, 0, 0, 0)] * (MAX_POINTS + 1))
    assert not Hints() and Hints.of([HintPoint(0, 0, 0, 0)])


def test_hint_tensor_puts_points_in_their_cells() -> None:
    assert not hint_tensor(None, SIZE, 56).any()
    point = HintPoint(64, 24, 30.0, -20.0)  # picture 128 x 96: cell x = 64 * 56/128 = 28, y = 24 * 56/96 = 14
    planes = hint_tensor(Hints.of([point]), SIZE, 56)
    assert planes.shape == (3, 56, 56) and planes.dtype == np.float32
    assert list(zip(*np.nonzero(planes[2]))) == [(14, 28)]
    assert (planes[0, 14, 28], planes[1, 14, 28]) == (30.0, -20.0)
    wide = hint_tensor(Hints.of([HintPoint(64, 48, 1.0, 1.0, radius=16)]), SIZE, 56)  # 7 x 9.3 cells across
    rows, cols = np.nonzero(wide[2])
    assert wide[2].sum() > 40 and rows.min() >= 18 and rows.max() <= 37 and cols.min() >= 20 and cols.max() <= 35
    assert np.array_equal(wide[0] != 0, wide[2] == 1)


# -- the stand-in and the library ---------------------------------------------------------------


def test_standin_declares_its_hint_input(hint_model: Path, engines: dict[str, Colorizer], tiny_spec) -> None:
    spec = spec_from_path(hint_model)
    assert spec.inputs == (InputSpec("data_l"), InputSpec("hints", HINT_ROLE, channels=3, stride=4, fill=0.0))
    assert engines["opencv"].takes_hints and engines["onnxruntime"].takes_hints
    assert not Colorizer(tiny_spec, device="cpu", backend="opencv").takes_hints


def sienna_hints(x: float = 40, y: float = 30, radius: float = 10) -> Hints:
    return Hints.of([HintPoint.from_color(x, y, SIENNA, radius)])


@pytest.mark.parametrize("backend", ["opencv", "onnxruntime"])
def test_hint_colours_its_cells_and_nothing_else(engines: dict[str, Colorizer], backend: str) -> None:
    engine = engines[backend]
    frame = gray_picture(gray_at(SIENNA))
    plain = engine.predict_ab(frame)
    assert np.array_equal(engine.predict_ab(frame, hints=None), plain)
    assert np.array_equal(engine.predict_ab(frame, hints=Hints()), plain)  # no points: automatic
    hinted = engine.predict_ab(frame, hints=sienna_hints())
    cell = hinted[:, 17, 17]  # (40, 30) in 128 x 96 is cell (17.5, 17.5) of 56 x 56
    assert np.hypot(*(cell - np.array(color_to_ab(SIENNA)))) < 8.0, cell
    assert np.hypot(*(plain[:, 17, 17] - cell)) > 15.0  # the automatic colour there was another
    assert np.array_equal(hinted[:, 30:, 30:], plain[:, 30:, 30:])  # far away: untouched
    planes = engine.hint_planes([frame], [sienna_hints()])
    assert planes is not None and planes.shape == (1, 3, 56, 56)
    via_extra = engine.predict_ab([frame], {HINT_ROLE: planes})  # the role-keyed path still works
    assert np.array_equal(via_extra[0], hinted)


def test_one_hints_per_frame_in_a_batch(engines: dict[str, Colorizer]) -> None:
    engine = engines["onnxruntime"]
    level = gray_at(SIENNA)
    frames = [gray_picture(level), gray_picture(level, (60, 200))]
    plain = engine.predict_ab(frames)
    both = engine.predict_ab(frames, hints=[None, sienna_hints(x=150, y=40, radius=6)])
    assert np.array_equal(both[0], plain[0])  # the frame given None stays automatic
    cell = both[1][:, int(40 * 56 / 60), int(150 * 56 / 200)]
    assert np.hypot(*(cell - np.array(color_to_ab(SIENNA)))) < 8.0
    colours = engine.colorize(frames, hints=[None, sienna_hints(x=150, y=40, radius=6)])
    assert [c.shape for c in colours] == [(96, 128, 3), (60, 200, 3)]


def test_library_refuses_hints_it_cannot_use(engines: dict[str, Colorizer], tiny_spec) -> None:
    engine, frame = engines["onnxruntime"], gray_picture(100)
    plain_model = Colorizer(tiny_spec, device="cpu", backend="onnxruntime")
    with pytest.raises(UsageError, match=r"model '.*' takes no colour hints \("):
        plain_model.colorize(frame, hints=sienna_hints())
    assert plain_model.colorize(frame, hints=Hints()).shape == (96, 128, 3)  # nothing to refuse
    with pytest.raises(UsageError, match=r"\(200, 30\) lies outside the 128x96 picture"):
        engine.colorize(frame, hints=sienna_hints(x=200))
    with pytest.raises(UsageError, match="one Hints for 2 frames"):
        engine.predict_ab([frame, frame], hints=sienna_hints())
    with pytest.raises(UsageError, match="1 hints for 2 frames"):
        engine.predict_ab([frame, frame], hints=[sienna_hints()])
    with pytest.raises(UsageError, match="must be a Hints or None, not str"):
        engine.predict_ab([frame], hints=["40,30,#a0522d"])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="given twice"):
        engine.predict_ab(frame, {HINT_ROLE: np.zeros((3, 56, 56), np.float32)}, hints=sienna_hints())


def test_backends_agree_with_hints(engines: dict[str, Colorizer]) -> None:
    """Hinted cells agree to float32 precision.  Elsewhere the random logits may put two distant
    bins within a rounding error of each other at a rare cell (see test_backends' Zhang stand-in
    test): there the mean and all but a thousandth of the values are held to it."""
    level = gray_at(SIENNA)
    frames = [gray_picture(level), gray_picture(60, (120, 90)), gray_picture(200, (50, 70))]
    hints = [sienna_hints(), Hints.of([HintPoint.from_color(45, 60, "#3060c0", 20)]), None]
    ref, ort_ab = (engines[b].predict_ab(frames, hints=hints) for b in ("opencv", "onnxruntime"))
    assert ref.shape == (3, 2, 56, 56) and float(np.abs(ref - engines["opencv"].predict_ab(frames)).max()) > 15
    planes = engines["opencv"].hint_planes(frames, hints)
    assert planes is not None
    hinted = np.broadcast_to(planes[:, 2:] > 0, ref.shape)
    assert hinted.sum() > 100 and float(np.abs(ref - ort_ab)[hinted].max()) <= 1e-2
    diff = np.abs(ref - ort_ab)
    assert float(diff.mean()) <= 1e-3 and float(np.quantile(diff, 0.999)) <= 1e-2


def test_colorize_image_takes_hints(hint_model: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    src = tmp_path / "g.png"
    cv2.imwrite(str(src), gray_picture(gray_at(SIENNA)))
    out = colorize_image(src, tmp_path / "o.png", hint_model, hints=sienna_hints())
    ab = lab_ab(cv2.imread(str(out)))
    assert np.hypot(*(ab[30, 40] - np.array(color_to_ab(SIENNA)))) < 10.0
    with pytest.raises(UsageError, match="takes no colour hints"):
        colorize_image(src, tmp_path / "p.png", tiny_onnx, hints=sienna_hints())
    with pytest.raises(UsageError, match="lies outside"):
        colorize_image(src, tmp_path / "q.png", hint_model, hints=sienna_hints(y=96))
    with pytest.raises(UsageError, match="must be a stream_colorize.hints.Hints"):
        colorize_image(src, tmp_path / "r.png", hint_model, hints="40,30,#a0522d")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "o.png"]


def test_sixteen_bit_photo_takes_hints(hint_model: Path, tmp_path: Path) -> None:
    """The 16-bit path (ab merged with the full-depth L) gets the hints too."""
    src = tmp_path / "deep.png"
    cv2.imwrite(str(src), gray_picture(gray_at(SIENNA)).astype(np.uint16) * 257)
    out = colorize_image(src, tmp_path / "deep_colour.png", hint_model, hints=sienna_hints())
    colour = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert colour.dtype == np.uint16
    ab = cv2.cvtColor(colour.astype(np.float32) / 65535, cv2.COLOR_BGR2Lab)[30, 40, 1:]
    assert np.hypot(*(ab - np.array(color_to_ab(SIENNA)))) < 10.0


def test_standin_hints_by_name(model_home: Path) -> None:
    engine = Colorizer("standin-hints", device="cpu", backend="onnxruntime")
    assert engine.takes_hints and engine.spec.name == "standin-hints"
    assert (model_home / "standin" / "tiny-hints.json").is_file()


# -- the command line ---------------------------------------------------------------------------


def run_cli(*args: str | Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, STREAM_COLORIZE_HOME=str(home))
    command = [sys.executable, "-m", "stream_colorize", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture()
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "gray.png"
    cv2.imwrite(str(path), gray_picture(gray_at(SIENNA)))
    return path


def test_image_hint_colours_the_point(picture: Path, hint_model: Path, tmp_path: Path) -> None:
    auto = run_cli("image", picture, "-o", tmp_path / "auto.png", "-m", hint_model, home=tmp_path)
    one = run_cli("image", picture, "-o", tmp_path / "hint.png", "-m", hint_model, "--hint", f"40,30,{SIENNA},10",
                  home=tmp_path)  # fmt: skip
    file = write_json(tmp_path / "h.json", {"points": [{"x": 40, "y": 30, "color": SIENNA, "radius": 10}]})
    listed = run_cli("image", picture, "-o", tmp_path / "file.png", "-m", hint_model, "--hints", file, home=tmp_path)
    for run in (auto, one, listed):
        assert run.returncode == 0 and "error" not in run.stderr, run.stderr
    plain, hinted, from_file = (cv2.imread(str(tmp_path / n)) for n in ("auto.png", "hint.png", "file.png"))
    want = np.array(color_to_ab(SIENNA))
    assert np.hypot(*(lab_ab(hinted)[30, 40] - want)) < 10.0
    assert np.hypot(*(lab_ab(plain)[30, 40] - want)) > 15.0  # not sienna without the hint
    assert np.array_equal(hinted[60:, 80:], plain[60:, 80:])  # far from the hint: the automatic colours
    assert np.array_equal(hinted, from_file)  # --hint and --hints agree


def test_image_hints_with_two_inputs_fail_only_the_picture_they_miss(hint_model: Path, tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), gray_picture(120, (20, 30)))
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), gray_picture(gray_at(SIENNA)))
    out = tmp_path / "out"
    run = run_cli("image", big, small, "-o", out, "-m", hint_model, "--hint", f"40,30,{SIENNA},10", home=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert errors == [f"stream-colorize: error: {small}: hint point (40, 30) lies outside the 30x20 picture "
                      "(x must be 0..29, y 0..19)"]  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["big_colour.png"]
    assert np.hypot(*(lab_ab(cv2.imread(str(out / "big_colour.png")))[30, 40] - color_to_ab(SIENNA))) < 10.0


BAD_CASES = {
    "model without hints": (["--hint", "10,10,#a0522d"], "takes no colour hints"),
    "outside the picture": (["--hint", "128,10,#a0522d"], "lies outside the 128x96 picture"),
    "negative coordinate": (["--hint", "-1,10,#a0522d"], "lies outside"),
    "colour name": (["--hint", "10,10,red"], "is not #RRGGBB"),
    "short colour": (["--hint", "10,10,#abc"], "is not #RRGGBB"),
    "not a point": (["--hint", "10;10;#a0522d"], "must be X,Y,#RRGGBB"),
    "empty file": (["--hints", {"points": []}], "lists no points"),
    "huge file": (["--hints", {"points": [{"x": 1, "y": 1, "color": "#a0522d"}] * (MAX_POINTS + 1)}], "at most"),
    "too many together": (
        ["--hints", {"points": [{"x": 1, "y": 1, "color": "#a0522d"}] * MAX_POINTS}, "--hint", "2,2,#a0522d"],
        "too many",
    ),  # fmt: skip
    "malformed JSON": (["--hints", '{"points": [{"x": 1,}]}'], "not valid JSON"),
    "bad colour in file": (["--hints", {"points": [{"x": 1, "y": 1, "color": "#a0522"}]}], "is not #RRGGBB"),
    "missing file": (["--hints", None], "does not exist"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_image_refuses_bad_hints(case: str, picture: Path, hint_model: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    extra, needle = BAD_CASES[case]
    args: list[str | Path] = []
    for item in extra:
        if item is None or not isinstance(item, str):
            path = tmp_path / "hints.json"
            if item is not None:
                write_json(path, item)
            item = path
        elif item.startswith("{"):
            item = write_json(tmp_path / "hints.json", item)
        args.append(item)
    model = tiny_onnx if case == "model without hints" else hint_model
    out = tmp_path / "out.png"
    run = run_cli("image", picture, "-o", out, "-m", model, *args, home=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stream-colorize: error: ") and needle in lines[0], run.stderr
    assert not out.exists() and run.stdout == ""


# -- spreading point hints (the sidecar's hint_spread) -----------------------------------------


def test_spread_carries_a_hint_over_its_lightness_not_across_an_edge() -> None:
    from stream_colorize.hints import Spread

    light = np.full((56, 56), 40.0, np.float32)
    light[:, 28:] = 80.0  # a lightness edge down the middle
    ab = np.zeros((2, 56, 56), np.float32)
    planes = np.zeros((3, 56, 56), np.float32)
    planes[:, 20, 10] = (50.0, 30.0, 1.0)
    out = Spread().apply(ab, planes, light)
    assert np.allclose(out[:, 20, 10], (50.0 * 1 / 1.3, 30.0 * 1 / 1.3), atol=1.0)  # W = 1 at the hint itself
    assert out[0, 25, 15] > 20.0  # a near cell of the same lightness takes much of it
    assert abs(out[0, 20, 30]) < 0.5  # across the edge, as near: nearly nothing
    assert out[0, 20, 10] > out[0, 20, 20] > 0  # fading with distance
    assert np.array_equal(Spread().apply(ab, np.zeros_like(planes), light), ab)  # no hints: untouched
    dense = np.zeros_like(planes)
    dense[:, :, :40] = np.array([20.0, -10.0, 1.0], np.float32)[:, None, None]  # a reference's map, a hole at the right
    taken = Spread().apply(ab + 5.0, dense, light)
    assert np.array_equal(taken[:, :, :40], dense[:2, :, :40])  # taken as it is where it hints
    assert np.array_equal(taken[:, :, 40:], ab[:, :, 40:] + 5.0)  # the network's own in the hole


def test_spread_with_the_colour_term_stops_where_the_network_saw_another_thing() -> None:
    from stream_colorize.hints import Spread

    light = np.full((56, 56), 50.0, np.float32)  # one gray all over: lightness cannot tell the halves
    own = np.zeros((2, 56, 56), np.float32)
    own[1, :, 28:] = 40.0  # but the network painted the right half yellow: another thing
    planes = np.zeros((3, 56, 56), np.float32)
    planes[:, 20, 24] = (40.0, -20.0, 1.0)
    blind, seeing = Spread(), Spread(colour=12.0)
    assert seeing.needs_own(planes) and not blind.needs_own(planes) and not seeing.needs_own(np.zeros_like(planes))
    without, with_term = blind.apply(own, planes, light, own), seeing.apply(own, planes, light, own)
    assert without[0, 20, 30] > 10.0  # lightness alone carries the hint over into the yellow half
    assert abs(with_term[0, 20, 30]) < 2 and abs(with_term[1, 20, 30] - 40.0) < 2  # the term keeps it out
    assert with_term[0, 20, 20] > 10.0 and np.isclose(with_term[0, 20, 20], without[0, 20, 20], atol=1e-3)
    assert np.array_equal(seeing.apply(own, planes, light), without)  # no own colours given: no term
    assert Spread.from_sidecar({"reach": 0.8, "colour": 12}) == Spread(reach=0.8, colour=12.0)


def test_a_model_whose_sidecar_asks_spreads_point_hints(hint_model: Path, tmp_path: Path) -> None:
    import json
    import shutil

    spreading = tmp_path / "spreading.onnx"
    shutil.copyfile(hint_model, spreading)
    sidecar = json.loads(hint_model.with_suffix(".json").read_text())
    spreading.with_suffix(".json").write_text(json.dumps({**sidecar, "hint_spread": {"reach": 0.65}}))
    plain_engine = Colorizer(spec_from_path(hint_model), device="cpu", precision="fp32")
    spread_engine = Colorizer(spec_from_path(spreading), device="cpu", precision="fp32")
    assert plain_engine.spread is None and spread_engine.spread is not None
    frame = gray_picture(gray_at(SIENNA))
    hint = Hints.of([HintPoint.from_color(40, 30, SIENNA)])
    plain, spread = plain_engine.predict_ab(frame, hints=hint), spread_engine.predict_ab(frame, hints=hint)
    target = np.array(color_to_ab(SIENNA))
    near = (slice(None), slice(19, 23), slice(19, 23))  # a few cells off the hinted one, same lightness
    assert np.hypot(*(spread[near].mean((1, 2)) - target)) < np.hypot(*(plain[near].mean((1, 2)) - target)) - 5
    assert np.array_equal(spread_engine.predict_ab(frame), plain_engine.predict_ab(frame))  # no hints: the same
    seeing = tmp_path / "seeing.onnx"
    shutil.copyfile(hint_model, seeing)
    seeing.with_suffix(".json").write_text(json.dumps({**sidecar, "hint_spread": {"reach": 0.65, "colour": 12}}))
    seeing_engine = Colorizer(spec_from_path(seeing), device="cpu", precision="fp32")
    calls = []
    forward = seeing_engine.forward
    seeing_engine.forward = lambda feeds: calls.append(feeds) or forward(feeds)  # type: ignore[method-assign]
    seen = seeing_engine.predict_ab(frame, hints=hint)
    assert len(calls) == 2 and not calls[1]["hints"].any()  # the colour term's own, unhinted forward
    assert np.hypot(*(seen[near].mean((1, 2)) - target)) < np.hypot(*(plain[near].mean((1, 2)) - target)) - 5
    calls.clear()
    assert np.array_equal(seeing_engine.predict_ab(frame), plain_engine.predict_ab(frame)) and len(calls) == 1


def test_a_huge_radius_covers_the_grid_without_a_warning() -> None:
    import warnings

    from stream_colorize.hints import HintPoint, Hints, hint_tensor

    hints = Hints.of([HintPoint.from_color(30, 40, "#ff0000", radius=1e40)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        planes = hint_tensor(hints, (100, 120), 56)
    assert np.all(planes[2] == 1.0) and np.all(planes[0] > 40)  # every cell red: a > 40
    assert parse_hint("300,400,#ff0000,1e40").radius == 1e40
