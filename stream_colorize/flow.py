"""Dense optical flow between consecutive frames at a small working size, its check, and warping.

    >>> flow = FlowEstimator()                         # OpenCV's DIS, preset "ultrafast", 112x112
    >>> motion = flow.between(flow.prepare(previous), flow.prepare(current))
    >>> carried = warp(ab_previous, motion.backward)   # the previous frame's ab on the current grid
    >>> trust = valid_share(motion.valid, carried.shape[1:])   # 1 where the flow can be trusted

A frame is squashed to a square working size (``FLOW_SIZE``, about the model's own resolution):
the model's ab is square too, so a flow on that grid lines up with it, and at 112x112 DIS costs
a fraction of a millisecond each way.  ``between`` computes the flow both ways; a pixel of the
current frame is ``valid`` when following the backward flow to the previous frame and the
forward flow back lands where it started (within ``CONSISTENCY_ALPHA`` of the flows' length plus
``CONSISTENCY_BETA``), the previous position lies inside the picture, and it is not on a motion
boundary (``BOUNDARY_BETA``).  It fails where the pixel was hidden in the previous frame
(disoccluded: behind a moving person, at an edge a pan reveals), where the flow is unreliable,
and nearly everywhere at a cut.

``warp`` samples values (ab, gray, anything with rows and columns) at ``x + flow(x)``: with the
backward flow that carries the previous frame's values onto the current frame's grid.  The flow
is rescaled to the values' own resolution, so ab at 56x56 follows a flow computed at 112x112.
Nothing here starts threads (OpenCV parallelises DIS with its own pool) or keeps a frame beyond
the call; ``temporal.FlowSmoother`` and ``video_metrics.warp_errors`` hold the previous frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

# Working side: 2x the model's ab (56), half its input (224); DIS ultrafast ~0.2 ms both ways.
# Smoothing the bundled model's output on vtest.avi, carphone and two camera moves, 112 gave the
# lowest warp error; 80, 160 and 224 were no better (224: 0.81 x the footage's on a pan, not 0.72).
FLOW_SIZE = 112
# Forward-backward check (Sundaram et al., ECCV 2010): |f + b|^2 < alpha (|f|^2 + |b|^2) + beta,
# beta in working pixels^2; motion boundaries where |grad b|^2 > 0.01 |b|^2 + BOUNDARY_BETA.  A
# stricter boundary (0.01) let vtest.avi's warp error up to 1.21 x the footage's from 1.04 x
# (flow noise on its flat pavement); without one, the band a square moving 4 working pixels a
# frame uncovers passes the check.
CONSISTENCY_ALPHA = 0.05
CONSISTENCY_BETA = 1.0
BOUNDARY_BETA = 0.05
PRESETS = {
    "ultrafast": cv2.DISOpticalFlow_PRESET_ULTRAFAST,
    "fast": cv2.DISOpticalFlow_PRESET_FAST,
    "medium": cv2.DISOpticalFlow_PRESET_MEDIUM,
}


@dataclass(frozen=True)
class Motion:
    """The flow between two frames on the working grid, in working pixels (x, y)."""

    forward: np.ndarray  # (h, w, 2) float32: previous -> current, on the previous frame's grid
    backward: np.ndarray  # (h, w, 2) float32: current -> previous, on the current frame's grid
    valid: np.ndarray  # (h, w) bool on the current frame's grid: where both flows agree


def working_gray(image: np.ndarray, size: int, fast: bool = True) -> np.ndarray:
    """A gray or BGR frame (any size, uint8 or float) as uint8 gray squashed to (size, size).

    ``fast``: a frame more than 4x the size on a side is first shrunk bilinearly to 4x, then
    area-averaged (each pixel still the mean of 16 samples): an area resize at an odd ratio costs
    1.9 ms at 720p, this 0.2 ms, on a live frame that waits for it.  Off: one area resize.
    """
    if fast and max(image.shape[:2]) > 4 * size:
        image = cv2.resize(image, (4 * size, 4 * size), interpolation=cv2.INTER_LINEAR)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.shape != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)


class FlowEstimator:
    """Dense optical flow (OpenCV DIS) both ways between two prepared frames, with the consistency mask.

    ``size`` is the working side in pixels; ``preset`` one of ``PRESETS`` (``ultrafast`` for
    smoothing, a slower one where accuracy matters more than time, as in ``evaluate``).
    """

    def __init__(self, size: int = FLOW_SIZE, preset: str = "ultrafast") -> None:
        if size < 16:
            raise ValueError("the flow's working size must be at least 16 pixels")
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.size = int(size)
        self._dis = cv2.DISOpticalFlow.create(PRESETS[preset])

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The frame as the flow wants it: uint8 gray at (size, size)."""
        return working_gray(image, self.size)

    def between(self, previous: np.ndarray, current: np.ndarray) -> Motion:
        """The flow from ``previous`` to ``current`` and back (both from ``prepare``), and where they agree."""
        # None, not an array to fill: DIS reads a given array (uninitialised memory crashed it).
        # The stubs want an array, hence the ignores.
        forward = np.asarray(self._dis.calc(previous, current, None))  # type: ignore[call-overload]
        backward = np.asarray(self._dis.calc(current, previous, None))  # type: ignore[call-overload]
        return Motion(forward, backward, consistent(forward, backward))


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) of a grid, float32: the identity map of ``cv2.remap``."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    xs.flags.writeable = ys.flags.writeable = False  # shared between calls
    return xs, ys


def rescale_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``flow`` (h, w, 2) resampled to ``shape`` (rows, columns), its vectors scaled to match."""
    height, width = shape
    if flow.shape[:2] == (height, width):
        return flow
    shrink = height < flow.shape[0] and width < flow.shape[1]
    resized = cv2.resize(flow, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    resized[..., 0] *= width / flow.shape[1]
    resized[..., 1] *= height / flow.shape[0]
    return resized


def warp(values: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``values`` sampled at ``x + flow(x)``: (c, h, w) channels first, or (h, w); float32 out.

    With a backward flow (current -> previous) this carries the previous frame's values onto the
    current frame's grid.  ``flow`` may be at another resolution (it is rescaled); positions
    outside the picture take the nearest edge value.
    """
    planar = values.ndim == 3
    shape = values.shape[1:] if planar else values.shape
    flow = rescale_flow(flow, (shape[0], shape[1]))
    xs, ys = _grid(shape[0], shape[1])
    map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
    source = np.ascontiguousarray(values.transpose(1, 2, 0) if planar else values, dtype=np.float32)
    out = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if planar:
        out = out.reshape(shape[0], shape[1], -1).transpose(2, 0, 1)
    return np.ascontiguousarray(out)


def consistent(
    forward: np.ndarray,
    backward: np.ndarray,
    alpha: float = CONSISTENCY_ALPHA,
    beta: float = CONSISTENCY_BETA,
    boundary: float = BOUNDARY_BETA,
) -> np.ndarray:
    """Where the backward flow (current grid) and the forward flow at its target agree: (h, w) bool.

    False too where the backward flow leads outside the previous frame, and on motion boundaries
    (``|grad b|^2 > 0.01 |b|^2 + boundary``): DIS spreads an object's motion a few pixels
    into its surroundings in both directions alike, so the band it uncovers passes the round
    trip, but not this.
    """
    height, width = backward.shape[:2]
    xs, ys = _grid(height, width)
    target_x, target_y = xs + backward[..., 0], ys + backward[..., 1]
    there = cv2.remap(forward, target_x, target_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    length = _squared(backward)
    agree = _squared(backward + there) < alpha * (length + _squared(there)) + beta
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    grad_x = cv2.Sobel(backward, cv2.CV_32F, 1, 0, ksize=1, scale=0.5)  # central differences
    grad_y = cv2.Sobel(backward, cv2.CV_32F, 0, 1, ksize=1, scale=0.5)
    steep = _squared(grad_x) + _squared(grad_y) > 0.01 * length + boundary
    return agree & inside & ~steep


def _squared(vectors: np.ndarray) -> np.ndarray:
    """|v|^2 of (h, w, 2) vectors (a sum over the last axis of 2 is slow in numpy)."""
    x, y = vectors[..., 0], vectors[..., 1]
    return x * x + y * y


def valid_share(valid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The mean of a mask (bool, or weights in [0, 1]) under each pixel of a grid of ``shape``: float32 in [0, 1]."""
    weights = valid.astype(np.float32, copy=False)
    if weights.shape == shape:
        return weights
    return cv2.resize(weights, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
