"""Colour over time: flicker and the warp error of colorized video against the footage's own.

    >>> report = evaluate_video(colorizer, "clip.mp4")    # image metrics plus 'flicker', 'warp_error'
    >>> warp_errors(grays, result_frames, truth_frames)   # [output's, footage's own]

Two measures of colour over time: ``flicker`` (mean |Δab| between consecutive frames, which
also counts colour that moves with the picture) and ``warp_error``, the measure of video
colourization papers: mean |Δab| between a frame and the previous frame warped along the optical
flow, the flow computed on the gray frames (OpenCV DIS "medium" at ``WARP_SIZE``, slower and
finer than the smoother's), counted only where the forward and backward flows agree.  Both are
reported for the output and for the colour footage itself; the footage's own warp error is the
floor (interpolation, lighting, flow errors).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import MediaError
from .evaluate import evaluate_pairs, to_gray
from .flow import FlowEstimator, warp, working_gray
from .frames import Frame
from .imagestats import has_colour
from .lab import frame_ab, merge_ab

FLICKER_SIZE = 64
WARP_SIZE = 128  # the warp error's grid: flow and ab at 128x128
WARP_PRESET = "medium"


def flicker(frames: Iterable[np.ndarray]) -> float:
    """Mean |delta ab| between consecutive frames (ab at 64x64), in Lab units."""
    prev = None
    total, count = 0.0, 0
    for frame in frames:
        ab = frame_ab(frame, FLICKER_SIZE)
        if prev is not None:
            total += float(np.abs(ab - prev).mean())
            count += 1
        prev = ab
    return total / count if count else float("nan")


def warp_errors(grays: Iterable[np.ndarray], *videos: Iterable[np.ndarray]) -> list[float]:
    """The warp error of each of ``videos`` (BGR frames), all along the flow of ``grays``.

    For each pair of consecutive frames: the previous frame's ab (at ``WARP_SIZE``) warped along
    the backward flow of the gray frames, its mean |Δab| from the frame's own, over the pixels
    where forward and backward flow agree; pooled over the whole clip, in Lab units.  NaN for a
    video of fewer than two frames.
    """
    flow = FlowEstimator(WARP_SIZE, WARP_PRESET)
    totals, counts = np.zeros(len(videos)), 0
    previous: tuple[np.ndarray, list[np.ndarray]] | None = None
    for gray, *frames in zip(grays, *videos):
        current = (working_gray(gray, WARP_SIZE, fast=False), [frame_ab(f, WARP_SIZE) for f in frames])
        if previous is not None:
            motion = flow.between(previous[0], current[0])
            for i, (before, now) in enumerate(zip(previous[1], current[1])):
                totals[i] += float(np.abs(now - warp(before, motion.backward)).mean(axis=0)[motion.valid].sum())
            counts += int(motion.valid.sum())
        previous = current
    return [float(t / counts) if counts else float("nan") for t in totals]


def read_video_frames(path: str | Path, max_frames: int = 300, spread: bool = False) -> list[np.ndarray]:
    """Up to ``max_frames`` decoded BGR frames of a video (the pipeline's source): the first ones,
    or with ``spread`` every Nth so they cover the whole video.  MediaError when none decode."""
    from .io.stream import open_video

    with open_video(path, color=True, copy_kinds=()) as source:
        total = source.info.frames or 0
        step = (max(1, total // max_frames) if total else 5) if spread else 1
        frames: list[np.ndarray] = []
        for frame in source.frames():
            if frame.index % step == 0:
                frames.append(frame.image)
                if len(frames) >= max_frames:
                    source.stop()
                    break
    if not frames:
        raise MediaError(f"video {path} has no frames")
    return frames


def evaluate_video(colorizer, path: str | Path, max_frames: int = 300, temporal=None) -> dict[str, float]:
    """Flicker and warp error of the colorized gray footage vs the footage's own, plus the image metrics.

    ``temporal``: an optional ``stream_colorize.temporal.Temporal`` (the pipeline's smoothing and
    scene cuts); without it, each frame is colorized on its own.
    """
    frames = read_video_frames(path, max_frames)
    if not any(has_colour(frame) for frame in frames[:: max(1, len(frames) // 12)]):
        raise MediaError(f"{path} is black and white: evaluation compares against colour footage")
    grays = [to_gray(f) for f in frames]
    if temporal is not None:
        items = [Frame(i, g) for i, g in enumerate(grays)]
        temporal.assign(items, colorizer.predict_ab)
        ab = [item.ab for item in items if item.ab is not None]
    else:
        ab = [colorizer.predict_ab([g])[0] for g in grays]
    results = [merge_ab(g, a) for g, a in zip(grays, ab)]
    report = evaluate_pairs(results, frames)
    report["frames"] = len(frames)
    report["flicker"] = flicker(results)
    report["flicker_truth"] = flicker(frames)
    report["warp_error"], report["warp_error_truth"] = warp_errors(grays, results, frames)
    return report
