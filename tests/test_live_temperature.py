"""Colour strength while running: ``Colorizer.set_temperature`` on each backend, and live's controls.

A colorizer whose temperature was changed gives exactly what a colorizer made at that temperature
gives (cv2.dnn and ONNX Runtime, with the annealed mean in numpy or in the graph); live applies a
TEMPERATURE control in the model thread, a SKIP control fixes or frees the skip factor and a
SMOOTHING value sets the smoother's strength.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from stream_colorize.engine import Colorizer
from stream_colorize.errors import UsageError
from stream_colorize.io.devices import parse_source
from stream_colorize.io.live_outputs import Action, Control, LiveStatus, Shown
from stream_colorize.live import LiveOptions, run_live
from stream_colorize.models.spec import ModelSpec


def frames() -> list[np.ndarray]:
    y, x = np.mgrid[0:120, 0:160].astype(np.float32)
    picture = 30 + 180 * x / 160 + 20 * np.sin(y / 7)
    return [np.clip(picture, 0, 255).astype(np.uint8), np.clip(255 - picture, 0, 255).astype(np.uint8)]


@pytest.mark.parametrize(
    "backend, threads",
    [
        ("opencv", None),
        pytest.param("onnxruntime", None, id="ort-numpy"),
        pytest.param("onnxruntime", 1, id="ort-graph"),
    ],
)
def test_a_changed_temperature_is_a_colorizer_made_at_it(
    tiny_spec: ModelSpec, backend: str, threads: int | None
) -> None:
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    engine = Colorizer(tiny_spec, device="cpu", backend=backend, threads=threads)
    if threads:
        assert engine.backend.decode_in_graph  # the temperature is a constant of the graph here
    before = engine.predict_ab(frames())
    engine.set_temperature(1.5)
    assert engine.temperature == 1.5
    changed = engine.predict_ab(frames())
    fresh = Colorizer(tiny_spec, device="cpu", backend=backend, threads=threads, temperature=1.5).predict_ab(frames())
    assert np.abs(changed - fresh).max() <= 1e-4
    assert np.abs(changed - before).max() > 1.0  # the temperature does change the colours
    engine.set_temperature(tiny_spec.temperature)
    assert np.abs(engine.predict_ab(frames()) - before).max() <= 1e-4
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError):
            engine.set_temperature(bad)
    assert engine.temperature == tiny_spec.temperature


class Steer:
    """Sends controls once a few frames were shown, then quits when the model took the new temperature."""

    poll_s = 0.02

    def __init__(self, engine: Colorizer, controls: list[Control]) -> None:
        self.engine = engine
        self.controls = controls
        self.statuses: list[LiveStatus] = []
        self.sent = False
        self.done = threading.Event()

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        self.statuses.append(status)

    def events(self) -> list[Control]:
        if not self.sent and self.statuses and self.statuses[-1].shown >= 5:
            self.sent = True
            return self.controls
        if self.sent and self.engine.temperature == 0.9 and len(self.statuses) > 20:
            return [Control(Action.QUIT)]
        return []

    def close(self, ok: bool) -> None:
        self.done.set()


def test_live_takes_temperature_skip_and_smoothing_values(tiny_spec: ModelSpec) -> None:
    engine = Colorizer(tiny_spec, device="cpu")
    steer = Steer(engine, [
        Control(Action.TEMPERATURE, value=0.9),
        Control(Action.SKIP, value=4),
        Control(Action.SMOOTHING, value=0.5),
    ])  # fmt: skip
    options = LiveOptions(headless=True, duration=30)
    run_live(parse_source("lavfi:testsrc2=size=160x120:rate=30,format=gray"), engine, options, outputs=[steer])
    first, last = steer.statuses[0], steer.statuses[-1]
    assert first.temperature == tiny_spec.temperature and "auto" in first.skip
    assert engine.temperature == 0.9 and last.temperature == 0.9  # set by the model thread
    assert last.skip == "4" and last.smoothing == 0.5
    assert last.elapsed < 30  # it quit once the temperature was in, long before the limit


def test_skip_value_zero_is_automatic_again() -> None:
    from stream_colorize.live_stats import MAX_SKIP, AutoSkip

    skip = AutoSkip()
    assert skip.set(4) == 4 and skip.label() == "4"
    assert skip.set(10_000) == MAX_SKIP and skip.set(-3) == 1  # clamped to 1..MAX_SKIP
    skip.set(None)
    assert skip.auto and skip.label().endswith("(auto)")
