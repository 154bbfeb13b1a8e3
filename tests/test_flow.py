"""Optical flow (stream_colorize.flow) and the flow-compensated smoother on real frames.

The flow recovers a known shift, warping carries a known ab map along it, the consistency mask
marks what a moving square uncovers; on a coloured square moving over a textured background
(encoded with x264 and decoded back) the flow smoother keeps colour steady where the motion-
adaptive one cannot, leaves no trail, resets at a cut and carries the last prediction along the
flow between model runs; the CLI runs with each smoother.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize.build import build_temporal
from stream_colorize.config import Settings, TemporalSettings
from stream_colorize.errors import UsageError
from stream_colorize.evaluate import to_gray
from stream_colorize.flow import FlowEstimator, consistent, valid_share, warp
from stream_colorize.lab import frame_ab, merge_ab
from stream_colorize.smoothers import AbSmoother, FlowSmoother, Smoother
from stream_colorize.temporal import Temporal, reduce_frame
from stream_colorize.video_metrics import warp_errors
from tests.support.cli import run_main
from tests.support.media import chroma, make_clip, video_frames

SIZE = (160, 120)  # the scene's width, height
SQUARE = 50
TOP = 30  # the square's first row
STEP = 2  # pixels the square moves right each frame


def texture(shape: tuple[int, int], seed: int, blob: int = 4) -> np.ndarray:
    """Smooth random gray texture (0..255 float32): something for the flow to hold on to."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (shape[0] // blob, shape[1] // blob)).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def scene_frame(i: int, seed: int = 1) -> np.ndarray:
    """Frame ``i``: a textured square in stripes of orange and violet moving right over a dark
    teal textured background (BGR)."""
    h, w = SIZE[1], SIZE[0]
    light = 0.4 * texture((h, w), seed, 16) + 20
    frame = np.stack([light * 0.9 + 10, light * 0.8 + 15, light * 0.3], axis=2)
    x0 = 20 + STEP * i
    patch = texture((SQUARE, SQUARE), seed + 100, 8) + 12
    orange = np.stack([patch * 0.2, patch * 0.7, patch * 1.2 + 30], axis=2)
    violet = np.stack([patch * 1.2 + 30, patch * 0.4, patch * 0.9], axis=2)
    stripes = (np.arange(SQUARE) // 10 % 2 == 0)[None, :, None]
    frame[TOP : TOP + SQUARE, x0 : x0 + SQUARE] = np.where(stripes, orange, violet)
    return np.clip(frame, 0, 255).astype(np.uint8)


def encoded(frames: list[np.ndarray], path: Path) -> list[np.ndarray]:
    """``frames`` written as H.264 (4:4:4, CRF 12) and decoded back: real frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv444p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for image in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(stream.encode(None))
    return video_frames(path)


@pytest.fixture(scope="module")
def square_clip(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    folder = tmp_path_factory.mktemp("flow")
    return encoded([scene_frame(i) for i in range(16)], folder / "square.mp4")


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` (h, w) or (c, h, w) moved right by dx and down by dy (wrapping round)."""
    return np.roll(image, (dy, dx), axis=(-2, -1))


def test_flow_recovers_a_shift_and_warping_follows_it() -> None:
    flow = FlowEstimator()
    pattern = texture((112, 112), 3).astype(np.uint8)
    moved = shifted(pattern, 3, -2)
    motion = flow.between(flow.prepare(pattern), flow.prepare(moved))
    inner = (slice(16, 96), slice(16, 96))
    assert np.allclose(np.median(motion.forward[inner].reshape(-1, 2), axis=0), (3, -2), atol=0.3)
    assert np.allclose(np.median(motion.backward[inner].reshape(-1, 2), axis=0), (-3, 2), atol=0.3)
    assert motion.valid[inner].mean() > 0.95  # a plain shift: both ways agree
    # A known ab map (a ramp in a, a ramp in b) warped along the backward flow lands where it moved,
    # at the flow's resolution and at ab's own (56x56: the vectors are halved).
    ys, xs = np.mgrid[0:112, 0:112].astype(np.float32)
    ab = np.stack([xs * 0.5, ys * 0.25])
    carried = warp(ab, motion.backward)
    assert np.abs(carried - shifted(ab, 3, -2))[:, 16:96, 16:96].mean() < 0.2
    small = cv2.resize(ab.transpose(1, 2, 0), (56, 56), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
    carried_small = warp(small, motion.backward)
    assert carried_small.shape == (2, 56, 56)
    expected = small.copy()
    expected[0] -= 1.5 * 0.5 * 2  # 1.5 pixels at 56 wide are 3 at 112: a ramp of 0.5 per 112-pixel, x2 per 56-pixel
    expected[1] += 1.0 * 0.25 * 2
    assert np.abs(carried_small - expected)[:, 8:48, 8:48].mean() < 0.2
    gray = warp(pattern.astype(np.float32), motion.backward)  # a 2-D map works the same way
    assert np.abs(gray - moved)[16:96, 16:96].mean() < 3.0


def test_consistency_marks_what_a_moving_square_uncovers() -> None:
    flow = FlowEstimator()
    background = texture((112, 112), 7, 8) * 0.6
    square = texture((30, 30), 8, 6) * 0.5 + 80

    def frame(x: int) -> np.ndarray:
        image = background.copy()
        image[40:70, x : x + 30] = square
        return image.astype(np.uint8)

    motion = flow.between(flow.prepare(frame(30)), flow.prepare(frame(34)))
    assert np.median(motion.forward[45:65, 35:55, 0]) > 2.0  # the square moved right (4 pixels)
    uncovered = motion.valid[44:66, 30:34]  # where the square was and the background now shows
    far = motion.valid[80:108, 4:108]  # background the square never touched
    inside = motion.valid[46:64, 44:54]  # the middle of the square, moving as one
    assert uncovered.mean() < 0.5
    assert far.mean() > 0.95 and inside.mean() > 0.9
    # The check itself: a flow and its exact inverse agree; a backward flow pointing elsewhere does not.
    forward = np.zeros((20, 20, 2), np.float32)
    forward[..., 0] = 2.0
    assert consistent(forward, -forward)[:, 2:].all()
    assert not consistent(forward, forward)[:, 4:].any()
    assert not consistent(forward, -forward)[:, :2].any()  # from outside the previous picture
    share = valid_share(motion.valid, (56, 56))
    assert share.shape == (56, 56) and 0.0 <= share.min() and share.max() <= 1.0


def run_smoother(frames: list[np.ndarray], smoother: Smoother | None, smooth: float, skip: int = 1, noise: float = 0.0):
    """Each frame's ab through ``Temporal`` with the truth (plus per-frame flicker) as the model's prediction."""
    temporal = Temporal(skip=skip, smooth=smooth, smoother=smoother)
    rng = np.random.default_rng(7)
    out = []
    for frame in frames:
        reduced = reduce_frame(to_gray(frame), 224)
        cut, due = temporal.decide(reduced)
        predicted = None
        if due:
            blobs = cv2.resize(rng.normal(0, noise, (4, 4, 2)).astype(np.float32), (56, 56))
            predicted = frame_ab(frame, 56) + blobs.transpose(2, 0, 1)  # a flickering model
        ab = temporal.step(reduced, predicted, cut)
        assert ab is not None
        out.append(ab)
    return out


def test_flow_smoother_steadies_moving_color_without_a_trail(square_clip: list[np.ndarray]) -> None:
    grays = [to_gray(f) for f in square_clip]
    results = {}
    for name, smoother in (("flow", FlowSmoother()), ("motion", AbSmoother()), ("off", AbSmoother(0.0))):
        abs_ = run_smoother(square_clip, smoother, smoother.strength, noise=6.0)
        results[name] = (abs_, [merge_ab(g, ab) for g, ab in zip(grays, abs_)])
    flow, motion, off, truth = warp_errors(grays, *(r[1] for r in results.values()), square_clip)
    # The textured square changes its gray as it moves, so the motion-adaptive smoother lets the
    # model's flicker through there; the flow smoother follows it and keeps smoothing.
    assert flow < 0.75 * motion and motion < 0.3 * off
    assert flow < 1.5 * truth
    # No trail: just behind the square, where it was a few frames ago, the colour is the
    # background's (the model's), not the square's carried along.
    last = len(square_clip) - 1
    a_out, a_true = results["flow"][0][last][0], frame_ab(square_clip[last], 56)[0]
    left = 20 + STEP * last  # the square's left edge now, in scene pixels
    rows = slice(TOP * 56 // 120 + 2, (TOP + SQUARE) * 56 // 120 - 2)
    behind = (rows, slice((left - 10) * 56 // 160, (left - 2) * 56 // 160))
    square_a = float(frame_ab(square_clip[0], 56)[0][rows, 12:25].mean())
    gap = square_a - float(a_true[behind].mean())
    assert gap > 30  # the square is far redder than the background
    assert np.abs(a_out[behind] - a_true[behind]).mean() < 0.2 * gap


def test_a_cut_resets_the_flow_smoother(square_clip: list[np.ndarray]) -> None:
    other = [cv2.flip(f, -1)[:, :, ::-1].copy() for f in square_clip[:4]]  # another shot: turned, colours swapped
    frames = square_clip[:6] + other
    smoother = FlowSmoother()
    temporal = Temporal(smooth=0.97, smoother=smoother)
    for i, frame in enumerate(frames):
        reduced = reduce_frame(to_gray(frame), 224)
        cut, _ = temporal.decide(reduced)
        predicted = frame_ab(frame, 56)
        ab = temporal.step(reduced, predicted, cut)
        assert cut == (i in (0, 6))
        if i == 6:  # the new shot's own colour, nothing of the last one blended in
            assert np.array_equal(ab, predicted)
    assert temporal.cuts == 2


def test_skipped_frames_carry_the_last_prediction_along_the_flow(square_clip: list[np.ndarray]) -> None:
    def square_x(ab: np.ndarray) -> float:
        """The square's mean column on a 56-wide ab map: where a is positive (the background's is not)."""
        red = np.clip(ab[0] - 10, 0, None)
        return float((red.sum(0) * np.arange(56)).sum() / red.sum())

    flow = run_smoother(square_clip[:13], FlowSmoother(0.0), 0.0, skip=6)
    held = run_smoother(square_clip[:13], AbSmoother(0.0), 0.0, skip=6)
    truth = [square_x(frame_ab(f, 56)) for f in square_clip[:13]]
    for i in range(13):
        if i % 6 == 0:  # a model run: its own prediction, for both
            assert np.array_equal(flow[i], held[i])
            continue
        assert square_x(held[i]) == pytest.approx(square_x(held[i - i % 6]))  # held still
        assert abs(square_x(flow[i]) - truth[i]) < 0.7  # moved with the square (0.75 columns a frame)
    assert abs(square_x(held[5]) - truth[5]) > 3.0  # held still, it lags 5 frames' motion


def test_settings_and_builder_choose_the_smoother(tmp_path: Path) -> None:
    assert Settings().temporal.smoother == "flow"
    assert isinstance(build_temporal(Settings().temporal).smoother, FlowSmoother)
    motion = build_temporal(TemporalSettings(smoother="motion", smooth=0.5)).smoother
    assert type(motion) is AbSmoother and motion.strength == 0.5
    assert isinstance(build_temporal(Settings(smooth=0.0).temporal).smoother, FlowSmoother)
    with pytest.raises(UsageError, match="unknown smoother 'optical'; choose one of flow, motion"):
        Settings(smoother="optical")


def test_video_cli_with_each_smoother(tmp_path: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    clip = make_clip(tmp_path / "in.mp4", seconds=0.8, size=(160, 120), rate=25, audio=0)
    outputs = {}
    for name, flags in (("default", []), ("motion", ["--smoother", "motion"]), ("off", ["--no-smooth"])):
        out = tmp_path / f"{name}.mp4"
        code, _, err = run_main(["video", str(clip), str(out), "-m", str(tiny_onnx), "-q", *flags], capsys)
        assert code == 0, err
        outputs[name] = video_frames(out)
        assert len(outputs[name]) == 20
        assert min(chroma(f) for f in outputs[name]) > 2.0  # colourized, every frame
    # testsrc2 moves: the three settings really differ after the first frames
    diff = {k: np.abs(outputs[k][-1].astype(int) - outputs["default"][-1]).mean() for k in ("motion", "off")}
    assert diff["motion"] > 0.1 and diff["off"] > 0.1
    code, _, err = run_main(["video", str(clip), str(tmp_path / "x.mp4"), "--smoother", "optical"], capsys)
    assert code != 0 and "unknown smoother 'optical'" in err and "Traceback" not in err
    assert not (tmp_path / "x.mp4").exists()


def test_eval_reports_warp_error(tmp_path: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture) -> None:
    clip = tmp_path / "square.mp4"
    encoded([scene_frame(i) for i in range(8)], clip)
    code, out, err = run_main(["eval", "--video", str(clip), "-m", str(tiny_onnx), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)["video"]
    assert 0.0 < report["warp_error_truth"] < 1.0  # the footage moves rigidly: only codec noise
    assert report["warp_error"] > 0.0 and report["flicker"] > 0.0
    code, out, err = run_main(["eval", "--video", str(clip), "-m", str(tiny_onnx), "--smoother", "motion"], capsys)
    assert code == 0 and "warp error" in out and "footage" in out


class FollowSpy(FlowSmoother):
    """The flow smoother, noting what each frame brought: the frame's shape and whether ab was new."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[tuple[int, ...], bool]] = []

    def follow(self, ab: np.ndarray, image: np.ndarray, fresh: bool = True) -> np.ndarray:
        self.calls.append((image.shape, fresh))
        return super().follow(ab, image, fresh)


def test_live_follows_every_shown_frame(tiny_spec) -> None:
    from stream_colorize.engine import Colorizer
    from stream_colorize.io.devices import parse_source
    from stream_colorize.live import LiveOptions, run_live

    assert isinstance(build_temporal(LiveOptions().temporal).smoother, FlowSmoother)  # live's default
    spy = FollowSpy()
    options = LiveOptions(temporal=TemporalSettings(skip=3), headless=True, duration=1.5, smoother=spy)
    source = parse_source("lavfi:testsrc2=size=160x120:rate=30,format=gray")
    stats = run_live(source, Colorizer(tiny_spec, device="cpu"), options)
    assert stats.shown >= 10 and len(spy.calls) >= 0.6 * stats.shown  # every frame from the first answer on
    assert all(shape == (120, 160) for shape, _ in spy.calls)  # the frame itself, finer than ab
    assert any(fresh for _, fresh in spy.calls) and any(not fresh for _, fresh in spy.calls)
    assert 0.0 < spy.trusted <= 1.0  # the flow ran
