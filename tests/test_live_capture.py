"""The live capture path without a camera: a paced synthetic source (lavfi testsrc2 + realtime)
and a file played at its own rate, headless, recorded and decoded back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.io.devices import parse_source
from stream_colorize.live import LiveOptions, run_live
from stream_colorize.models.spec import ModelSpec
from tests.support.media import make_clip, packet_hashes

PACED = "lavfi:testsrc2=size=320x240:rate=30,format=gray,realtime"


class SlowColorizer(Colorizer):
    """The tiny model made as slow as a big one, to show latency does not follow the model."""

    delay = 0.3

    def predict_ab(self, frames):
        time.sleep(self.delay)
        return super().predict_ab(frames)


def decoded(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as rec:
        frames = list(rec.decode(video=0))
    return [f.to_ndarray(format="bgr24") for f in frames], [float(f.time) for f in frames]


def test_paced_source_headless_record(tmp_path: Path, tiny_spec: ModelSpec) -> None:
    out = tmp_path / "live.mp4"
    engine = Colorizer(tiny_spec, device="cpu")
    stats = run_live(parse_source(PACED), engine, LiveOptions(headless=True, record=out, duration=2.0, print_every=0.5))
    summary = f"shown {stats.shown}, model runs {stats.model_runs}"
    assert stats.shown == len(stats.latencies) and 20 <= stats.shown <= 65, summary
    assert stats.model_runs >= 5, summary  # the model ran and its colours reached the output
    images, times = decoded(out)
    assert len(images) == stats.shown
    assert times == sorted(times) and 1.0 <= times[-1] - times[0] <= 2.2, times  # the source's own clock
    assert (np.ptp(images[-1].astype(np.int16), axis=2) > 20).mean() > 0.3  # gray in, colour out
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_latency_stays_bounded_with_a_slow_model(tiny_spec: ModelSpec) -> None:
    engine = SlowColorizer(tiny_spec, device="cpu")
    stats = run_live(parse_source(PACED), engine, LiveOptions(headless=True, duration=3.0, print_every=10))
    # The display keeps (most of) the source's rate although the model manages ~3 frames a second.
    assert stats.shown >= 45 and stats.model_runs <= 12
    # Latency does not pile up behind the model: late frames are no later than early ones.
    lat = np.asarray(stats.latencies)
    # (Queued behind the model, the last frames would wait ~2.7 s; generous bounds for a busy CI.)
    assert lat.max() < 1.5
    assert np.median(lat[-20:]) <= np.median(lat[:20]) + 0.1


def test_file_plays_at_its_own_rate_and_record_keeps_its_audio(tmp_path: Path, tiny_onnx: Path) -> None:
    clip = make_clip(tmp_path / "film.mp4", seconds=2.0, size=(160, 120), rate=25, audio=1)
    out = tmp_path / "shown.mp4"
    began = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream_colorize",
            "live",
            str(clip),
            "-m",
            str(tiny_onnx),
            "--headless",
            "--record",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began >= 1.8  # played in real time, not as fast as it decodes
    images, times = decoded(out)
    assert len(images) >= 40 and abs(times[-1] - times[0] - 1.96) < 0.1
    assert packet_hashes(out, "audio") == packet_hashes(clip, "audio")  # audio copied, untouched
    with pytest.raises(subprocess.CalledProcessError):  # the input is never overwritten
        subprocess.run(
            [sys.executable, "-m", "stream_colorize", "live", str(clip), "--headless", "--record", str(clip), "-y"],
            check=True,
            capture_output=True,
            timeout=60,
        )
