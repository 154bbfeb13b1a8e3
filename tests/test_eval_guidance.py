"""``eval`` measures false colour and guidance: the false-colour rate on pairs whose answer is known,
truth hints drawn from photos, and ``eval --hints N`` with a model that takes colour hints.

The hinted model is built here (``write_guided_model``): its logits are a near-gray prior from the
L plus a 9 x 9-cell window over the hint planes whose per-bin weights (a . c_q - |c_q|^2 / 2, times
``HINT_GAIN``) make the softmax peak at the bin nearest the mean hint in reach, so a truth hint
paints the truth's colour around it and nothing else.
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

from stream_colorize.bins import load_bins
from stream_colorize.engine import Colorizer
from stream_colorize.evaluate import (
    FALSE_COLOUR_CHROMA,
    NEUTRAL_CHROMA,
    evaluate_guided,
    evaluate_pairs,
    false_colour_counts,
    format_report,
    hint_side,
)
from stream_colorize.hints import HINT_ROLE, truth_hints
from stream_colorize.models.spec import spec_from_path
from tests.support.cli import run_main

REPO = Path(__file__).resolve().parents[1]
SIZE, STRIDE = 224, 4  # the model's input; hints and logits come at 56 x 56
SIDE = SIZE // STRIDE
REACH = 9  # cells: a hint steers the cells within 4 of its own
HINT_GAIN = 2.0
GRAY_PULL = 0.05  # the automatic prior: logit -0.05 |c_q|^2, near gray


def write_guided_model(folder: Path) -> Path:
    """``data_l`` (N, 1, 224, 224) + ``hints`` (N, 3, 56, 56: a, b, mask) -> logits (N, 313, 56, 56), with
    its sidecar declaring both inputs (the hints with role ``HINT_ROLE``, stride 4)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    centres = load_bins().astype(np.float32)
    rng = np.random.default_rng(3)
    per_bin = np.stack([centres[:, 0], centres[:, 1], -(centres**2).sum(1) / 2], 1) * HINT_GAIN
    hint_w = np.broadcast_to(per_bin[:, :, None, None], (len(centres), 3, REACH, REACH)).copy()
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.02, (len(centres), 1, 1, 1)).astype(np.float32), "l_w"),
        numpy_helper.from_array((-GRAY_PULL * (centres**2).sum(1)).astype(np.float32), "l_b"),
        numpy_helper.from_array(hint_w.astype(np.float32), "hint_w"),
    ]
    half = REACH // 2
    nodes = [
        helper.make_node("AveragePool", ["data_l"], ["cells_l"], kernel_shape=[STRIDE, STRIDE], strides=[STRIDE] * 2),
        helper.make_node("Conv", ["cells_l", "l_w", "l_b"], ["prior"], kernel_shape=[1, 1]),
        helper.make_node("Conv", ["hints", "hint_w"], ["steer"], kernel_shape=[REACH, REACH], pads=[half] * 4),
        helper.make_node("Add", ["prior", "steer"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "guided",
        [
            helper.make_tensor_value_info("data_l", TensorProto.FLOAT, ["N", 1, SIZE, SIZE]),
            helper.make_tensor_value_info("hints", TensorProto.FLOAT, ["N", 3, SIDE, SIDE]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(centres), SIDE, SIDE])],
        inits,
    )
    path = folder / "guided.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    sidecar = {
        "name": "guided",
        "input_size": SIZE,
        "output": "logits",
        "inputs": [
            {"name": "data_l", "role": "l"},
            {"name": "hints", "role": HINT_ROLE, "channels": 3, "stride": STRIDE},
        ],
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture(scope="module")
def guided_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_guided_model(tmp_path_factory.mktemp("guided"))


def shapes_photo(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A 'photo' (height, width) of flat coloured shapes on a coloured ground, with a gray patch and noise."""
    rng = np.random.default_rng(seed)
    height, width = size
    img = np.empty((height, width, 3), np.uint8)
    img[:] = rng.integers(40, 220, 3)
    for _ in range(4):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.integers(height // 6, height // 3)), colour, -1)
        else:
            cv2.rectangle(img, (x, y), (x + width // 3, y + height // 3), colour, -1)
    img[: height // 4, : width // 4] = 128  # a gray corner: near-neutral truth
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def photo_folder(folder: Path) -> Path:
    folder.mkdir()
    for i, size in enumerate([(120, 160), (128, 128), (100, 200)]):
        cv2.imwrite(str(folder / f"shapes{i}.png"), shapes_photo(i, size))
    return folder


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


# -- the false-colour rate ------------------------------------------------------------------------


def flat(bgr: tuple[int, int, int], size: tuple[int, int] = (20, 30)) -> np.ndarray:
    return np.full((*size, 3), bgr, np.uint8)


GRAY, ORANGE, RED = (128, 128, 128), (0, 140, 255), (40, 40, 200)


def test_gray_painted_orange_is_all_false_colour() -> None:
    report = evaluate_pairs([flat(ORANGE)], [flat(GRAY)])
    assert report["false_colour_rate"] == 1.0
    assert report["neutral_share"] == 1.0
    assert false_colour_counts(flat(ORANGE), flat(GRAY)) == (600, 600, 600)


def test_unchanged_truth_has_no_false_colour() -> None:
    truth = np.concatenate([flat(GRAY), flat(RED), flat((250, 250, 250)), flat((5, 5, 5))], axis=1)
    report = evaluate_pairs([truth], [truth])
    assert report["false_colour_rate"] == 0.0
    assert report["neutral_share"] == pytest.approx(0.75)  # gray, white and black are near-neutral; red is not


def test_colour_pixels_are_not_counted() -> None:
    truth = np.concatenate([flat(GRAY), flat(RED)], axis=1)
    painted = np.concatenate([flat(ORANGE), flat(GRAY)], axis=1)  # gray painted orange, red left gray
    report = evaluate_pairs([painted], [truth])
    assert report["false_colour_rate"] == 1.0  # the red half, wrong as it is, is not false colour
    assert report["neutral_share"] == pytest.approx(0.5)
    only_colour = evaluate_pairs([flat(GRAY)], [flat(RED)])
    assert np.isnan(only_colour["false_colour_rate"]) and only_colour["neutral_share"] == 0.0
    assert "no near-neutral pixels" in format_report(only_colour)


def test_false_colour_is_pooled_over_pixels_and_has_its_thresholds() -> None:
    small, big = flat(GRAY, (10, 10)), flat(GRAY, (10, 30))
    report = evaluate_pairs([flat(ORANGE, (10, 10)), big], [small, big], names=["painted", "kept"])
    assert report["false_colour_rate"] == pytest.approx(100 / 400)  # pooled, not the mean of 1 and 0
    rows = {row["name"]: row for row in report["per_image"]}
    assert rows["painted"]["false_colour_rate"] == 1.0 and rows["kept"]["false_colour_rate"] == 0.0
    # A faint tint (chroma ~7) of a gray truth is not false colour; the cut-offs are chroma 6 and 12.
    tint = cv2.cvtColor(np.full((4, 4, 3), (60, 7, 0), np.float32), cv2.COLOR_Lab2BGR)
    tinted = np.clip(tint * 255 + 0.5, 0, 255).astype(np.uint8)
    assert evaluate_pairs([tinted], [flat(GRAY, (4, 4))])["false_colour_rate"] == 0.0
    assert (NEUTRAL_CHROMA, FALSE_COLOUR_CHROMA) == (6.0, 12.0)
    assert "false colour      100.0 %" in format_report(evaluate_pairs([flat(ORANGE)], [flat(GRAY)]))


# -- truth hints and guided evaluation --------------------------------------------------------------


def test_truth_hints_carry_the_truth_colour_around_each_point() -> None:
    photo = shapes_photo(0, (120, 160))
    hints = truth_hints(photo, 40, np.random.default_rng(7))
    again = truth_hints(photo, 40, np.random.default_rng(7))
    assert hints == again and len(hints.points) == 40  # the same seed, the same points
    lab = cv2.cvtColor(photo.astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    for point in hints.points:
        assert 0 <= point.x < 160 and 0 <= point.y < 120 and point.radius == 0
        x, y = int(point.x), int(point.y)
        patch = lab[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3, 1:].reshape(-1, 2).mean(0)
        assert (point.a, point.b) == pytest.approx(tuple(patch), abs=1e-3)
    assert not truth_hints(photo, 0, np.random.default_rng(0))


def test_guided_evaluation_beats_automatic_with_truth_hints(guided_model: Path) -> None:
    engine = Colorizer(spec_from_path(guided_model), device="cpu")
    assert hint_side(engine) == SIDE
    photos = [shapes_photo(i, size) for i, size in enumerate([(120, 160), (100, 200)])]
    report = evaluate_guided(engine, photos, points=60, seed=0)
    assert report["guided"]["psnr"] > report["automatic"]["psnr"] + 1.0
    assert report["psnr_gain_over_automatic"] == pytest.approx(report["guided"]["psnr"] - report["automatic"]["psnr"])
    assert report["guided"]["hue_agreement"] > report["automatic"]["hue_agreement"]
    assert evaluate_guided(engine, photos, points=60, seed=0)["guided"] == report["guided"]
    other = evaluate_guided(engine, photos, points=60, seed=1)["guided"]["psnr"]
    assert other != report["guided"]["psnr"]  # another seed, other points


# -- the CLI ------------------------------------------------------------------------------------


def test_eval_hints_cli_reports_the_guided_gain(tmp_path: Path, guided_model: Path) -> None:
    folder = photo_folder(tmp_path / "photos")
    argv = [sys.executable, "-m", "stream_colorize", "eval", str(folder), "-m", str(guided_model), "--hints", "60"]
    run = subprocess.run([*argv, "--json"], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    automatic, guided = report["images"], report["guided"]
    assert automatic["images"] == guided["images"] == 3
    assert guided["points"] == 60 and guided["seed"] == 0
    assert all(type(v) is int for v in (guided["points"], guided["seed"], guided["images"], automatic["images"]))
    assert guided["psnr"] > automatic["psnr"] + 1.0
    assert guided["psnr_gain_over_automatic"] == pytest.approx(guided["psnr"] - automatic["psnr"])
    for key in ("false_colour_rate", "neutral_share", "ssim", "ssim_gain_over_automatic", "false_colour_change"):
        assert key in guided
    assert 0 <= automatic["false_colour_rate"] <= 1 and 0 < automatic["neutral_share"] < 1
    text = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "-- guided by truth hints" in text.stdout and "60 truth points a photo (seed 0)" in text.stdout
    assert f"gain over automatic  {guided['psnr_gain_over_automatic']:+.2f} dB PSNR" in text.stdout
    assert text.stdout.count("false colour ") >= 2  # automatic and guided


def test_eval_hints_zero_is_plain(tmp_path: Path, guided_model: Path, capsys) -> None:
    folder = photo_folder(tmp_path / "photos")
    code, out, err = run_main(["eval", str(folder), "-m", str(guided_model), "--hints", "0", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert "guided" not in report and "false_colour_rate" in report["images"]


def test_plain_eval_reports_false_colour(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    folder = photo_folder(tmp_path / "photos")
    code, out, err = run_main(["eval", str(folder), "-m", str(tiny_onnx), "--per-image"], capsys)
    assert code == 0, err
    assert "false colour" in out and "% of near-neutral pixels painted" in out
    assert "guided" not in out


def test_hints_need_a_model_with_a_hint_input(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    folder = photo_folder(tmp_path / "photos")
    code, out, err = run_main(["eval", str(folder), "-m", str(tiny_onnx), "--hints", "5"], capsys)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stream-colorize: error: --hints: model")
    assert "takes no colour hints" in lines[0] and "Traceback" not in err


def test_hints_refused_with_a_video(tmp_path: Path, guided_model: Path, capsys) -> None:
    folder = photo_folder(tmp_path / "photos")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")  # never read: the refusal comes first
    code, out, err = run_main(
        ["eval", str(folder), "--video", str(clip), "-m", str(guided_model), "--hints", "5"], capsys
    )
    assert code == 1 and out == ""
    assert err.strip() == (
        "stream-colorize: error: --hints measures guided colourization on photos only; run --video without --hints"
    )
