"""What a newcomer tripped on (issue #21), on real media through the real entry point: .webm from
an .mp4 with AAC, GIF size, Ctrl-C's message, an old partial file, a film given to ``image``, and
write errors (full disk, read-only folder, file-size limit) that must name the output."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.support.cli import run_main
from tests.support.media import make_clip, make_image, video_frames
from tests.test_faults import PipeFeeder, leftovers, start_cli, wait_for_encoded_frames

REPO = Path(__file__).resolve().parent.parent


def model(tiny_onnx: Path) -> list[str]:
    return ["-m", str(tiny_onnx), "-d", "cpu"]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line]


def audio_seconds(path: Path) -> float:
    """Seconds of sound the first audio stream decodes to."""
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    return sum(f.samples for f in frames) / frames[0].sample_rate


# -- a. .webm from an .mp4 with AAC ----------------------------------------------------------


def test_webm_from_aac_transcodes_the_sound_to_opus(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = make_clip(tmp_path / "film.mp4", seconds=1.2, audio=1)  # H.264 + AAC
    out = tmp_path / "film.webm"
    code, _, err = run_main(["video", str(src), str(out), *model(tiny_onnx), "-q"], capsys)
    assert code == 0, err
    notes = [line for line in err.splitlines() if "note:" in line]
    assert len(notes) == 1 and "aac" in notes[0] and "libopus" in notes[0], err
    with av.open(str(out)) as container:
        kinds = [(s.type, s.codec_context.name) for s in container.streams]
        length = container.duration / av.time_base
    assert kinds == [("video", "vp9"), ("audio", "opus")]
    assert len(video_frames(out)) == len(video_frames(src)) == 30
    assert abs(audio_seconds(out) - audio_seconds(src)) < 0.05
    assert abs(length - 1.2) < 0.1


# -- b. GIF through a palette made for the film -----------------------------------------------


def test_gif_is_written_through_a_palette_of_its_own(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = make_clip(tmp_path / "film.mp4", seconds=2, size=(320, 240), audio=0)
    gif, cube, truth = tmp_path / "new.gif", tmp_path / "cube.gif", tmp_path / "truth.mkv"
    runs = {gif: [], cube: ["--pix-fmt", "bgr8"], truth: ["--codec", "ffv1"]}  # bgr8: the old fixed colours
    for out, extra in runs.items():
        code, _, err = run_main(["video", str(src), str(out), *model(tiny_onnx), "-q", *extra], capsys)
        assert code == 0, err
    reference = video_frames(truth)
    new, old = video_frames(gif), video_frames(cube)
    assert len(new) == len(old) == len(reference) == 50
    # Half the bytes or less, and closer to the colour pictures than the 3-3-2 cube was.
    assert gif.stat().st_size < 0.5 * cube.stat().st_size, (gif.stat().st_size, cube.stat().st_size)
    error_new, error_old = (float(np.mean(np.abs(f[25].astype(np.int16) - reference[25]))) for f in (new, old))
    assert error_new < 0.5 * error_old, (error_new, error_old)


# -- c. Ctrl-C says "interrupted" once --------------------------------------------------------


def test_ctrl_c_says_interrupted_once(tmp_path: Path, tiny_onnx: Path) -> None:
    feed = make_clip(tmp_path / "src.ts", seconds=8, size=(320, 240), audio=1)
    fifo = tmp_path / "feed.ts"
    os.mkfifo(fifo)
    out = tmp_path / "out.mp4"
    with PipeFeeder(fifo, feed.read_bytes(), 0.7):
        proc = start_cli(["video", str(fifo), str(out), *model(tiny_onnx), "-q"], tmp_path)
        wait_for_encoded_frames(tmp_path, proc)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    said = [line for line in err.splitlines() if "interrupted" in line]
    assert len(said) == 1 and str(tmp_path / "out.partial.mp4") in said[0], err
    assert len(video_frames(tmp_path / "out.partial.mp4")) > 10


# -- d. a finished run removes the partial file of an interrupted one --------------------------


def test_a_finished_run_removes_the_old_partial_output(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    src = make_clip(tmp_path / "film.mp4", seconds=0.6, audio=1)
    out = tmp_path / "out.mp4"
    old = tmp_path / "out.partial.mp4"
    shutil.copy(src, old)  # what an interrupted run left: a playable file named for this output
    others = [tmp_path / "out.partial.mkv", tmp_path / "other.partial.mp4"]  # not this output's
    for path in others:
        shutil.copy(src, path)
    code, _, err = run_main(["video", str(src), str(out), *model(tiny_onnx), "-q"], capsys)
    assert code == 0, err
    assert not old.exists() and all(p.is_file() for p in others)
    notes = [line for line in err.splitlines() if "partial" in line]
    assert notes == [f"stream-colorize: note: removed the partial output of an earlier interrupted run: {old}"]
    assert len(video_frames(out)) == 15


# -- e. a film given to ``image`` -------------------------------------------------------------


def test_image_command_sends_films_to_the_video_command(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    film = make_clip(tmp_path / "film.mp4", seconds=0.2, audio=0)
    photo = make_image(tmp_path / "photo.jpg")
    m = model(tiny_onnx)
    for args, names in (
        (["image", str(film), *m], str(film)),
        (["image", str(photo), str(film), "-o", str(tmp_path / "out"), *m], str(film)),
        (["image", str(photo), "-o", str(tmp_path / "photo.mp4"), *m], "photo.mp4"),
        (["image", str(photo), "--format", "mkv", *m], "--format mkv"),
    ):
        code, _, err = run_main(args, capsys)
        errors = error_lines(err)
        assert code != 0 and len(errors) == 1 and "Traceback" not in err, (args, err)
        assert names in errors[0] and "video" in errors[0] and "'stream-colorize video" in errors[0], errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4", "photo.jpg"]


# -- f. write errors name the output ----------------------------------------------------------


def _mount_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture(params=["disk full", "read-only folder", "file-size limit"])
def cramped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """(output folder, command prefix) where writing a few tens of kB fails."""
    if request.param == "file-size limit":
        if shutil.which("prlimit") is None:
            pytest.skip("prlimit (util-linux) is not installed")
        folder = tmp_path / "limited"
        folder.mkdir()
        yield folder, ["prlimit", "--fsize=40000"]  # Python ignores SIGXFSZ: writes fail with EFBIG
        return
    options = "size=40k" if request.param == "disk full" else "ro,size=40k"
    yield from ((folder, []) for folder in _mount_tmpfs(tmp_path / "mnt", options))


def test_write_errors_name_the_output(cramped: tuple[Path, list[str]], tmp_path: Path, tiny_onnx: Path) -> None:
    folder, prefix = cramped
    film = make_clip(tmp_path / "film.mp4", seconds=1, size=(320, 240), audio=1)
    photo = tmp_path / "noise.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (300, 400), np.uint8))  # ~120 kB as PNG
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for args, out in (
        (["video", str(film), str(folder / "out.mp4"), "-q"], folder / "out.mp4"),
        (["image", str(photo), "-o", str(folder / "out.png")], folder / "out.png"),
    ):
        cmd = [*prefix, sys.executable, "-m", "stream_colorize", *args, *model(tiny_onnx)]
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
        lines = [line for line in done.stderr.splitlines() if line.strip() and "note:" not in line]
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert len(lines) == 1, done.stderr
        assert re.fullmatch(rf"stream-colorize: error: cannot (write|finish) {re.escape(str(out))}: .+", lines[0])
        assert "unexpected" not in lines[0] and ".tmp" not in lines[0]
        assert not out.exists() and leftovers(folder) == []
