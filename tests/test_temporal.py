"""Frame skipping, ab smoothing and scene-cut detection."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stream_colorize.smoothers import AbSmoother
from stream_colorize.temporal import FrameSkipper, SceneCutDetector, Temporal


@dataclass
class F:
    image: np.ndarray
    ab: np.ndarray | None = None
    model_ran: bool = False


def shot(seed: int, n: int, drift: int = 1) -> list[np.ndarray]:
    noise = np.random.default_rng(seed).integers(0, 255, (60, 80)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 4)
    base = cv2.normalize(smooth, None, 20, 230, cv2.NORM_MINMAX).astype(np.uint8)  # a picture-like shot
    return [np.roll(base, k * drift, axis=1) for k in range(n)]


def test_skipper_every_n_and_after_cut() -> None:
    s = FrameSkipper(3)
    assert [s.due() for _ in range(7)] == [True, False, False, True, False, False, True]
    s = FrameSkipper(3)
    assert [s.due(cut) for cut in (False, False, True, False)] == [True, False, True, False]


def test_smoother_ema_and_reset() -> None:
    sm = AbSmoother(0.5)
    a, b = np.zeros((2, 4, 4), np.float32), np.full((2, 4, 4), 8, np.float32)
    assert sm(a).max() == 0
    assert np.allclose(sm(b), 4) and np.allclose(sm(b), 6)
    sm.reset()
    assert np.allclose(sm(a), 0)
    assert np.allclose(AbSmoother(0.0)(b), 8)


def test_cut_detector_sees_cuts_not_motion_or_fades() -> None:
    det = SceneCutDetector()
    first, second = shot(1, 10), shot(2, 10)
    flags = [det(img) for img in first + second]
    assert flags[0] and flags[10]
    assert sum(flags) == 2
    fade = [np.clip(first[0].astype(int) + k * 6, 0, 255).astype(np.uint8) for k in range(8)]
    det.reset()
    assert sum(det(img) for img in fade) == 1


def test_temporal_reuses_and_resets_at_cut() -> None:
    images = shot(1, 5) + shot(2, 5)
    frames = [F(img) for img in images]
    calls: list[int] = []

    def predict(batch):
        calls.append(len(batch))
        return np.stack([np.full((2, 4, 4), float(img.mean()), np.float32) for img in batch])

    t = Temporal(skip=4, smooth=0.5)
    t.assign(frames, predict)
    assert calls == [4]  # frames 0, 4, 5 (cut) and 9: one batched call
    assert [f.model_ran for f in frames] == [True, False, False, False, True, True, False, False, False, True]
    # at the cut the colour is the new shot's alone: nothing bleeds over from the previous shot
    assert np.allclose(frames[5].ab, images[5].mean())
    # between runs the smoother eases towards the latest prediction
    assert np.allclose(frames[1].ab, frames[0].ab)
    assert t.model_runs == 4


def test_smoothing_holds_still_areas_and_follows_moving_ones() -> None:
    from stream_colorize.smoothers import AbSmoother

    smoother = AbSmoother(strength=0.97, motion_scale=20.0)
    gray = np.full((4, 4), 100.0, np.float32)
    smoother(np.zeros((2, 4, 4), np.float32), gray)
    moved = gray.copy()
    moved[:, 2:] = 180.0  # the right half changes: something moved there
    out = smoother(np.full((2, 4, 4), 40.0, np.float32), moved)
    assert np.allclose(out[:, :, :2], 0.03 * 40.0, atol=1e-4)  # still: the past weighs 0.97
    assert (out[:, :, 2:] > 38.0).all()  # moving: follows the new colour at once
    smoother.reset()
    assert np.allclose(smoother(np.full((2, 4, 4), 7.0, np.float32), gray), 7.0)  # after a cut: no past
