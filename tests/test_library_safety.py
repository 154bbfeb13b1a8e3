"""The library keeps the command line's promises (issue #21): it never writes over its input or an
existing output unless told, takes the paths, frames and settings a caller naturally passes, and
answers misuse with a ColorizeError; presets, flags and ``Settings(...)`` share one validation."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize import Colorizer, Settings, UsageError, colorize_file, colorize_image
from stream_colorize.presets import load_settings
from tests.support.cli import run_main
from tests.support.media import chroma, make_clip, make_image, probe_frame_count, video_frames


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "film.mp4", seconds=0.4, audio=0)


@pytest.fixture
def settings(tiny_onnx: Path) -> Settings:
    return Settings(model=str(tiny_onnx), device="cpu")


@pytest.fixture(scope="module")
def engine(tiny_onnx: Path) -> Colorizer:
    return Colorizer(tiny_onnx, device="cpu")


class Named:
    """An ``os.PathLike`` that is not a ``pathlib.Path`` (as other libraries' path objects are)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return str(self.path)


# -- never over the input, never over an existing output unless told ------------------------------


def test_colorize_file_never_writes_over_its_input(clip: Path, settings: Settings, tmp_path: Path) -> None:
    before = clip.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(clip)
    for target in (clip, link):
        with pytest.raises(UsageError, match="is the input itself"):
            colorize_file(clip, target, settings, overwrite=True)
    assert clip.read_bytes() == before and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4", "link.mp4"]  # no temporary left


def test_colorize_image_never_writes_over_its_input(engine: Colorizer, tmp_path: Path) -> None:
    photo = make_image(tmp_path / "p.png")
    before = photo.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(photo)
    for target in (photo, link):
        with pytest.raises(UsageError, match="is the input itself"):
            colorize_image(photo, target, engine, overwrite=True)
    assert photo.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "p.png"]


def test_colorize_file_keeps_an_existing_output_unless_told(clip: Path, settings: Settings, tmp_path: Path) -> None:
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"keep me")
    with pytest.raises(UsageError, match=r"taken.mp4 already exists; pass overwrite=True to replace it"):
        colorize_file(clip, taken, settings)
    assert taken.read_bytes() == b"keep me"
    result = colorize_file(clip, taken, settings, overwrite=True)
    assert result.output == taken and probe_frame_count(taken) == 10


def test_colorize_file_keeps_existing_pictures_of_a_sequence(clip: Path, settings: Settings, tmp_path: Path) -> None:
    pattern = tmp_path / "frames" / "f_%03d.png"
    pattern.parent.mkdir()
    colorize_file(clip, pattern, settings)
    first = (pattern.parent / "f_001.png").read_bytes()
    cv2.imwrite(str(pattern.parent / "f_001.png"), np.zeros((8, 8), np.uint8))
    mine = (pattern.parent / "f_001.png").read_bytes()
    with pytest.raises(UsageError, match="already has pictures; pass overwrite=True"):
        colorize_file(clip, pattern, settings)
    assert (pattern.parent / "f_001.png").read_bytes() == mine != first


def test_colorize_image_keeps_an_existing_output_unless_told(engine: Colorizer, tmp_path: Path) -> None:
    photo = make_image(tmp_path / "p.png")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"keep me")
    with pytest.raises(UsageError, match=r"taken.png already exists; pass overwrite=True to replace it"):
        colorize_image(photo, taken, engine)
    assert taken.read_bytes() == b"keep me"
    assert colorize_image(photo, taken, engine, overwrite=True) == taken
    assert cv2.imread(str(taken)).shape == (120, 160, 3)


# -- the paths, frames and settings a caller naturally passes ------------------------------------


def test_bytes_and_pathlike_paths(clip: Path, settings: Settings, engine: Colorizer, tmp_path: Path) -> None:
    out = tmp_path / "colour.mp4"
    result = colorize_file(os.fsencode(clip), Named(out), settings)
    assert result.output == out and probe_frame_count(out) == 10
    photo = make_image(tmp_path / "p.png")
    written = colorize_image(Named(photo), os.fsencode(tmp_path / "p_colour.png"), engine)
    assert written == tmp_path / "p_colour.png" and chroma(cv2.imread(str(written))) > 1.0
    for bad in (None, 42):
        with pytest.raises(UsageError, match="input must be a path"):
            colorize_file(bad, tmp_path / "x.mp4", settings)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="output must be a path"):
            colorize_image(photo, bad, engine)  # type: ignore[arg-type]


def test_settings_may_be_a_preset_name_or_path(clip: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    preset = tmp_path / "mine.toml"
    preset.write_text(f'[model]\nmodel = "{tiny_onnx}"\ndevice = "cpu"\n\n[input]\nduration = 0.2\n')
    for n, given in enumerate((str(preset), preset)):
        out = tmp_path / f"c{n}.mp4"
        assert colorize_file(clip, out, given).frames == 5 == probe_frame_count(out)  # the preset's duration
    for bad in (5, ["fast"], b"\x00"):
        with pytest.raises(UsageError, match="settings must be|config file not found"):
            colorize_file(clip, tmp_path / "never.mp4", bad)  # type: ignore[arg-type]
    assert not (tmp_path / "never.mp4").exists()


def test_one_frame_in_one_frame_out(engine: Colorizer, clip: Path) -> None:
    frame = video_frames(clip, limit=1)[0]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    color = engine.colorize(gray)
    assert isinstance(color, np.ndarray) and color.shape == (*gray.shape, 3) and color.dtype == np.uint8
    assert np.array_equal(color, engine.colorize([gray])[0])
    assert np.array_equal(engine.colorize(frame), engine.colorize((frame,))[0])  # BGR, and a tuple
    ab = engine.predict_ab(gray)
    assert ab.ndim == 3 and ab.shape[0] == 2 and np.array_equal(ab, engine.predict_ab([gray])[0])


@pytest.mark.parametrize(
    "frames, expect",
    [
        (None, "frames must be a numpy frame"),
        ("frame.png", "frames must be a numpy frame"),
        (7, "frames must be a numpy frame"),
        ([None], "frame 0 is NoneType, not a numpy array"),
        ([np.zeros((8, 8), np.uint8), "x"], "frame 1 is str"),
        ([np.zeros((8, 8), np.float32)], "frame 0 must be uint8, not float32"),
        (np.zeros((8, 8), np.uint16), "the frame must be uint8, not uint16"),
        ([np.zeros((0, 0), np.uint8)], "frame 0 is empty"),
        (np.zeros((8, 0, 3), np.uint8), "the frame is empty"),
        ([np.zeros((8, 8, 2), np.uint8)], r"frame 0 must be gray \(H, W\) or BGR"),
        ([np.zeros(8, np.uint8)], r"frame 0 must be gray \(H, W\) or BGR"),
        (np.zeros((2, 8, 8, 3), np.uint8), "pass several frames as a list"),
        (np.zeros((4, 8, 8), np.uint8), "pass several frames as a list"),
    ],
)
def test_frames_that_are_not_frames_are_usage_errors(engine: Colorizer, frames: object, expect: str) -> None:
    with pytest.raises(UsageError, match=expect):
        engine.colorize(frames)  # type: ignore[call-overload]
    with pytest.raises(UsageError, match=expect):
        engine.predict_ab(frames)  # type: ignore[call-overload]


# -- one validation for flags, presets and Settings ----------------------------------------------

BAD_VALUES = [
    ("temperature", "1e-300"),
    ("temperature", "inf"),
    ("temperature", "11.0"),
    ("threads", "-3"),
    ("threads", "0"),
    ("scene_cut", "nan"),
    ("scene_cut", "inf"),
    ("smooth", "nan"),
    ("start", "nan"),
    ("start", "1e300"),
    ("end", "nan"),
    ("end", "inf"),
    ("duration", "inf"),
    ("duration", "1e300"),
    ("device", '""'),
    ("codec", '""'),
    ("preset", '" "'),
    ("pix_fmt", '""'),
    ("audio_codec", '""'),
]


@pytest.mark.parametrize("key, text", BAD_VALUES)
def test_a_bad_preset_value_is_a_one_line_error(
    key: str, text: str, clip: Path, tiny_onnx: Path, tmp_path: Path, capsys
) -> None:
    preset = tmp_path / "bad.toml"
    preset.write_text(f"{key} = {text}\n")
    out = tmp_path / "out.mp4"
    code, stdout, err = run_main(["video", str(clip), str(out), "-m", str(tiny_onnx), "-q", "-c", str(preset)], capsys)
    assert code == 1 and stdout == ""
    assert err.count("\n") == 1 and err.startswith(f"stream-colorize: error: config {preset}: {key} must")
    assert "unexpected" not in err and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "film.mp4"]


def test_a_bad_model_value_in_a_preset_stops_the_image_command(tiny_onnx: Path, tmp_path: Path, capsys) -> None:
    photo = make_image(tmp_path / "p.png")
    preset = tmp_path / "bad.toml"
    preset.write_text("[model]\ntemperature = 1e-300\n")
    code, stdout, err = run_main(["image", str(photo), "-m", str(tiny_onnx), "-c", str(preset)], capsys)
    assert code == 1 and stdout == "" and err.count("\n") == 1 and "temperature must be in 0.01..10" in err
    assert not (tmp_path / "p_colour.png").exists()


@pytest.mark.parametrize("key, text", BAD_VALUES)
def test_settings_refuse_what_presets_refuse(key: str, text: str) -> None:
    value = tomllib.loads(f"{key} = {text}")[key]  # as the preset file reads it
    with pytest.raises(UsageError, match=f"^{key} must"):
        Settings(**{key: value})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=f"^{key} must"):
        Settings().override(**{key: value})


@pytest.mark.parametrize(
    "changes, expect",
    [
        ({"threads": "4"}, "threads must be a whole number"),
        ({"crf": 18.5}, "crf must be a whole number"),
        ({"skip": True}, "skip must be a whole number"),
        ({"subtitles": "no"}, "subtitles must be true or false"),
        ({"model": 5}, "model must be a non-empty string"),
        ({"temperature": "hot"}, "temperature must be a finite number"),
    ],
)
def test_settings_refuse_wrong_types(changes: dict, expect: str) -> None:
    with pytest.raises(UsageError, match=expect):
        Settings(**changes)


def test_a_model_path_reads_as_its_name(tiny_onnx: Path) -> None:
    assert Settings(model=tiny_onnx).model.name == str(tiny_onnx)
    assert load_settings("fast").temporal.skip == 2  # untouched presets still load
