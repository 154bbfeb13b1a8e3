"""Across frames: which frames run the model, how ab is smoothed, where scenes cut.

    >>> temporal = Temporal(skip=2, smooth=0.5)
    >>> temporal.assign(frames, engine.predict_ab)   # a batch of frames in order: sets frame.ab
    >>> cut, due = temporal.decide(image)            # or frame by frame (live: the model runs
    >>> ab = temporal.step(image, predicted, cut)    #   elsewhere, its newest ab comes in here)
    >>> temporal.model_runs, temporal.cuts           # counters

``assign`` is ``decide`` and ``step`` over a batch; both paths share every decision.  The pieces:

* ``SceneCutDetector`` compares tiny thumbnails of consecutive frames' lightness; a large mean
  difference is a cut.  Costs a resize of each frame to 32x32.
* ``FrameSkipper`` says when the model is due: every Nth frame, and at once after a cut.
* ``FlowSmoother`` (the default; the smoothers live in ``smoothers.py``) is an exponential
  moving average of ab at model resolution whose past is carried along the optical flow
  (``flow.py``: DIS at 112x112, both ways, checked) before each blend, so colour follows
  moving things and camera moves; where the flow's check fails (occlusion, disocclusion,
  motion boundaries) it takes the new prediction.  Between model runs it carries the last
  prediction along the flow too.  It sees each frame as ``Temporal`` has it (the reduction in
  the file pipeline, the frame itself live): a ``FrameSmoother``.
* ``AbSmoother`` (``smoother = "motion"``) is the same average without the flow: given the
  frame's lightness at ab resolution it is motion-adaptive: where lightness stays put, the past
  weighs ``strength``; where it changes (something moved), the past's weight falls off.
* Both reset at cuts so colour never bleeds from one shot into the next.
* The smoother is a part: ``Temporal(smoother=...)`` takes any ``Smoother`` (``__call__(ab, gray)``,
  ``reset()``, a settable ``strength``), or a ``FrameSmoother`` (also ``follow(ab, image,
  fresh)``, which ``Temporal`` then calls instead); ``Temporal.strength`` and
  ``Temporal.smoothing`` change it while running (live's t key); ``build.build_temporal`` is the
  one builder the file pipeline, the cluster, eval and live share, and picks the smoother that
  ``TemporalSettings.smoother`` names (``SMOOTHERS``).

Between model runs a frame reuses the latest prediction (a ``FrameSmoother`` is told, and moves it
along the flow); the smoother then eases towards it.
Each frame is reduced once (``reduce_frame``, to the model's input size when ``model_size`` is
set): the cut thumbnail, the smoother's motion cue and the network input all come from that one
reduction, instead of three area resizes of the full frame (those cost as much as the bundled
model's forward at 720p).
``bench/pipeline.py --temporal`` measures flicker (mean |Δab| between consecutive output
frames), warp error (the same along the optical flow) and lag for several settings, and
``stream-colorize eval --video`` both against the colour footage's own; the defaults come from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import cv2
import numpy as np

from .hints import Hints, overlay
from .smoothers import DEFAULT_MOTION_SCALE, DEFAULT_SMOOTH, FlowSmoother, FrameSmoother, Smoother

DEFAULT_CUT_THRESHOLD = 12.0  # mean |Δ gray| (0..255) between 32x32 thumbnails
GUIDED_SMOOTH = 0.5  # the most the past weighs on a frame the model coloured with reference hints


class HasImage(Protocol):
    """Anything carrying a uint8 ``image`` and an assignable ``ab`` (e.g. frames.Frame)."""

    image: np.ndarray
    ab: np.ndarray | None
    model_ran: bool


def thumbnail(image: np.ndarray, size: int = 32) -> np.ndarray:
    """A tiny float32 gray version of a gray or BGR uint8 frame."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


class SceneCutDetector:
    """Flags a frame whose thumbnail differs from the previous one by more than ``threshold``.

    The difference is the mean absolute difference of 32x32 gray thumbnails after removing the
    change in mean brightness, so fades and exposure drift do not count as cuts.
    """

    def __init__(self, threshold: float = DEFAULT_CUT_THRESHOLD, size: int = 32) -> None:
        self.threshold = float(threshold)
        self.size = size
        self._previous: np.ndarray | None = None
        self.last_score = 0.0

    def score(self, image: np.ndarray) -> float:
        """Difference from the previous frame (0 for the first); updates the reference."""
        thumb = thumbnail(image, self.size)
        previous, self._previous = self._previous, thumb
        if previous is None:
            return 0.0
        diff = (thumb - thumb.mean()) - (previous - previous.mean())
        self.last_score = float(np.abs(diff).mean())
        return self.last_score

    def __call__(self, image: np.ndarray) -> bool:
        """True when ``image`` starts a new shot (the first frame counts as one)."""
        first = self._previous is None
        return self.score(image) > self.threshold or first

    def reset(self) -> None:
        """Forget the previous frame."""
        self._previous = None


class FrameSkipper:
    """Runs the model on every ``every``-th frame, and immediately after a cut."""

    def __init__(self, every: int = 1) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self.every = int(every)
        self._since = every  # so the first frame is due

    def due(self, cut: bool = False) -> bool:
        """Whether the next frame should run the model; call once per frame."""
        if cut or self._since >= self.every:
            self._since = 1
            return True
        self._since += 1
        return False


REDUCED_SIZE = 224  # what a frame is reduced to when no model size is known: 7 x 32 and 4 x 56


def reduce_frame(image: np.ndarray, size: int = REDUCED_SIZE) -> np.ndarray:
    """``image`` area-resized to (size, size), channels kept: the first step of ``lab.network_input``.

    A frame reduced to the model's input size gives the network exactly the input the full frame
    would; thumbnails at a divisor of ``size`` (32, 56 for 224) are exact box averages of it.
    """
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def gray_at(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A frame's gray as float32 at ab resolution (h, w): the smoother's motion cue."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)


class Temporal:
    """Frame skipping, scene cuts and smoothing together, for a stream of frames in order.

    ``smooth=0`` disables smoothing; ``skip=1`` runs the model on every frame.  ``smoother``: what
    eases ab (default ``FlowSmoother(smooth, motion_scale)``); a given one is set to ``smooth`` too.
    """

    def __init__(
        self,
        skip: int = 1,
        smooth: float = DEFAULT_SMOOTH,
        cut_threshold: float = DEFAULT_CUT_THRESHOLD,
        motion_scale: float = DEFAULT_MOTION_SCALE,
        model_size: int | None = None,
        smoother: Smoother | None = None,
    ):
        self.model_size = model_size  # the engine's input size: predict then gets reduced frames
        self.skipper = FrameSkipper(skip)
        self.smoother: Smoother = smoother if smoother is not None else FlowSmoother(smooth, motion_scale)
        self._resume = DEFAULT_SMOOTH  # the strength smoothing comes back with when switched on again
        self.strength = smooth
        self.cut_detector = SceneCutDetector(cut_threshold)
        # colour hints for the frames the model runs on, (index, image) -> Hints | None (references.py)
        self.hints: Callable[[int, np.ndarray], Hints | None] | None = None
        self._latest: np.ndarray | None = None
        self.model_runs = 0
        self.cuts = 0

    @property
    def strength(self) -> float:
        """The smoother's strength: the weight of the past (0: off)."""
        return self.smoother.strength

    @strength.setter
    def strength(self, value: float) -> None:
        if not 0.0 <= value < 1.0:
            raise ValueError("smoothing strength must be in [0, 1)")
        self.smoother.strength = float(value)
        if value > 0.0:
            self._resume = float(value)

    @property
    def smoothing(self) -> bool:
        """Whether ab is smoothed; switching it on again restores the last strength above 0."""
        return self.strength > 0.0

    @smoothing.setter
    def smoothing(self, on: bool) -> None:
        self.strength = self._resume if on else 0.0

    def decide(self, image: np.ndarray) -> tuple[bool, bool]:
        """For the next frame in order: (starts a new shot, the model is due on it).

        ``image`` is the frame or its reduction (``reduce_frame``); the cut thumbnail comes from it.
        """
        cut = self.cut_detector(image)
        if cut:
            self.cuts += 1
        return cut, self.skipper.due(cut)

    def step(self, image: np.ndarray, predicted: np.ndarray | None, cut: bool) -> np.ndarray | None:
        """The ab (2, h, w) to merge with this frame: the latest prediction, smoothed.

        ``predicted`` is the model's ab for this frame (None: reuse the latest); ``cut`` resets the
        smoother first, so colour never carries across a shot change.  The file pipeline calls it
        for every frame with its batch's predictions; live calls it for every shown frame with
        whatever the model thread has finished since.  None until a first prediction exists.
        """
        if cut:
            self.smoother.reset()
        if predicted is not None:
            self._latest = predicted
            self.model_runs += 1
        if self._latest is None:
            return None
        if isinstance(self.smoother, FrameSmoother):
            return self.smoother.follow(self._latest, image, predicted is not None)
        gray = gray_at(image, self._latest.shape[1:]) if self.smoothing else None
        return self.smoother(self._latest, gray)

    def assign(self, frames: Sequence[HasImage], predict: Callable[[list[np.ndarray]], np.ndarray]) -> None:
        """Set ``frame.ab`` on every frame; ``predict`` runs once for all frames that need the model.

        With ``model_size`` set, ``predict`` gets the frames reduced to that size (the same network
        input as the full frames); otherwise the full frames.  With ``hints`` set (a reference's
        ``HintSource``), ``predict`` also gets ``hints=``, one per frame it runs on, and a frame with
        a dense hint map (a reference) takes the map's colours over the smoothed ab where its weight
        holds (``hints.overlay``): ``frame.ab`` then has the map's resolution, finer than the model's.
        """
        reduced = [reduce_frame(f.image, self.model_size or REDUCED_SIZE) for f in frames]
        plan = [self.decide(image) for image in reduced]
        source = reduced if self.model_size else [f.image for f in frames]
        wanted = [image for image, (_, due) in zip(source, plan) if due]
        given: list[Hints | None] = [None] * len(frames)
        if self.hints is not None:
            given = [self.hints(getattr(f, "index", i), image) for i, (f, image) in enumerate(zip(frames, source))]
        guided = [h for h, (_, due) in zip(given, plan) if due]
        if wanted and any(guided):
            predicted = iter(predict(wanted, hints=guided))  # type: ignore[call-arg]
        else:
            predicted = iter(predict(wanted) if wanted else ())
        for frame, image, (cut, due), hints in zip(frames, reduced, plan, given):
            frame.model_ran = due
            if due and hints:
                frame.ab = self._step_guided(image, next(predicted), cut)
            else:
                frame.ab = self.step(image, next(predicted) if due else None, cut)
            if hints and frame.ab is not None:
                # the reference's own colours at their own resolution where they hold (hints.overlay)
                frame.ab = overlay(frame.ab, hints)

    def _step_guided(self, image: np.ndarray, predicted: np.ndarray, cut: bool) -> np.ndarray | None:
        """``step`` for a prediction made with reference hints: the past weighs at most
        ``GUIDED_SMOOTH``.  The hints are carried along an accurate flow already; the smoother's own
        fast flow would otherwise drift the reference's colours away over a pan (issue 26)."""
        strength = self.smoother.strength
        if strength <= GUIDED_SMOOTH:
            return self.step(image, predicted, cut)
        self.smoother.strength = GUIDED_SMOOTH
        try:
            return self.step(image, predicted, cut)
        finally:
            self.smoother.strength = strength
