"""Reference photos: colour hints a shot takes from a frame someone coloured, or a camera's daytime view.

    >>> refs = load_references([(0.0, "first_frame.png")])            # TIME=PHOTO: that frame in colour
    >>> keyframes = carry_references(video, refs)                    # carry.py: hint maps along the flow
    >>> keyframes(index, image)                                      # Hints for frame ``index`` (or None)
    >>> camera = FixedCamera(load_references([(None, "day.jpg")])[0])   # a fixed camera's snapshot
    >>> camera(index, image)                                         # Hints where the frame matches it

Two kinds, one interface (``HintSource``: ``(frame index, image) -> Hints | None``), which
``Temporal`` consults for each frame (``Temporal.hints``): the model runs with the hints on its
grid, and the map's own colours are then laid over the model's by the map's weight at the map's
resolution (``hints.overlay``; ``CARRY_SIZE``, finer than the model's 56x56 ab).

* **Keyframe** (``time`` set): the photo is the frame at ``time`` in colour; a first pass over
  the video carries its colours through its shot along the flow (``carry.py``).
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
from .flow import working_gray
from .hints import HINT_ROLE, Hints
from .temporal import DEFAULT_CUT_THRESHOLD, REDUCED_SIZE
from .timespec import parse_time

ASPECT_TOLERANCE = 0.03  # relative difference of width/height between photo and video
NCC_WINDOW = 9  # working pixels of the local correlation window (fixed camera)
NCC_LOW, NCC_HIGH = 0.4, 0.7  # correlation where the weight starts to rise, and where it is 1
FLAT_STD = 3.0  # gray levels: a window this smooth in both pictures counts as matching (sky, walls)
CARRY_SIZE = REDUCED_SIZE
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
    from .carry import carry_references  # carry builds on this module's Reference and FixedCamera

    return carry_references(input, refs, trim, cut_threshold, model_size, on_note)
