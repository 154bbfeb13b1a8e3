"""Live outputs behind one protocol, and the smoother as a part of Temporal.

A scripted output presses buttons the way a browser view would (pause, snapshot, smoothing off,
skip up, quit) on a real session over a lavfi source with the tiny model, beside the recorder;
a custom smoother goes into Temporal on the live path and the file path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stream_colorize import video
from stream_colorize.build import build_temporal
from stream_colorize.config import Settings
from stream_colorize.engine import Colorizer
from stream_colorize.errors import MediaError
from stream_colorize.io.devices import parse_source
from stream_colorize.io.live_outputs import Action, Control, LiveStatus, Shown, StatusLines, status_line
from stream_colorize.io.window import overlay_lines
from stream_colorize.live import LiveOptions, close_outputs, run_live
from stream_colorize.models.spec import ModelSpec
from stream_colorize.smoothers import DEFAULT_SMOOTH, AbSmoother
from tests.support.media import chroma, make_clip

SOURCE = "lavfi:testsrc2=size=160x120:rate=30,format=gray"


class SpySmoother(AbSmoother):
    """The default smoother, noting the strength and motion cue of every call (``zero``: grays the picture)."""

    def __init__(self, zero: bool = False) -> None:
        super().__init__()
        self.zero = zero
        self.calls: list[tuple[float, tuple[int, ...] | None, tuple[int, ...]]] = []
        self.resets = 0

    def __call__(self, ab: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        self.calls.append((self.strength, None if gray is None else gray.shape, ab.shape))
        out = super().__call__(ab, gray)
        return np.zeros_like(out) if self.zero else out

    def reset(self) -> None:
        self.resets += 1
        super().reset()


Step = tuple[Callable[["Script"], bool], list[Control]]


class Script:
    """A LiveOutput that sends controls when its conditions come true, and notes every turn."""

    poll_s = 0.02

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.turns: list[tuple[Shown | None, LiveStatus]] = []
        self.sent_at: list[int] = []  # the turn each step's controls went out on
        self.closed: list[bool] = []

    def show(self, shown: Shown | None, status: LiveStatus) -> None:
        self.turns.append((shown, status))

    def events(self) -> list[Control]:
        if len(self.sent_at) < len(self.steps):
            ready, controls = self.steps[len(self.sent_at)]
            if ready(self):
                self.sent_at.append(len(self.turns) - 1)
                return controls
        return []

    def close(self, ok: bool) -> None:
        self.closed.append(ok)

    @property
    def status(self) -> LiveStatus:
        return self.turns[-1][1]

    def since(self, step: int) -> list[tuple[Shown | None, LiveStatus]]:
        return self.turns[self.sent_at[step] + 1 :]


def test_an_output_pauses_snapshots_turns_smoothing_off_and_quits(tmp_path: Path, tiny_spec: ModelSpec) -> None:
    record, snaps = tmp_path / "shown.mp4", tmp_path / "snaps"
    smoother = SpySmoother()
    script = Script(
        [
            (lambda s: s.status.shown >= 8, [Control(Action.PAUSE, True), Control(Action.SNAPSHOT)]),
            (lambda s: len(s.since(0)) >= 15, [Control(Action.SMOOTHING, False), Control(Action.SKIP_UP)]),
            (lambda s: len(s.since(1)) >= 1, [Control(Action.PAUSE)]),  # a toggle, as a key sends
            (lambda s: s.status.shown >= s.turns[s.sent_at[2]][1].shown + 8, [Control(Action.QUIT)]),
        ]
    )
    options = LiveOptions(headless=True, record=record, snapshot_dir=snaps, duration=60, smoother=smoother)
    stats = run_live(parse_source(SOURCE), Colorizer(tiny_spec, device="cpu"), options, outputs=[script])

    # Quit ended the run at once (the 60 s limit was far off), and the output was closed as a good run.
    assert len(script.sent_at) == 4 and len(script.turns) == script.sent_at[3] + 1
    assert script.status.elapsed < 60 and script.closed == [True]
    shown = [item for item, _ in script.turns if item is not None]
    assert stats.shown == len(shown) == script.status.shown

    # Paused: no frame shown, the counter still, the status says so; afterwards frames advance again.
    paused = script.turns[script.sent_at[0] + 1 : script.sent_at[2] + 1]
    assert len(paused) >= 16 and all(item is None and status.paused for item, status in paused)
    assert len({status.shown for _, status in paused}) == 1
    last_before = script.turns[script.sent_at[0]][0]
    resumed = [item for item, _ in script.since(2) if item is not None]
    assert last_before is not None and len(resumed) >= 8
    assert all(b.frame.index > a.frame.index for a, b in zip([last_before, *resumed], resumed))

    # Smoothing off through Temporal: the status shows it and the smoother gets strength 0, no motion cue.
    before, after = script.turns[script.sent_at[1]][1], script.since(1)[0][1]
    assert before.smoothing == pytest.approx(DEFAULT_SMOOTH) and after.smoothing == 0.0
    assert "auto" in before.skip and after.skip.isdigit()  # + leaves auto mode
    assert any(strength == DEFAULT_SMOOTH and cue == ab[1:] for strength, cue, ab in smoother.calls)
    assert smoother.calls[-1][:2] == (0.0, None)

    # The snapshot is the frame on screen when it was taken (without overlay).
    (png,) = snaps.glob("*.png")
    assert np.array_equal(cv2.imread(str(png)), last_before.image)

    # The recording holds exactly the shown frames, in order, at their own times.
    with av.open(str(record)) as rec:
        frames = list(rec.decode(video=0))
    assert [round(float(f.time), 3) for f in frames] == [
        round(float(s.frame.pts * s.frame.time_base), 3) for s in shown
    ]

    def luma(image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.int16)

    wanted = [luma(s.image) for s in shown]
    for k, frame in enumerate(frames):  # x264 changes the picture a little: each is nearest its own
        got = luma(frame.to_ndarray(format="bgr24"))
        assert int(np.argmin([np.abs(got - w).mean() for w in wanted])) == k
    assert not list(tmp_path.glob(".*tmp*"))


def test_headless_status_lines_and_overlay_come_from_one_status() -> None:
    lines: list[str] = []
    out = StatusLines(lines.append, every=1.0)

    def status(elapsed: float, **changes: object) -> LiveStatus:
        values: dict = dict(fps=29.5, model_s=0.0042, skip="2 (auto)", latency_s=0.0123, dropped=3)
        values.update(source="playing", smoothing=0.97, paused=False, side_by_side=False, shown=10)
        values.update(changes)
        return LiveStatus(elapsed=elapsed, **values)

    for t in (0.2, 0.9, 1.0, 1.5, 2.1, 2.2):
        out.show(None, status(t))
    assert len(lines) == 2 and out.events() == []
    assert lines[0] == "fps  29.5  model    4.2 ms  skip 2 (auto)  latency   12.3 ms  dropped 3  playing"
    assert status_line(status(0, source="reconnecting (1/5)")).endswith("dropped 3  reconnecting (1/5)")
    assert overlay_lines(status(0)) == ["fps 29.5  model 4 ms", "skip 2 (auto)  latency 12 ms", "smooth"]
    assert overlay_lines(status(0, smoothing=0.0, paused=True))[-1] == "no smooth  PAUSED"


class Closing:
    poll_s = 0.1

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.closed = fail, []

    def show(self, shown, status) -> None:
        pass

    def events(self) -> list[Control]:
        return []

    def close(self, ok: bool) -> None:
        self.closed.append(ok)
        if self.fail:
            raise MediaError("cannot finish the recording")


def test_every_output_is_closed_even_when_one_fails() -> None:
    outputs = [Closing(fail=True), Closing()]
    with pytest.raises(MediaError, match="cannot finish"):
        close_outputs(outputs, ok=True)
    assert [o.closed for o in outputs] == [[True], [True]]
    close_outputs(outputs, ok=False)  # after a failed run the first error stays the one reported
    assert [o.closed for o in outputs] == [[True, False], [True, False]]


def test_temporal_takes_its_smoother_and_sets_its_strength() -> None:
    spy = SpySmoother()
    temporal = build_temporal(Settings(smooth=0.5, skip=3).temporal, smoother=spy)
    assert temporal.smoother is spy and spy.strength == 0.5 and temporal.skipper.every == 3
    temporal.smoothing = False
    assert spy.strength == 0.0 and not temporal.smoothing
    temporal.smoothing = True  # comes back at the configured strength
    assert spy.strength == 0.5
    temporal.strength = 0.8
    assert spy.strength == 0.8
    with pytest.raises(ValueError, match="strength"):
        temporal.strength = 1.0
    off = build_temporal(Settings(smooth=0.0).temporal)
    assert isinstance(off.smoother, AbSmoother) and off.strength == 0.0
    off.smoothing = True  # nothing configured: the default strength
    assert off.strength == DEFAULT_SMOOTH


def test_a_custom_smoother_runs_on_the_file_path(
    tmp_path: Path, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = make_clip(tmp_path / "in.mp4", seconds=1.0, size=(160, 120), rate=25, audio=0)
    settings = Settings(model=str(tiny_onnx))
    plain = video.colorize_file(clip, tmp_path / "plain.mp4", settings)
    spy = SpySmoother(zero=True)  # smoothing that throws the colour away: a gray output shows it ran
    monkeypatch.setattr(video, "build_temporal", lambda t: build_temporal(t, smoother=spy))
    gray = video.colorize_file(clip, tmp_path / "gray.mp4", settings)
    assert gray.frames == plain.frames == 25
    assert len(spy.calls) == 25 and spy.resets >= 1  # every frame; the first is a cut
    assert all(strength == DEFAULT_SMOOTH and cue == ab[1:] for strength, cue, ab in spy.calls)
    with av.open(str(tmp_path / "plain.mp4")) as a, av.open(str(tmp_path / "gray.mp4")) as b:
        color = [chroma(f.to_ndarray(format="bgr24")) for f in a.decode(video=0)]
        grays = [chroma(f.to_ndarray(format="bgr24")) for f in b.decode(video=0)]
    assert min(color) > 3 and max(grays) < 1.5
