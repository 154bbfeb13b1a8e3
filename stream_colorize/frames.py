"""The one frame record every path passes around: file, live, cluster worker and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass
class Frame:
    """One video frame on its way from a source to a sink.

    ``image`` is the decoded picture (gray (H, W) or BGR (H, W, 3) uint8); ``pts``/``time_base``
    are the source's, kept for the output; ``captured`` is ``time.monotonic()`` right after a live
    source decoded it (0 for files).  ``ab`` is set by ``Temporal`` (model-resolution chroma),
    ``output`` is the finished BGR frame a sink encodes, or ``planes`` the finished frame as the
    encoder's yuv420p planes (H * 3 / 2, W; I420 layout) when the sink takes them
    (``pipeline.Merge``); ``model_ran`` tells whether the network ran on this frame or it reused
    an earlier prediction.
    """

    index: int
    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    captured: float = 0.0
    ab: np.ndarray | None = None
    output: np.ndarray | None = None
    model_ran: bool = False
    planes: np.ndarray | None = None

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, when known."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)
