"""Smoothers: what eases ab from frame to frame inside ``Temporal`` (one is a part of it).

    >>> smoother = SMOOTHERS["flow"](0.97)        # the default: the past carried along the optical flow
    >>> ab = smoother.follow(ab, frame, fresh=True)   # a FrameSmoother sees the frame itself
    >>> AbSmoother(0.97)(ab, gray)                # the motion-adaptive moving average (``motion``)

``Smoother`` is the protocol (``__call__(ab, gray)``, ``reset()``, a settable ``strength``);
``FrameSmoother`` adds ``follow(ab, image, fresh)`` for smoothers that need the frame (the flow).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from .flow import FLOW_SIZE, FlowEstimator, valid_share, warp

# Measured on opencv-doc's vtest.avi / Megamind.avi with the bundled model (bench/pipeline.py --temporal,
# stream-colorize eval --video): 0.97 with a motion scale of 20 brings flicker below the footage's own
# on still shots without the trail a uniform 0.95 leaves on moving ones (PSNR +3.84 vs +3.56 dB).
DEFAULT_SMOOTH = 0.97  # weight of the past in the moving average, where the picture is still
DEFAULT_MOTION_SCALE = 20.0  # |Δ gray| (0..255, at model resolution) at which the past's weight drops to 1/e

class Smoother(Protocol):
    """Eases ab from frame to frame; reset at a scene cut.  ``strength`` 0 means off (pass ab through)."""

    strength: float

    def __call__(self, ab: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        """The newest ab (2, h, w) and the frame's gray at ab resolution (h, w) when smoothing is on; the ab to use."""
        ...

    def reset(self) -> None:
        """Forget the past (the next call starts a new shot)."""
        ...


@runtime_checkable
class FrameSmoother(Smoother, Protocol):
    """A smoother that sees every frame itself: ``Temporal`` calls ``follow`` instead of ``__call__``.

    It gets the frame as ``Temporal`` has it (the reduction to the model's size in the file
    pipeline, the frame itself live; gray or BGR, any size), so it can work at a finer size than
    ab's, and whether ``ab`` is a new prediction or the latest one again (the model skipped).
    """

    def follow(self, ab: np.ndarray, image: np.ndarray, fresh: bool) -> np.ndarray:
        """The latest prediction (2, h, w), this frame, whether the prediction is this frame's; the ab to use."""
        ...


class AbSmoother:
    """Exponential moving average of ab, ``s = w * s + (1 - w) * ab``, per pixel.

    ``w = strength`` everywhere, or, when the caller passes the frame's gray at ab resolution,
    ``w = strength * exp(-|Δgray| / motion_scale)``: full smoothing where the picture is still,
    little where it moves.
    """

    def __init__(self, strength: float = DEFAULT_SMOOTH, motion_scale: float = DEFAULT_MOTION_SCALE) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError("strength must be in [0, 1)")
        self.strength = float(strength)
        self.motion_scale = float(motion_scale)
        self._state: np.ndarray | None = None
        self._gray: np.ndarray | None = None

    def __call__(self, ab: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        """Feed the newest ab (2, h, w) and optionally the frame's gray (h, w); return smoothed ab."""
        previous_gray, self._gray = self._gray, gray
        if self._state is None or self.strength == 0.0 or self._state.shape != ab.shape:
            self._state = ab.astype(np.float32, copy=True)
            return self._state
        weight: float | np.ndarray = self.strength
        if gray is not None and previous_gray is not None and previous_gray.shape == gray.shape:
            weight = self.strength * np.exp(-np.abs(gray - previous_gray) / self.motion_scale)
        self._state = weight * self._state + (1.0 - weight) * ab
        return self._state

    def reset(self) -> None:
        """Start over (at a scene cut)."""
        self._state = None
        self._gray = None


class FlowSmoother(AbSmoother):
    """``AbSmoother``'s moving average with the past carried along the optical flow (the default).

    Each frame, the flow from the previous frame (``flow.FlowEstimator``: DIS at ``flow_size``,
    both ways, checked) warps the smoothed ab onto the new frame before it is blended with the
    prediction: ``s = w * warp(s) + (1 - w) * ab``, ``w = strength`` times the share of the pixel
    where the flow's check holds (0 where it fails: occlusion, disocclusion, motion boundaries, a
    cut the detector missed), so colour follows moving things and pans instead of being dropped,
    and takes the prediction where the past is unknown.  Between model runs (``fresh`` False)
    the latest prediction is carried along the flow too, instead of being held still (held where
    the flow fails).  Called as a plain ``Smoother`` (ab and a gray at ab resolution, no frame)
    it is the ``AbSmoother``.
    """

    def __init__(
        self, strength: float = DEFAULT_SMOOTH, motion_scale: float = DEFAULT_MOTION_SCALE, flow_size: int = FLOW_SIZE
    ) -> None:
        super().__init__(strength, motion_scale)
        self.flow = FlowEstimator(flow_size)
        self._previous: np.ndarray | None = None  # the previous frame at the flow's working size
        self._carried: np.ndarray | None = None  # the latest prediction, carried along the flow since it came
        self.trusted = float("nan")  # the share of the last frame where the flow held (benches, tests)

    def follow(self, ab: np.ndarray, image: np.ndarray, fresh: bool = True) -> np.ndarray:
        """The latest prediction (2, h, w), this frame (any size), whether ab is this frame's; smoothed ab."""
        current = self.flow.prepare(image)
        previous, self._previous = self._previous, current
        carried = self._carried if self._carried is not None and self._carried.shape == ab.shape else None
        state = self._state if self._state is not None and self._state.shape == ab.shape else None
        moving = previous is not None and (state is not None or carried is not None)
        if not moving or (fresh and self.strength == 0.0):  # nothing to carry: no flow needed
            self._carried = ab.astype(np.float32, copy=True)
            self._state = self._carried
            return self._state
        assert previous is not None  # for mypy: checked by `moving`
        motion = self.flow.between(previous, current)
        trust = valid_share(motion.valid, ab.shape[1:])
        self.trusted = float(motion.valid.mean())
        if fresh or carried is None:
            new = ab.astype(np.float32, copy=True)
        else:  # the model skipped this frame: its last answer moves with the picture, held where the flow fails
            new = trust * warp(carried, motion.backward) + (1.0 - trust) * ab
        self._carried = new
        if self.strength == 0.0 or state is None:
            self._state = new
            return new
        weight = self.strength * trust
        self._state = weight * warp(state, motion.backward) + (1.0 - weight) * new
        return self._state

    def reset(self) -> None:
        """Start over (at a scene cut): no past colour and no previous frame to take the flow from."""
        super().reset()
        self._previous = None
        self._carried = None


# The smoothers a setting can name (``TemporalSettings.smoother``, ``--smoother``): flow first, the default.
SMOOTHERS: dict[str, Callable[[float], Smoother]] = {"flow": FlowSmoother, "motion": AbSmoother}
