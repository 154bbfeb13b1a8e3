"""Keyframe references carried through their shot: hint maps for every frame near a coloured one.

    >>> refs = load_references([(0.0, "first_frame.png")])    # references.py: TIME=PHOTO
    >>> keyframes = carry_references(video, refs)            # the first pass over the film
    >>> keyframes(index, image)                              # Hints for frame ``index`` (or None)

A keyframe reference (``time`` set): the photo is the frame at ``time`` in colour.  A first pass over
the video (``carry_references``) decodes gray frames squashed to ``CARRY_SIZE``, finds the
scene cuts as ``Temporal`` does, and carries the photo's ab from its frame forward and backward
through its shot along the gray frames' DIS flow, frame to frame.  The weight (0..1) is carried
too: it drops to 0 where the flow's forward-backward check fails (occlusions, disocclusions,
edges a pan reveals) and falls by ``DECAY`` a frame, so the hint grid (weight >= 0.5,
``hints.hint_tensor``) stops taking the carried colour after about ``REACH_FRAMES`` frames.
The chain of flows drifts: each frame the flow straight from the key frame is tried too, and
wherever it explains the frame better (the key frame's gray brought along it matches this
frame's, ``_lightness_match``) the chain starts again from it.  The weight a frame is given is
the carried weight times that match, so colours that arrived at the wrong place (a head that
turned, scenery passing a window) are left to the model.  The maps are kept at ``CARRY_SIZE``
in uint8 (ab as the merge rounds it, and the weight), 147 kB a frame, at most ``MAP_BUDGET``
bytes (about 1 700 frames; later frames are automatic, with a note); two references in one
shot: each frame takes the nearer one's map.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import UsageError
from .flow import FlowEstimator, consistent, valid_share, warp, working_gray
from .hints import Hints
from .references import CARRY_SIZE, FixedCamera, Reference, check_aspect
from .temporal import DEFAULT_CUT_THRESHOLD, REDUCED_SIZE, SceneCutDetector, reduce_frame

MAP_BUDGET = 256 << 20  # bytes of carried maps kept for a film (about 1 700 frames at 224x224)
REACH_FRAMES = 400  # a carried hint's weight halves over this many frames (then the grid drops it)
DECAY = 0.5 ** (1 / REACH_FRAMES)
# The first pass carries along DIS "medium" at 224x224: on a slow pan across a textured photo, the
# carried ab drifted 8.3 (ultrafast at 112, the smoother's flow) / 1.5 (ultrafast at 224) / 0.9
# (medium at 224) Lab units from the truth after 24 frames; offline, its few ms a frame are affordable.
CARRY_PRESET = "medium"
# The forward-backward check at 224 (flow.consistent's constants are for 112): beta in working
# pixels^2 scaled by 4; the motion-boundary floor raised from 0.05 to 0.2, which kept 95 % of
# carphone's pixels a frame, not 91 %.
CARRY_BETA = 4.0
CARRY_BOUNDARY = 0.2
GRAY_BUDGET = 512 << 20  # bytes of working grays the first pass keeps (about 10 000 frames)
# Carried colour is trusted where the key frame's gray brought along the flow matches the frame's
# (mean |difference| over PHOTO_WINDOW working pixels): fully up to PHOTO_LOW gray levels, not at
# all from PHOTO_HIGH.  On carphone (120 frames, v2 candidate) 6/20 gave +8.2 dB, 10/30 +8.5,
# 16/48 +8.5 (before the straight flow from the key frame, which took it to +8.9).
PHOTO_WINDOW = 5
PHOTO_LOW, PHOTO_HIGH = 10.0, 30.0


class CarriedHints:
    """The hint maps carried from keyframe references, by frame index (a ``HintSource``)."""

    def __init__(self) -> None:
        self.maps: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # index -> (distance, ab, weight)
        self.bytes = 0
        self.full = False  # the budget ran out: later frames are automatic

    def offer(self, index: int, distance: int, ab: np.ndarray, weight: np.ndarray) -> None:
        """Keep this map for ``index`` unless a nearer reference's is kept already."""
        held = self.maps.get(index)
        if held is not None and held[0] <= distance:
            return
        # uint8 as the merge rounds ab anyway (lab.merge_ab): a third of float16's bytes
        packed_ab = np.clip(ab + np.float32(128.5), 0, 255).astype(np.uint8)
        packed_w = np.clip(weight * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)
        entry = (distance, packed_ab, packed_w)
        size = packed_ab.nbytes + packed_w.nbytes
        if held is None and self.bytes + size > MAP_BUDGET:
            self.full = True
            return
        self.bytes += 0 if held is not None else size
        self.maps[index] = entry

    def __call__(self, index: int, image: np.ndarray) -> Hints | None:
        held = self.maps.get(index)
        if held is None:
            return None
        ab = held[1].astype(np.float32) - np.float32(128)
        return Hints(ab=ab, weight=held[2].astype(np.float32) * np.float32(1 / 255))

    def __len__(self) -> int:
        return len(self.maps)


@dataclass
class Pass:
    """What the first pass saw: each frame's time and whether it starts a shot, and the working grays of
    the frames within reach of a reference."""

    times: list[float]
    cuts: list[bool]
    grays: dict[int, np.ndarray]


def first_pass(
    frames: Iterable[tuple[int, float | None, np.ndarray]],
    refs: Sequence[Reference],
    cut_threshold: float = DEFAULT_CUT_THRESHOLD,
    fps: float = 25.0,
    model_size: int = REDUCED_SIZE,
) -> Pass:
    """Read (index, time, gray image) in order: cuts as ``Temporal`` finds them, grays near the references."""
    detector = SceneCutDetector(cut_threshold)
    reach = (REACH_FRAMES + 1) / max(fps, 1e-3)  # seconds: beyond this no carried hint survives
    times_of_refs = [r.time for r in refs if r.time is not None]
    last = max(times_of_refs, default=0.0) + reach
    seen = Pass([], [], {})
    for count, (_, time, image) in enumerate(frames):
        when = float(time) if time is not None else count / fps
        if when > last:
            break
        seen.times.append(when)
        seen.cuts.append(detector(reduce_frame(image, model_size)))
        if any(abs(when - t) <= reach for t in times_of_refs) and len(seen.grays) < GRAY_BUDGET // CARRY_SIZE**2:
            seen.grays[count] = working_gray(image, CARRY_SIZE)
    return seen


def carry(seen: Pass, refs: Sequence[Reference], on_note: Callable[[str], None] | None = None) -> CarriedHints:
    """Carry each keyframe reference's ab through its shot, both ways, along the flow: the hint maps.

    UsageError for a reference time past the last frame."""
    out = CarriedHints()
    if not seen.times:
        raise UsageError("the video has no frames to take references")
    flow = FlowEstimator(CARRY_SIZE, CARRY_PRESET)
    step = (seen.times[-1] - seen.times[0]) / max(1, len(seen.times) - 1) if len(seen.times) > 1 else 0.04
    for ref in sorted((r for r in refs if r.time is not None), key=lambda r: r.time or 0.0):
        assert ref.time is not None
        if ref.time > seen.times[-1] + step:
            raise UsageError(f"reference {ref.name} at {ref.time:g} s is past the end of the video "
                             f"(its last frame is at {seen.times[-1]:.3f} s)")  # fmt: skip
        key = int(np.argmin([abs(t - ref.time) for t in seen.times]))
        ab = ref.ab_at(CARRY_SIZE)
        weight = np.ones((CARRY_SIZE, CARRY_SIZE), np.float32)
        out.offer(key, 0, ab, weight)
        for direction in (1, -1):
            _carry_one_way(seen, out, flow, key, direction, ab, weight)
    if out.full and on_note is not None:
        on_note(f"reference hints kept for {len(out)} frames (the memory budget); later frames are automatic")
    return out


def _carry_one_way(
    seen: Pass, out: CarriedHints, flow: FlowEstimator, key: int, direction: int, ab: np.ndarray, weight: np.ndarray
) -> None:
    """From frame ``key`` towards later (``direction`` 1) or earlier (-1) frames, until the shot ends,
    the grays run out, or the weight is gone.

    What travels is each pixel's position in the key frame (warped frame to frame along the
    flow), not the colour: the reference's ab is sampled once from those positions, so it does not
    blur a little more with every warp."""
    side = weight.shape[0]
    xs, ys = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32))
    identity = np.stack([xs, ys])
    position = identity.copy()
    matcher = FixedCamera(Reference(0.0, cv2.cvtColor(seen.grays[key], cv2.COLOR_GRAY2BGR), "key frame"), side)
    source = np.ascontiguousarray(ab.transpose(1, 2, 0))
    key_gray = seen.grays[key].astype(np.float32)
    key_prepared = flow.prepare(seen.grays[key])
    here = key
    while True:
        there = here + direction
        if there < 0 or there >= len(seen.times) or here not in seen.grays or there not in seen.grays:
            return
        if seen.cuts[there if direction > 0 else here]:  # a shot starts at a cut frame
            return
        motion = flow.between(flow.prepare(seen.grays[here]), flow.prepare(seen.grays[there]))
        valid = consistent(motion.forward, motion.backward, beta=CARRY_BETA, boundary=CARRY_BOUNDARY)
        position = warp(position, motion.backward)
        weight = warp(weight, motion.backward) * valid_share(valid, weight.shape) * np.float32(DECAY)
        # where the picture stands still against the key frame (a fixed camera's background after a
        # person passed in front of it), the reference at the same place holds again
        still = matcher.weight(seen.grays[there])
        back = still > weight
        position[:, back] = identity[:, back]
        weight[back] = still[back]
        # the flow straight from the key frame, where it explains this frame better than the chain
        # of frame-to-frame flows (which drifts): the chain starts again from there
        gray = seen.grays[there]
        direct = flow.between(key_prepared, flow.prepare(gray))
        ok = consistent(direct.forward, direct.backward, beta=CARRY_BETA, boundary=CARRY_BOUNDARY)
        straight = identity + direct.backward.transpose(2, 0, 1)
        match = _lightness_match(key_gray, position, gray)
        straight_match = _lightness_match(key_gray, straight, gray) * ok
        better = straight_match > match + np.float32(0.05)
        position[:, better] = straight[:, better]
        match[better] = straight_match[better]
        weight[better] = np.maximum(weight[better], np.float32(DECAY ** abs(there - key)))
        if float(weight.max()) < 0.5:
            return
        carried = cv2.remap(source, position[0], position[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # offered with the weight times the match: colour that reached the wrong place is the model's
        out.offer(there, abs(there - key), carried.transpose(2, 0, 1), weight * match)
        here = there


def _lightness_match(key_gray: np.ndarray, position: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """0..1: how well the key frame's gray at the carried positions matches this frame's gray."""
    brought = cv2.remap(key_gray, position[0], position[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = cv2.boxFilter(np.abs(brought - gray.astype(np.float32)), -1, (PHOTO_WINDOW, PHOTO_WINDOW))
    return np.clip((PHOTO_HIGH - diff) * np.float32(1 / (PHOTO_HIGH - PHOTO_LOW)), 0.0, 1.0)


def carry_references(
    input: str,
    refs: Sequence[Reference],
    trim: object | None = None,
    cut_threshold: float = DEFAULT_CUT_THRESHOLD,
    model_size: int = REDUCED_SIZE,
    on_note: Callable[[str], None] | None = None,
) -> CarriedHints:
    """The first pass over a video file: its keyframe references carried through their shots."""
    from .io.stream import open_video
    from .io.trim import Trim

    source = open_video(input, copy_kinds=(), trim=trim if isinstance(trim, Trim) else Trim(None, None, None))
    try:
        info = source.info
        check_aspect(refs, info.width, info.height)
        fps = float(info.rate) if info.rate else 25.0
        frames = ((f.index, f.time, f.image) for f in source.frames())
        seen = first_pass(frames, refs, cut_threshold, fps, model_size)
    finally:
        source.close()
    return carry(seen, refs, on_note)
