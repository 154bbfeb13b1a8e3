"""Standard input as the input: ``video - OUT`` and ``live -`` read MPEG-TS, Matroska or MP4 piped in.

The commands run as real subprocesses with a file on their standard input (what ``ffmpeg ... -f
mpegts - | stream-colorize video - out.mkv`` gives them); their outputs are decoded back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.media import chroma, make_clip

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], stdin: Path | int, timeout: float = 60) -> subprocess.CompletedProcess:
    handle = open(stdin, "rb") if isinstance(stdin, Path) else stdin
    try:
        return subprocess.run([sys.executable, "-m", "stream_colorize", *args], stdin=handle, capture_output=True,
                              timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    finally:
        if isinstance(stdin, Path):
            handle.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same 2 s gray clip with AAC audio as MPEG-TS, Matroska and MP4 with faststart."""
    folder = tmp_path_factory.mktemp("pipes")
    source = make_clip(folder / "source.mp4", seconds=2.0, size=(160, 120), audio=1)
    made = {}
    kinds = (("ts", "mpegts", {}), ("mkv", "matroska", {}), ("mp4", "mp4", {"movflags": "+faststart"}))
    for name, fmt, options in kinds:
        target = folder / f"clip.{name}"
        with av.open(str(source)) as src, av.open(str(target), "w", format=fmt, options=options) as dst:
            streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
            for packet in src.demux():
                if packet.dts is not None:
                    packet.stream = streams[packet.stream.index]
                    dst.mux(packet)
        made[name] = target
    data = made["mp4"].read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: the index first, as a pipe needs
    return made


def decoded(path: Path) -> tuple[list[np.ndarray], int]:
    with av.open(str(path)) as container:
        audio = sum(1 for s in container.streams if s.type == "audio")
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)], audio


@pytest.mark.parametrize("kind", ["ts", "mkv", "mp4"])
def test_video_reads_a_pipe(inputs: dict[str, Path], tiny_onnx: Path, tmp_path: Path, kind: str) -> None:
    out = tmp_path / "colour.mkv"
    done = run(["video", "-", str(out), "-m", str(tiny_onnx), "-q"], inputs[kind])
    assert done.returncode == 0, done.stderr.decode()
    frames, audio = decoded(out)
    assert len(frames) == 50 and audio == 1  # every frame, and the sound
    assert np.mean([chroma(f) for f in frames[5:]]) > 5
    assert "50 frames in" in done.stderr.decode()


def test_video_pipe_to_pipe(inputs: dict[str, Path], tiny_onnx: Path, tmp_path: Path) -> None:
    done = run(["video", "-", "-", "-m", str(tiny_onnx), "-q"], inputs["ts"])
    assert done.returncode == 0, done.stderr.decode()
    (tmp_path / "out.ts").write_bytes(done.stdout)
    frames, audio = decoded(tmp_path / "out.ts")
    assert len(frames) == 50 and audio == 1 and np.mean([chroma(f) for f in frames[5:]]) > 5


def test_live_reads_a_pipe_until_it_ends(inputs: dict[str, Path], tiny_onnx: Path, tmp_path: Path) -> None:
    record = tmp_path / "shown.mp4"
    done = run(["live", "-", "--headless", "-m", str(tiny_onnx), "--record", str(record)], inputs["mkv"])
    assert done.returncode == 0, done.stderr.decode()
    frames, _ = decoded(record)
    # played through, in colour; live lets frames go when it falls behind (newest wins), so not all 50
    assert len(frames) >= 30 and np.mean([chroma(f) for f in frames[-10:]]) > 5
    assert "shown" in done.stderr.decode() and "ended" in done.stderr.decode()


def test_pipe_input_mistakes_are_one_line(inputs: dict[str, Path], tmp_path: Path) -> None:
    leader, follower = os.openpty()  # a terminal on standard input: nothing is piped in
    try:
        done = run(["video", "-", str(tmp_path / "o.mp4"), "-m", "standin-tiny"], follower, timeout=30)
    finally:
        os.close(leader)
        os.close(follower)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "terminal" in lines[0]
    done = run(["video", "-", str(tmp_path / "o.mp4"), "--workers", "2", "-m", "standin-tiny"], inputs["ts"])
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "standard input" in lines[0]
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(50_000))
    done = run(["video", "-", str(tmp_path / "o.mp4"), "-m", "standin-tiny"], garbage)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and not (tmp_path / "o.mp4").exists()
