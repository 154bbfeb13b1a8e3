"""Reference photos: colour hints a shot takes from a frame someone coloured, or a camera's daytime view.

    >>> refs = load_references([(0.0, "first_frame.png")])            # TIME=PHOTO: that frame in colour
    >>> keyframes = carry_references(video, refs, info)              # first pass: hint maps along the flow
    >>> keyframes(index, image)                                      # Hints for frame ``index`` (or None)
    >>> camera = FixedCamera(load_references([(None, "day.jpg")])[0])   # a fixed camera's snapshot
    >>> camera(index, image)                                         # Hints where the frame matches it

Two kinds, one interface (``HintSource``: ``(frame index, image) -> Hints | None``), which
``Temporal`` consults for each frame (``Temporal.hints``): the model runs with the hints on its
grid, and the map's own colours are then laid over the model's by the map's weight at the map's
resolution (``hints.overlay``; ``CARRY_SIZE``, finer than the model's 56x56 ab).

* **Keyframe** (``time`` set): the photo is the frame at ``time`` in colour.  A first pass over
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
* **Fixed camera** (``time`` None): the photo is a colour snapshot of the same view.  Each frame
  is compared with the photo's gray by local normalized correlation over ``NCC_WINDOW`` pixels
  at ``CARRY_SIZE`` (insensitive to an infrared camera's different brightness and contrast);
  where the structure matches (or both are flat) the photo's ab is a hint and its colour, where
  it differs (a person, a car) the model colours.

Shots without a reference stay automatic.  The photo may have any size: it is resized to the
frame, so its aspect ratio must be the video's (within ``ASPECT_TOLERANCE``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import MediaError, UsageError
from .flow import FlowEstimator, consistent, valid_share, warp, working_gray
from .hints import HINT_ROLE, Hints
from .temporal import DEFAULT_CUT_THRESHOLD, REDUCED_SIZE, SceneCutDetector, reduce_frame
from .timespec import parse_time

MAP_BUDGET = 256 << 20  # bytes of carried maps kept for a film (about 1 700 frames at 224x224)
REACH_FRAMES = 400  # a carried hint's weight halves over this many frames (then the grid drops it)
DECAY = 0.5 ** (1 / REACH_FRAMES)
ASPECT_TOLERANCE = 0.03  # relative difference of width/height between photo and video
NCC_WINDOW = 9  # working pixels of the local correlation window (fixed camera)
NCC_LOW, NCC_HIGH = 0.4, 0.7  # correlation where the weight starts to rise, and where it is 1
FLAT_STD = 3.0  # gray levels: a window this smooth in both pictures counts as matching (sky, walls)
# The first pass carries along DIS "medium" at 224x224: on a slow pan across a textured photo, the
# carried ab drifted 8.3 (ultrafast at 112, the smoother's flow) / 1.5 (ultrafast at 224) / 0.9
# (medium at 224) Lab units from the truth after 24 frames; offline, its few ms a frame are affordable.
CARRY_SIZE = REDUCED_SIZE
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
ERODE = 3  # working pixels: a mismatch spreads this far, so a moving thing's edge is not hinted

Photo = np.ndarray | str | os.PathLike[str]
ReferenceArg = tuple[float | None, Photo]


class HintSource(Protocol):
    """Hints for one frame of a stream, by its index and its image (gray or BGR, any size)."""

    def __call__(self, index: int, image: np.ndarray) -> Hints | None: ...


@dataclass(frozen=True)
class Reference:
    """A reference photo: BGR uint8, ``time`` in seconds (None: a fixed camera's view), ``name`` for messages."""

    time: float | None
    photo: np.ndarray
    name: str

    def ab_at(self, side: int) -> np.ndarray:
        """The photo's (2, side, side) ab, squashed to a square as frames are."""
        small = cv2.resize(self.photo, (side, side), interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(small.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)
        return np.ascontiguousarray(lab[:, :, 1:].transpose(2, 0, 1))


def parse_reference(text: str) -> tuple[float | None, str]:
    """``TIME=PHOTO`` (a keyframe) or ``PHOTO`` (a fixed camera's view), as ``--reference`` takes them."""
    time_part, sep, photo = str(text).partition("=")
    if not sep:
        return None, text
    if not photo:
        raise UsageError(f"--reference {text!r}: give TIME=PHOTO (for example 0=first.png) or PHOTO")
    return parse_time(time_part, f"--reference {text!r}: TIME"), photo


def load_references(items: Iterable[ReferenceArg]) -> list[Reference]:
    """Each (time or None, photo path or BGR/gray uint8 array) as a ``Reference``; UsageError or
    MediaError for a bad time, a missing or unreadable photo, or more than one fixed-camera view."""
    refs = []
    for i, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise UsageError(f"reference {i + 1}: give (time in seconds or None, photo path or array)")
        time, photo = item
        if time is not None and (isinstance(time, bool) or not isinstance(time, int | float) or not time >= 0
                                 or not np.isfinite(time)):  # fmt: skip
            raise UsageError(f"reference {i + 1}: time must be seconds >= 0 or None, not {time!r}")
        refs.append(Reference(None if time is None else float(time), *_photo(photo, i + 1)))
    if sum(r.time is None for r in refs) > 1:
        raise UsageError("give one fixed-camera reference (PHOTO without TIME), not several")
    if any(r.time is None for r in refs) and len(refs) > 1:
        raise UsageError("a fixed-camera reference (PHOTO) and keyframe references (TIME=PHOTO) exclude each other")
    return refs


def _photo(photo: Photo, number: int) -> tuple[np.ndarray, str]:
    if isinstance(photo, np.ndarray):
        if photo.dtype != np.uint8 or photo.ndim not in (2, 3) or photo.size == 0:
            raise UsageError(f"reference {number}: the photo must be a BGR (H, W, 3) uint8 array")
        image = cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR) if photo.ndim == 2 else photo[:, :, :3]
        return np.ascontiguousarray(image), f"reference {number}"
    path = Path(photo)
    if not path.is_file():
        raise UsageError(f"reference photo {path} does not exist")
    from .photo import read_photo  # photo I/O: 16-bit, EXIF orientation, size ceiling

    try:
        return read_photo(path).preview, str(path)
    except MediaError as exc:
        raise MediaError(f"reference photo {path}: {exc}") from None


def check_aspect(refs: Sequence[Reference], width: int, height: int) -> None:
    """UsageError for a photo whose aspect ratio is not the video's (``width`` x ``height``)."""
    want = width / height
    for ref in refs:
        got = ref.photo.shape[1] / ref.photo.shape[0]
        if abs(got - want) > ASPECT_TOLERANCE * want:
            h, w = ref.photo.shape[:2]
            raise UsageError(
                f"reference photo {ref.name} is {w}x{h} (aspect {got:.3f}); the video is {width}x{height} "
                f"(aspect {want:.3f}): give the same picture, at any size"
            )


def check_model_takes_hints(spec: object) -> None:
    """UsageError unless the model (a ``ModelSpec``) has a colour-hint input."""
    inputs = getattr(spec, "inputs", ())
    if not any(getattr(i, "role", None) == HINT_ROLE for i in inputs):
        name = getattr(spec, "name", "?")
        raise UsageError(f"--reference needs a model with a colour-hint input; model '{name}' has none "
                         "(use the default model, or standin-hints for tests)")  # fmt: skip


# -- fixed camera -------------------------------------------------------------------------------


class FixedCamera:
    """Hints from a fixed camera's colour snapshot wherever a frame's local structure matches it."""

    def __init__(self, reference: Reference, size: int | None = None, detail: int | None = None) -> None:
        size = CARRY_SIZE if size is None else size
        self.size = size
        self.reference = reference
        self._checked: tuple[int, int] | None = None  # the frame size whose aspect ratio was checked
        self.detail = CARRY_SIZE if detail is None else detail
        self.ab = reference.ab_at(self.detail)
        gray = working_gray(reference.photo, size).astype(np.float32)
        self._mean, self._std, self._centred = _local_stats(gray)

    def weight(self, image: np.ndarray) -> np.ndarray:
        """(size, size) float32 in 0..1: how far ``image``'s structure matches the snapshot's."""
        gray = working_gray(image, self.size).astype(np.float32)
        mean, std, centred = _local_stats(gray)
        window = (NCC_WINDOW, NCC_WINDOW)
        cov = cv2.boxFilter(centred * self._centred, -1, window, borderType=cv2.BORDER_REFLECT)
        ncc = cov / np.maximum(std * self._std, 1e-3)
        weight = np.clip((ncc - NCC_LOW) / (NCC_HIGH - NCC_LOW), 0.0, 1.0)
        flat_here, flat_there = std < FLAT_STD, self._std < FLAT_STD
        weight[flat_here & flat_there] = 1.0
        weight[flat_here ^ flat_there] = 0.0
        return cv2.erode(weight, np.ones((ERODE, ERODE), np.uint8))

    def __call__(self, index: int, image: np.ndarray) -> Hints | None:
        """Hints for a full frame (its aspect ratio checked against the photo's once: live learns
        the size only from the frames) or for its square reduction."""
        height, width = image.shape[:2]
        if height != width and self._checked != (height, width):
            check_aspect([self.reference], width, height)
            self._checked = (height, width)
        weight = self.weight(image)
        if weight.shape != self.ab.shape[1:]:
            weight = cv2.resize(weight, self.ab.shape[:0:-1], interpolation=cv2.INTER_LINEAR)
        return Hints(ab=self.ab, weight=weight)


def _local_stats(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local mean, standard deviation and the picture minus its local mean, over ``NCC_WINDOW``."""
    window = (NCC_WINDOW, NCC_WINDOW)
    mean = cv2.boxFilter(gray, -1, window, borderType=cv2.BORDER_REFLECT)
    centred = gray - mean
    var = cv2.boxFilter(centred * centred, -1, window, borderType=cv2.BORDER_REFLECT)
    return mean, np.sqrt(np.maximum(var, 0.0)), centred


# -- keyframes carried through their shot -------------------------------------------------------


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


def hint_source(
    input: str,
    refs: Sequence[Reference],
    width: int,
    height: int,
    trim: object | None = None,
    cut_threshold: float = DEFAULT_CUT_THRESHOLD,
    model_size: int = REDUCED_SIZE,
    on_note: Callable[[str], None] | None = None,
) -> HintSource | None:
    """The ``HintSource`` of a film's references: a fixed camera's, or the keyframes' carried maps."""
    if not refs:
        return None
    check_aspect(refs, width, height)
    if refs[0].time is None:
        return FixedCamera(refs[0])
    return carry_references(input, refs, trim, cut_threshold, model_size, on_note)
