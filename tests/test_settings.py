"""One Settings for every command: presets (--config) in video, live, image and eval, and
--skip/--smooth meaning the same everywhere.  Runs the real entry point on real media."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream_colorize.errors import UsageError
from stream_colorize.presets import load_settings, read_preset
from stream_colorize.smoothers import DEFAULT_SMOOTH
from tests.support.cli import run_main
from tests.support.media import make_clip, make_image, probe_frame_count

PACED = "lavfi:testsrc2=size=160x120:rate=30,format=gray,realtime"


def write_preset(folder: Path, text: str) -> Path:
    path = folder / "mine.toml"
    path.write_text(text)
    return path


def test_old_presets_still_read(tmp_path: Path) -> None:
    assert read_preset(write_preset(tmp_path, "smooth = true\nsmooth_strength = 0.6\n"))["smooth"] == 0.6
    assert read_preset(write_preset(tmp_path, "smooth = false\nsmooth_strength = 0.6\n"))["smooth"] == 0.0
    assert read_preset(write_preset(tmp_path, "smooth = true\n"))["smooth"] == DEFAULT_SMOOTH
    assert load_settings(write_preset(tmp_path, "smooth = 0.5\nskip = 3\n")).temporal.smooth == 0.5
    with pytest.raises(UsageError, match="smooth must be in"):
        load_settings(write_preset(tmp_path, "smooth = 1.5\n"))
    for name in ("film", "fast"):
        assert load_settings(name).temporal.smooth == DEFAULT_SMOOTH


def test_presets_have_sections(tmp_path: Path) -> None:
    from stream_colorize.config import SECTIONS, Settings

    every = [key for keys in SECTIONS.values() for key in keys]
    assert sorted(every) == sorted(Settings().flat())  # each setting in exactly one section
    text = '[model]\nbackend = "opencv"\n\n[temporal]\nskip = 3\nsmooth = 0\n\n[encode]\ncrf = 22\n'
    s = load_settings(write_preset(tmp_path, text))
    assert (s.model.backend, s.temporal.skip, s.temporal.smooth, s.encode.crf) == ("opencv", 3, 0.0, 22)
    with pytest.raises(UsageError, match=r"'crf' is not a \[temporal\] setting; it belongs in \[encode\]"):
        read_preset(write_preset(tmp_path, "[temporal]\ncrf = 20\n"))
    with pytest.raises(UsageError, match="skip is set twice"):
        read_preset(write_preset(tmp_path, "skip = 2\n[temporal]\nskip = 3\n"))
    assert read_preset(write_preset(tmp_path, 'model = "default"\nskip = 2\n')) == {"model": "default", "skip": 2}


def test_image_reads_the_model_from_a_preset(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    photo = make_image(tmp_path / "p.png")
    missing = write_preset(tmp_path, f'model = "{tmp_path / "nothing.onnx"}"\ncrf = 30\n')
    code, _, err = run_main(["image", str(photo), "-c", str(missing)], capsys)
    assert code == 1 and "model file not found" in err and "nothing.onnx" in err  # the preset was read
    good = write_preset(tmp_path, f'model = "{tiny_onnx}"\ndevice = "cpu"\n')
    code, out, err = run_main(["image", str(photo), "-o", str(tmp_path / "c.png"), "--config", str(good)], capsys)
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "c.png")).shape == (120, 160, 3)
    # a flag beats the preset
    code, _, err = run_main(["image", str(photo), "-y", "-c", str(missing), "-m", str(tiny_onnx)], capsys)
    assert code == 0, err


def test_live_reads_model_and_temporal_keys_from_a_preset(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    missing = write_preset(tmp_path, f'model = "{tmp_path / "nothing.onnx"}"\n')
    code, _, err = run_main(["live", PACED, "--headless", "--duration", "1", "-c", str(missing)], capsys)
    assert code == 1 and "nothing.onnx" in err
    preset = write_preset(tmp_path, f'model = "{tiny_onnx}"\nskip = 3\nsmooth = 0.0\npreset = "slow"\n')
    record = tmp_path / "rec.mp4"
    args = ["live", PACED, "--headless", "--duration", "2", "-c", str(preset), "--record", str(record)]
    code, out, err = run_main(args, capsys)
    assert code == 0, err
    assert "skip 3 " in err and "(auto)" not in err and "shown" in out + err  # the preset's fixed skip
    assert probe_frame_count(record) > 10


def test_smooth_means_the_same_in_video_and_eval(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=0.6, gray=False)
    outs = {}
    for flags in (["--smooth", "0"], ["--no-smooth"], ["--smooth", "0.9"]):
        out = tmp_path / f"o{len(outs)}.mp4"
        code, _, err = run_main(["video", str(clip), str(out), "-m", str(tiny_onnx), "-q", *flags], capsys)
        assert code == 0, err
        outs[" ".join(flags)] = out
    frames = {k: probe_frame_count(v) for k, v in outs.items()}
    assert len(set(frames.values())) == 1
    same = [cv2.VideoCapture(str(p)) for p in (outs["--smooth 0"], outs["--no-smooth"])]
    a, b = (cap.read()[1] for cap in same)
    assert np.array_equal(a, b)  # --no-smooth is --smooth 0
    code, _, err = run_main(["video", str(clip), str(tmp_path / "x.mp4"), "--smooth", "0.5", "--no-smooth"], capsys)
    assert code == 1 and "exclude each other" in err and err.count("\n") == 1
    reports = {}
    for flags in (["--smooth", "0"], ["--no-smooth"]):
        code, out, err = run_main(["eval", "--video", str(clip), "-m", str(tiny_onnx), "--json", *flags], capsys)
        assert code == 0, err
        reports[flags[0]] = json.loads(out)["video"]["flicker"]
    assert reports["--smooth"] == reports["--no-smooth"]


def test_eval_reads_a_preset(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    clip = make_clip(tmp_path / "c.mp4", seconds=0.4, gray=False)
    preset = write_preset(tmp_path, f'model = "{tiny_onnx}"\nskip = 2\n')
    code, out, err = run_main(["eval", "--video", str(clip), "-c", str(preset), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["model"] == str(tiny_onnx)
