"""Reference frames (issue 26): a coloured keyframe carried through its shot along the optical flow,
a fixed camera's colour view, and the bad inputs, on real files and real ``stream-colorize video``
runs with the ``standin-hints`` model (where a cell is hinted its colour follows the hint).

The clips are made here: a window panning slowly across a still, textured colour picture (its true
colours are known in every frame), written losslessly in colour and in gray.
"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize import Settings, colorize_file
from stream_colorize.carry import CarriedHints
from stream_colorize.errors import UsageError
from stream_colorize.references import load_references, parse_reference
from tests.support.media import video_frames

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

FRAMES = 25
SIZE = (160, 120)
HINTED = Settings(model="standin-hints")
STEP = 2  # output pixels the window moves right a frame (half that down)


def picture(width: int = 480, height: int = 360, seed: int = 0) -> np.ndarray:
    """A still colour picture: smooth, saturated colour patches with texture for the flow to hold on to."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    patches = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    texture = cv2.resize(rng.normal(0, 25, (height // 4, width // 4)).astype(np.float32), (width, height),
                         interpolation=cv2.INTER_CUBIC)  # fmt: skip
    return np.clip(patches.astype(np.float32) + texture[..., None], 0, 255).astype(np.uint8)


def pan(still: np.ndarray, count: int = FRAMES) -> list[np.ndarray]:
    """``count`` frames through a window moving right by ``STEP`` pixels a frame, down by half that."""
    return [
        cv2.warpAffine(still, np.float32([[0.5, 0, -i * STEP], [0, 0.5, -i * STEP / 2]]), SIZE, flags=cv2.INTER_AREA)
        for i in range(count)
    ]


def write(frames: list[np.ndarray], path: Path, gray: bool = False) -> Path:
    """Lossless H.264 (4:4:4, QP 0) at 25 fps, in colour or as its gray."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt, stream.options = "yuv444p", {"qp": "0"}
        for image in frames:
            if gray:
                image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def ab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)[..., 1:]


def ab_error(result: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(ab(result) - ab(truth)).mean())


def run_cli(*args: str | Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, STREAM_COLORIZE_HOME=str(home))
    command = [sys.executable, "-m", "stream_colorize", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray], Path]:
    """(the gray pan clip, its true colour frames, its first frame in colour as a PNG)."""
    folder = tmp_path_factory.mktemp("pan")
    truth = pan(picture())
    first = folder / "first.png"
    cv2.imwrite(str(first), cv2.resize(truth[0], (320, 240)))  # any size: the same picture
    return write(truth, folder / "gray.mkv", gray=True), truth, first


def test_keyframe_reference_gives_the_true_colours(clip, tmp_path: Path, model_home: Path) -> None:
    gray, truth, first = clip
    auto, guided = tmp_path / "auto.mkv", tmp_path / "ref.mkv"
    assert run_cli("video", gray, auto, "-m", "standin-hints", "-q", home=model_home).returncode == 0
    done = run_cli("video", gray, guided, "-m", "standin-hints", "-q", "--reference", f"0={first}", home=model_home)
    assert done.returncode == 0, done.stderr
    auto_frames, guided_frames = video_frames(auto), video_frames(guided)
    assert len(guided_frames) == FRAMES
    auto_error = np.mean([ab_error(r, t) for r, t in zip(auto_frames, truth)])
    guided_error = np.mean([ab_error(r, t) for r, t in zip(guided_frames, truth)])
    assert guided_error < 0.5 * auto_error, (guided_error, auto_error)
    # the reference frame itself (its colours given everywhere) is close to the truth
    assert ab_error(guided_frames[0], truth[0]) < 6


def test_carried_hints_follow_the_pan(clip, tmp_path: Path, model_home: Path) -> None:
    """The last frame's part that was in view at time 0 has moved 48 pixels left and 24 up: it takes
    the reference's colours from where they went, not from the same place of the photo; and the
    library carries a reference backward too (given for the last frame, the first gets its colours)."""
    gray, truth, first = clip
    out = tmp_path / "ref.mkv"
    colorize_file(gray, out, HINTED, references=[(0.0, str(first))])
    frames = video_frames(out)
    last, shift = FRAMES - 1, STEP * (FRAMES - 1)
    seen = (slice(0, SIZE[1] - shift // 2), slice(0, SIZE[0] - shift))
    carried = np.abs(ab(frames[last]) - ab(truth[last]))[seen].mean()
    copied = np.abs(ab(truth[0]) - ab(truth[last]))[seen].mean()  # the reference left where it was
    assert carried < 10 and carried < 0.4 * copied, (carried, copied)

    backward = tmp_path / "back.mkv"
    colorize_file(gray, backward, HINTED, references=[(last / 25, truth[last])])
    back = video_frames(backward)
    # frame 0's part still in view at the end: its lower right, shifted
    tail = (slice(shift // 2, SIZE[1]), slice(shift, SIZE[0]))
    assert np.abs(ab(back[0]) - ab(truth[0]))[tail].mean() < 10


def test_two_references_in_one_shot_nearest_wins(clip, tmp_path: Path, model_home: Path) -> None:
    gray, truth, _ = clip
    refs = load_references([(0.0, truth[0]), ((FRAMES - 1) / 25, truth[-1])])
    from stream_colorize.carry import carry_references

    maps = carry_references(str(gray), refs)
    assert isinstance(maps, CarriedHints)
    assert maps.maps[0][0] == 0 and maps.maps[FRAMES - 1][0] == 0  # each keyframe its own reference
    assert maps.maps[3][0] == 3 and maps.maps[FRAMES - 3][0] == 2  # distance to the nearer one
    out = tmp_path / "two.mkv"
    colorize_file(gray, out, HINTED, references=[(0.0, truth[0]), ((FRAMES - 1) / 25, truth[-1])])
    frames = video_frames(out)
    assert ab_error(frames[-1], truth[-1]) < 6 and ab_error(frames[0], truth[0]) < 6


def crossing_square(folder: Path) -> tuple[np.ndarray, Path, Path, list[tuple[slice, slice]]]:
    """A still view with a striped square crossing it (structure the view does not have): the view,
    the gray clip, the view as a colour snapshot, and the square's inner box in each frame."""
    view = cv2.resize(picture(seed=3), SIZE, interpolation=cv2.INTER_AREA)
    frames, boxes = [], []
    for i in range(FRAMES):
        frame = view.copy()
        x = 10 + 4 * i
        frame[40:80, x : x + 40] = 40
        frame[40:80:8, x : x + 40] = 230
        frames.append(frame)
        boxes.append((slice(44, 76), slice(x + 4, x + 36)))
    snapshot = folder / "day.png"
    cv2.imwrite(str(snapshot), view)
    return view, write(frames, folder / "camera.mkv", gray=True), snapshot, boxes


def background_and_square(result: np.ndarray, view: np.ndarray, box: tuple[slice, slice]) -> tuple[float, float]:
    """Mean |Δab| from the snapshot over the background (away from the square) and inside the square."""
    mask = np.ones(SIZE[::-1], bool)
    rows, cols = box
    mask[rows.start - 12 : rows.stop + 12, max(0, cols.start - 16) : cols.stop + 16] = False
    diff = np.abs(ab(result) - ab(view))
    return float(diff[mask].mean()), float(diff[box].mean())


def test_fixed_camera_reference(tmp_path: Path, model_home: Path) -> None:
    """The background takes the snapshot's colours, the square (not in the snapshot) does not take
    the snapshot's colour at its place."""
    view, gray, snapshot, boxes = crossing_square(tmp_path)
    out = tmp_path / "out.mkv"
    done = run_cli("video", gray, out, "-m", "standin-hints", "-q", "--smooth", "0", "--reference", snapshot,
                   home=model_home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = video_frames(out)
    for i in (5, 15, 24):
        background, square = background_and_square(result[i], view, boxes[i])
        assert background < 8, (i, background)
        assert square > 2 * background + 5, (i, square, background)


def test_live_fixed_camera_reference(tmp_path: Path, model_home: Path) -> None:
    """``live --reference PHOTO``: the same in the recording of a live session."""
    view, gray, snapshot, boxes = crossing_square(tmp_path)
    out = tmp_path / "live.mkv"
    done = run_cli("live", gray, "-m", "standin-hints", "--headless", "--smooth", "0", "--skip", "1",
                   "--reference", snapshot, "--record", out, home=model_home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = video_frames(out)
    assert len(result) >= FRAMES // 2
    for i in range(len(result) - 5, len(result)):  # the last frames: the model has caught up by then
        background, square = background_and_square(result[i], view, boxes[i])
        assert background < 8, (i, background)
        assert square > background + 3, (i, square, background)


# -- bad input ----------------------------------------------------------------------------------


def _refused(done: subprocess.CompletedProcess, out: Path, words: str) -> None:
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("stream-colorize: error:") and words in lines[-1], done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(("out", ".out"))]


def test_bad_references_are_refused(clip, tmp_path: Path, model_home: Path) -> None:
    gray, truth, first = clip
    out = tmp_path / "out.mkv"
    square = tmp_path / "square.png"
    cv2.imwrite(str(square), cv2.resize(truth[0], (120, 120)))
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    cases = [
        (["--reference", f"0={square}"], "aspect"),
        (["--reference", f"10={first}"], "past the end"),
        (["--reference", f"0={broken}"], "broken.png"),
        (["--reference", f"0={tmp_path / 'missing.png'}"], "does not exist"),
        (["--reference", f"soon={first}"], "TIME"),
    ]
    for args, words in cases:
        _refused(run_cli("video", gray, out, "-m", "standin-hints", "-q", *args, home=model_home), out, words)
    no_hints = run_cli("video", gray, out, "-m", "standin-tiny", "-q", "--reference", f"0={first}", home=model_home)
    _refused(no_hints, out, "hint input")


def test_library_refusals(clip, tmp_path: Path, model_home: Path) -> None:
    gray, truth, _ = clip
    with pytest.raises(UsageError, match="aspect"):
        colorize_file(gray, tmp_path / "a.mkv", HINTED, references=[(None, np.zeros((50, 50, 3), np.uint8))])
    assert not (tmp_path / "a.mkv").exists()
    with pytest.raises(UsageError):
        load_references([(-1.0, truth[0])])
    assert parse_reference("1:02.5=a.png") == (62.5, "a.png") and parse_reference("a.png") == (None, "a.png")


def test_reference_detail_finer_than_the_hint_grid(tmp_path: Path, model_home: Path) -> None:
    """Colour stripes 3 pixels wide on a 160 wide frame (a period is about two cells of the model's
    56 grid, which averages them away) come through from a carried reference at the carry's
    resolution: the output's ab is much nearer the truth than the truth's own ab through the grid."""
    rng = np.random.default_rng(7)
    width, height = 480, 360
    light = 55 + cv2.resize(rng.normal(0, 12, (height // 6, width // 6)).astype(np.float32), (width, height),
                            interpolation=cv2.INTER_CUBIC)  # fmt: skip
    stripes = np.where((np.arange(width) // 6) % 2 == 0, 35.0, -35.0).astype(np.float32)
    lab = np.dstack([light, np.broadcast_to(stripes, (height, width)), np.full((height, width), 20.0)])
    still = (np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2BGR), 0, 1) * 255 + 0.5).astype(np.uint8)
    # the stripes only in chroma: in the gray they would alias (the flow, the cut detector's thumbnails)
    ycc = cv2.cvtColor(still, cv2.COLOR_BGR2YCrCb)
    ycc[:, :, 0] = np.clip(light * 2.2, 0, 255).astype(np.uint8)
    still = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)
    truth = pan(still, 12)
    gray = write(truth, tmp_path / "stripes.mkv", gray=True)
    out = tmp_path / "out.mkv"
    lossless = HINTED.override(smooth=0.0, crf=0, pix_fmt="yuv444p")  # 4:2:0 would halve the stripes' chroma
    colorize_file(gray, out, lossless, references=[(0.0, truth[0])])
    frames = video_frames(out)
    inner = (slice(8, SIZE[1] - 8), slice(8, SIZE[0] - 8))  # the edges a pan reveals are the model's
    for i in (0, 6, 11):
        want = ab(truth[i])
        grid = cv2.resize(cv2.resize(want, (56, 56), interpolation=cv2.INTER_AREA), SIZE)  # bilinear back up
        through_grid = np.abs(grid - want)[inner].mean()
        ours = np.abs(ab(frames[i]) - want)[inner].mean()
        assert ours < 0.6 * through_grid, (i, ours, through_grid)
