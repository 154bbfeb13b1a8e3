"""How a live session keeps up and what it measures: the skip factor and the figures on screen.

    >>> skip = AutoSkip()                         # automatic: the model's time in frames, plus pressure
    >>> skip.update(model_s=0.05, fps=30, drops=0)
    >>> stats = LiveStats(); stats.mark_shown(frame); stats.fps, stats.latency_percentiles()
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .frames import Frame

MAX_SKIP = 120
MAX_LATENCIES = 108_000  # kept for the percentiles: an hour at 30 fps (a session may run for days)


class AutoSkip:
    """The skip factor: fixed (``+``/``-`` adjust it) or automatic.

    Automatic: at least the model's time in frames (``ceil(model_s * fps)``), plus a pressure
    term that grows by one each time the input queue dropped frames since the last update and
    shrinks by one after ``relax_s`` without drops.
    """

    def __init__(self, fixed: int | None = None, relax_s: float = 2.0) -> None:
        self.auto = fixed is None
        self.value = max(1, fixed or 1)
        self.pressure = 0
        self.relax_s = relax_s
        self._last_drop_count = 0
        self._calm_since = time.monotonic()

    def update(self, model_s: float, fps: float, drops: int, now: float | None = None) -> int:
        """Recompute (when automatic) from the model's time, the source rate and the drop counter."""
        now = time.monotonic() if now is None else now
        if not self.auto:
            return self.value
        if drops > self._last_drop_count:
            self.pressure = min(self.pressure + 1, MAX_SKIP)
            self._calm_since = now
        elif self.pressure and now - self._calm_since >= self.relax_s:
            self.pressure -= 1
            self._calm_since = now
        self._last_drop_count = drops
        base = max(1, math.ceil(model_s * fps - 1e-6)) if fps > 0 and model_s > 0 else 1
        self.value = int(min(MAX_SKIP, base + self.pressure))
        return self.value

    def set(self, value: int | None) -> int:
        """Fix the factor at ``value`` (clamped to 1..MAX_SKIP), or None: automatic again."""
        self.auto = value is None
        if value is not None:
            self.value = int(min(MAX_SKIP, max(1, value)))
        return self.value

    def step(self, delta: int) -> int:
        """Manual change (the + and - keys): leaves automatic mode."""
        self.auto = False
        self.value = int(min(MAX_SKIP, max(1, self.value + delta)))
        return self.value

    def label(self) -> str:
        """``"3 (auto)"`` or ``"3"``."""
        return f"{self.value} (auto)" if self.auto else str(self.value)


@dataclass
class LiveStats:
    """What the user sees in the overlay, and what bench/live.py reports."""

    latencies: list[float] = field(default_factory=list)  # capture -> display, seconds, the last shown frames
    model_s: float = 0.0  # moving average of one model forward
    model_runs: int = 0
    shown: int = 0
    _times: deque = field(default_factory=lambda: deque(maxlen=90))

    def mark_shown(self, frame: Frame, now: float | None = None) -> float:
        """Count a displayed frame; return its latency in seconds."""
        now = time.monotonic() if now is None else now
        latency = now - frame.captured
        self.latencies.append(latency)
        if len(self.latencies) > MAX_LATENCIES:
            del self.latencies[: MAX_LATENCIES // 2]
        self._times.append(now)
        self.shown += 1
        return latency

    @property
    def fps(self) -> float:
        """Displayed frames per second over the last ~3 s."""
        if len(self._times) < 2 or self._times[-1] <= self._times[0]:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def fps_now(self, now: float | None = None) -> float:
        """``fps``, or 0 once no frame has been shown for three of its frame intervals (at least a
        second): a stream that stopped (reconnecting) shows 0, not the rate it had."""
        now = time.monotonic() if now is None else now
        rate = self.fps
        if rate <= 0 or now - self._times[-1] > max(1.0, 3.0 / rate):
            return 0.0
        return rate

    def recent_latency(self, count: int = 30) -> float:
        """Mean latency of the last ``count`` shown frames (seconds)."""
        tail = self.latencies[-count:]
        return float(np.mean(tail)) if tail else 0.0

    def latency_percentiles(self, skip_first: int = 0) -> dict[str, float]:
        """p50, p95 and max latency in seconds (optionally leaving out a warm-up)."""
        data = np.asarray(self.latencies[skip_first:] or [0.0])
        return {"p50": float(np.percentile(data, 50)), "p95": float(np.percentile(data, 95)), "max": float(data.max())}
