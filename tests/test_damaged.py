"""A transport stream damaged in the middle, as old off-air captures are: keep what decodes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.media import make_clip, packet_hashes, probe_frame_count, video_frames

REPO = Path(__file__).resolve().parent.parent
TS_PACKET = 188


def damage_ts(src: Path, dst: Path, seed: int = 3) -> Path:
    """Cut 30 transport packets out of the middle and garble the payload of 20 more after them."""
    data = src.read_bytes()
    count = len(data) // TS_PACKET
    rng = np.random.default_rng(seed)
    mid = count // 2
    out = bytearray()
    for i in range(count):
        packet = bytearray(data[i * TS_PACKET : (i + 1) * TS_PACKET])
        if mid <= i < mid + 30:
            continue  # lost in reception
        if mid + 60 <= i < mid + 80:
            packet[8:] = rng.integers(0, 256, TS_PACKET - 8, np.uint8).tobytes()  # header kept, payload garbled
        out += packet
    dst.write_bytes(bytes(out))
    return dst


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("damaged")
    clean = make_clip(folder / "clean.ts", seconds=6, size=(320, 240), audio=1)
    return damage_ts(clean, folder / "damaged.ts")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_damaged_transport_stream_keeps_what_decodes(damaged: Path, tmp_path: Path, tiny_onnx: Path, suffix) -> None:
    out = tmp_path / f"out{suffix}"
    cmd = [sys.executable, "-m", "stream_colorize", "video", str(damaged), str(out), "-m", str(tiny_onnx), "-d", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr
    reference = probe_frame_count(damaged)  # what ffmpeg decodes from the same file
    frames = video_frames(out)
    assert len(frames) >= 0.9 * reference
    assert frames[len(frames) // 2].shape == (240, 320, 3)
    audio_in = packet_hashes(damaged)[0]
    audio_out = packet_hashes(out)
    assert len(audio_out) == 1 and len(audio_out[0]) >= 0.9 * len(audio_in)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0], done.stderr  # the summary, counting the damage
    assert "[h264" not in done.stderr and "error while decoding" not in done.stderr


def test_joined_captures_with_a_size_change_keep_every_part(tmp_path: Path, tiny_onnx: Path, capsys) -> None:
    from tests.support.cli import run_main

    first = make_clip(tmp_path / "one.ts", seconds=1, size=(320, 240), audio=1)
    second = make_clip(tmp_path / "two.ts", seconds=1, size=(160, 120), audio=1)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())  # as `cat` joins two off-air captures
    out = tmp_path / "out.mp4"
    code, _, err = run_main(["video", str(joined), str(out), "-m", str(tiny_onnx), "-d", "cpu", "-q"], capsys)
    assert code == 0, err
    assert "size changes from 320x240 to 160x120 at frame 25" in err and "scaled to the first size" in err
    frames = video_frames(out, fmt="gray")
    assert len(frames) == 50 and {f.shape for f in frames} == {(240, 320)}
    small = video_frames(second, fmt="gray")[10]
    scaled = np.asarray(frames[35], np.float32)
    import cv2

    expected = cv2.resize(small, (320, 240), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    assert np.abs(scaled - expected).mean() < 12  # the second part's pictures, scaled up
    audio = packet_hashes(out)[0]
    assert len(audio) >= 0.95 * (len(packet_hashes(first)[0]) + len(packet_hashes(second)[0]))
