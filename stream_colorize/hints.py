"""Colour hints: what a user (or a reference photo) says a picture's colours are.

    >>> hints = Hints.of([HintPoint.from_color(120, 80, "#a0522d", radius=6)])
    >>> hints = load_hints(Path("hints.json"))            # {"points": [{"x", "y", "color", "radius"?}]}
    >>> point = parse_hint("120,80,#a0522d")              # the CLI's --hint X,Y,#RRGGBB
    >>> tensor = hint_tensor(hints, (480, 640), 56)       # (3, 56, 56): a, b, mask for the model

A model with a hint input (role ``HINT_ROLE`` in its sidecar) takes three planes at its own grid
(input size / stride on a side): the hinted a and b (CIE Lab units) and a 0/1 mask; all zero is
automatic colourization.  Points are given in the picture's own pixel coordinates; the grid
squashes the picture to a square as the network's input does, so a point lands in the cell that
covers it, a radius (in picture pixels) covers every cell whose centre lies inside it.  Only a
hint's a and b count: the picture's own lightness stays.  Dense hints (``Hints.ab`` with a
weight map) are what a propagated reference gives; points drawn over them win.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import UsageError

HINT_ROLE = "hints"  # the sidecar role of a model's hint input: 3 channels, a, b and mask
MAX_POINTS = 1000  # more than this in one picture is a mistake (a dense map is the way to pass many)
MAX_FILE_BYTES = 1 << 20  # a hints file of MAX_POINTS points is well under 100 kB: refuse before reading more
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def color_to_ab(color: str) -> tuple[float, float]:
    """CIE Lab (a, b) of a ``#RRGGBB`` colour; UsageError for anything else."""
    if not isinstance(color, str) or not _COLOR.fullmatch(color.strip()):
        raise UsageError(f"hint colour {color!r} is not #RRGGBB (for example #a0522d)")
    value = color.strip()[1:]
    rgb = [int(value[i : i + 2], 16) for i in (0, 2, 4)]
    bgr = np.array([[rgb[::-1]]], np.float32) / 255.0
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[0, 0]
    return float(lab[1]), float(lab[2])


@dataclass(frozen=True)
class HintPoint:
    """One hint: the colour (a, b) at picture pixel (x, y), over ``radius`` pixels (0: one grid cell)."""

    x: float
    y: float
    a: float
    b: float
    radius: float = 0.0

    @classmethod
    def from_color(cls, x: float, y: float, color: str, radius: float = 0.0) -> HintPoint:
        """A point from a ``#RRGGBB`` colour."""
        a, b = color_to_ab(color)
        return cls(float(x), float(y), a, b, float(radius))


@dataclass(frozen=True)
class Hints:
    """Hint points and, optionally, a dense hint map (``ab`` (2, H, W) with ``weight`` (H, W), 0..1,
    at any size: it is resampled to the picture)."""

    points: tuple[HintPoint, ...] = ()
    ab: np.ndarray | None = field(default=None, compare=False)
    weight: np.ndarray | None = field(default=None, compare=False)

    @classmethod
    def of(cls, points: Iterable[HintPoint]) -> Hints:
        """Hints of these points (UsageError beyond ``MAX_POINTS``)."""
        listed = tuple(points)
        if len(listed) > MAX_POINTS:
            raise UsageError(f"{len(listed)} hint points are too many: at most {MAX_POINTS} per picture")
        return cls(listed)

    def __bool__(self) -> bool:
        return bool(self.points) or self.ab is not None

    def check_inside(self, width: int, height: int) -> None:
        """UsageError naming the first point outside a ``width`` x ``height`` picture."""
        for point in self.points:
            if not (0 <= point.x < width and 0 <= point.y < height):
                raise UsageError(
                    f"hint point ({point.x:g}, {point.y:g}) lies outside the {width}x{height} picture "
                    f"(x must be 0..{width - 1}, y 0..{height - 1})"
                )


def parse_hint(text: str) -> HintPoint:
    """``X,Y,#RRGGBB`` (optionally ``,RADIUS``) as a point; UsageError naming what is wrong."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (3, 4):
        raise UsageError(f"--hint {text!r} must be X,Y,#RRGGBB (optionally ,RADIUS), for example 120,80,#a0522d")
    try:
        x, y = float(parts[0]), float(parts[1])
        radius = float(parts[3]) if len(parts) == 4 else 0.0
    except ValueError:
        raise UsageError(f"--hint {text!r}: X, Y and RADIUS must be numbers") from None
    if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(radius)) or radius < 0:
        raise UsageError(f"--hint {text!r}: X, Y must be finite and RADIUS 0 or more")
    try:
        return HintPoint.from_color(x, y, parts[2], radius)
    except UsageError as exc:
        raise UsageError(f"--hint {text!r}: {exc}") from None


def _point_from_json(item: object, where: str) -> HintPoint:
    if not isinstance(item, dict):
        raise UsageError(f"{where}: each point must be an object with x, y and color")
    missing = [k for k in ("x", "y", "color") if k not in item]
    if missing:
        raise UsageError(f"{where}: a point lacks {', '.join(missing)}")
    x, y, radius = _finite(item["x"]), _finite(item["y"]), _finite(item.get("radius", 0))
    if x is None or y is None or radius is None:
        raise UsageError(f"{where}: x, y and radius must be finite numbers")
    if radius < 0:
        raise UsageError(f"{where}: radius must be 0 or more")
    try:
        return HintPoint.from_color(x, y, item["color"], radius)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _finite(value: object) -> float | None:
    """A JSON number as a finite float; None for anything else (a bool, a string, NaN, 1e999, 10**400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if np.isfinite(number) else None


def load_hints(path: str | Path) -> Hints:
    """The points of a hints file, ``{"points": [{"x": 120, "y": 80, "color": "#a0522d"}, ...]}``
    (``radius`` optional, in pixels); UsageError for a file that is missing, malformed, empty or
    longer than ``MAX_POINTS``."""
    path = Path(path)
    try:
        size = path.stat().st_size if path.is_file() else 0
        text = path.read_text(encoding="utf-8-sig") if size <= MAX_FILE_BYTES else ""
        data = json.loads(text) if size <= MAX_FILE_BYTES else None
    except FileNotFoundError:
        raise UsageError(f"hints file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"hints file {path} cannot be read: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"hints file {path} is not valid JSON: {exc}") from None
    if size > MAX_FILE_BYTES:
        raise UsageError(f"hints file {path} is {size} bytes: too large for at most {MAX_POINTS} points")
    points = data.get("points") if isinstance(data, dict) else None
    if not isinstance(points, list):
        raise UsageError(f'hints file {path} must hold {{"points": [{{"x": .., "y": .., "color": "#RRGGBB"}}, ...]}}')
    if not points:
        raise UsageError(f"hints file {path} lists no points")
    if len(points) > MAX_POINTS:
        raise UsageError(f"hints file {path} lists {len(points)} points: at most {MAX_POINTS} per picture")
    return Hints(tuple(_point_from_json(item, f"hints file {path}, point {i + 1}") for i, item in enumerate(points)))


def hint_tensor(hints: Hints | None, size: tuple[int, int], side: int) -> np.ndarray:
    """The (3, side, side) float32 a, b, mask planes of ``hints`` for a picture of ``size`` (height,
    width) on the model's ``side`` x ``side`` grid; zeros for no hints."""
    out = np.zeros((3, side, side), np.float32)
    if not hints:
        return out
    height, width = size
    if hints.ab is not None:
        _draw_dense(out, hints.ab, hints.weight, side)
    sx, sy = side / width, side / height
    centres = np.arange(side, dtype=np.float32) + 0.5
    for point in hints.points:
        cx, cy = point.x * sx, point.y * sy
        # A radius beyond the grid covers all of it; clamped, a huge one (1e40) cannot overflow float32.
        rx, ry = min(point.radius * sx, 2.0 * side), min(point.radius * sy, 2.0 * side)
        inside = ((centres[None, :] - cx) / max(rx, 1e-6)) ** 2 + ((centres[:, None] - cy) / max(ry, 1e-6)) ** 2 <= 1
        inside[min(side - 1, int(cy)), min(side - 1, int(cx))] = True  # the cell holding the point, always
        out[0][inside], out[1][inside], out[2][inside] = point.a, point.b, 1.0
    return out


def _draw_dense(out: np.ndarray, ab: np.ndarray, weight: np.ndarray | None, side: int) -> None:
    ab = np.asarray(ab, np.float32)
    w = np.ones(ab.shape[1:], np.float32) if weight is None else np.asarray(weight, np.float32)
    small_w = cv2.resize(w, (side, side), interpolation=cv2.INTER_AREA)
    mass = [cv2.resize(ab[c] * w, (side, side), interpolation=cv2.INTER_AREA) for c in range(2)]
    keep = small_w >= 0.5
    for c in range(2):
        out[c][keep] = mass[c][keep] / small_w[keep]
    out[2][keep] = 1.0


def overlay(ab: np.ndarray, hints: Hints | None) -> np.ndarray:
    """The model's ``ab`` (2, h, w) with a dense hint map's colours laid over it by the map's weight,
    at the map's resolution when that is finer (a carried reference keeps the detail the model's
    grid loses).  A linear blend by the weight: cutting it at 0.25/0.75 or 0.5 measured 0.1 dB
    worse on bench/references.py.  Without a dense map (no hints, points only) ``ab`` as it is."""
    if hints is None or hints.ab is None:
        return ab
    colour = np.asarray(hints.ab, np.float32)
    weight = np.ones(colour.shape[1:], np.float32) if hints.weight is None else np.asarray(hints.weight, np.float32)
    shape = ab.shape[1:] if ab.shape[1] > colour.shape[1] else colour.shape[1:]  # the finer of the two
    colour, weight, base = _planes_at(colour, shape), _planes_at(weight[None], shape)[0], _planes_at(ab, shape)
    return (base + weight * (colour - base)).astype(np.float32)


def _planes_at(planes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(C, h, w) planes bilinearly resampled to ``shape`` (rows, columns), float32."""
    planes = np.asarray(planes, np.float32)
    if planes.shape[1:] == tuple(shape):
        return planes
    size = (int(shape[1]), int(shape[0]))
    return np.stack([cv2.resize(p, size, interpolation=cv2.INTER_LINEAR) for p in planes])


def hint_batch(hints: Sequence[Hints | None], sizes: Sequence[tuple[int, int]], side: int) -> np.ndarray:
    """(N, 3, side, side) hint planes for N pictures of the given (height, width) sizes."""
    if not hints:
        return np.zeros((0, 3, side, side), np.float32)
    return np.stack([hint_tensor(h, s, side) for h, s in zip(hints, sizes)])


def truth_hints(image: np.ndarray, count: int, rng: np.random.Generator, patch: int = 5) -> Hints:
    """``count`` hints a user who knew the colours would give: random pixels of a colour photo (BGR
    or gray uint8), each with the mean true (a, b) of the ``patch`` x ``patch`` pixels around it
    (cut at the picture's edges), radius 0.  For measuring guided colourization (``evaluate``);
    UsageError for a negative count or more than ``MAX_POINTS``."""
    if not 0 <= count <= MAX_POINTS:
        raise UsageError(f"{count} truth hints: give 0 to {MAX_POINTS} a picture")
    if patch < 1:
        raise UsageError(f"the truth hints' patch must be 1 pixel or more, not {patch}")
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[:, :, :3]
    height, width = bgr.shape[:2]
    xs, ys = rng.integers(0, width, count), rng.integers(0, height, count)
    half = patch // 2
    points = []
    for x, y in zip(xs.tolist(), ys.tolist()):
        around = bgr[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1]
        lab = cv2.cvtColor(around.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)
        a, b = lab[:, :, 1:].reshape(-1, 2).mean(0)
        points.append(HintPoint(float(x), float(y), float(a), float(b)))
    return Hints.of(points)


@dataclass(frozen=True)
class Spread:
    """How far a model's sidecar (``hint_spread``) lets point hints reach beyond their own cells.

    Each hinted cell k lends its colour to cell p with weight exp(-d²/2σ² - ΔL²/2λ²), d the
    distance in cells, ΔL the lightness difference; σ = ``reach`` x sqrt(cells per hint), at most
    ``max_cells``, cut at 3σ; λ = ``lightness``.  Cell p takes the weighted mean colour with
    confidence W / (W + ``half``) (W the summed weight) over the network's own.  A network trained
    with few steps follows a hint mostly in its own cell; this carries it over its surroundings of
    the same lightness, as the user meant it.  With ``colour`` (μ, in ab units; 0: off) the weight
    also has exp(-Δab²/2μ²), Δab the difference between the two cells' automatic colours (the
    network's own, unhinted): what the network paints alike is taken as one object, so a hint
    follows the thing it sits on and stops where the network saw another of the same gray.  A dense
    map (more than ``most`` hinted cells: a reference carried along the motion) is taken as it is
    where it hints, the network's colours filling the rest (the cells a moving thing or an
    occlusion left unhinted).
    """

    reach: float = 0.65
    lightness: float = 8.0
    half: float = 0.3
    max_cells: float = 12.0
    colour: float = 0.0
    most: int = 1024

    @classmethod
    def from_sidecar(cls, value: object) -> Spread | None:
        """The sidecar's ``hint_spread`` object (None: the model's own output is kept)."""
        if not isinstance(value, dict):
            return None
        names = ("reach", "lightness", "half", "max_cells", "colour")
        known = {k: float(v) for k, v in value.items() if k in names}
        return cls(**known)  # type: ignore[arg-type]

    def needs_own(self, planes: np.ndarray) -> bool:
        """Whether ``apply`` on these (3, h, w) planes uses the network's unhinted colours."""
        return self.colour > 0 and 0 < int(np.count_nonzero(planes[2] > 0)) <= self.most

    def apply(self, ab: np.ndarray, planes: np.ndarray, light: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
        """``ab`` (2, h, w) with the hints of ``planes`` (3, h, w) spread over ``light`` (h, w, Lab L);
        ``own``: the network's unhinted (2, h, w) ab, for the ``colour`` term (left out: no term)."""
        ys, xs = np.nonzero(planes[2] > 0)
        if len(ys) > self.most:
            return np.where(planes[2:3] > 0, planes[:2], ab).astype(np.float32)
        if not len(ys):
            return ab
        height, width = ab.shape[1:]
        sigma = min(self.max_cells, self.reach * float(np.sqrt(height * width / len(ys))))
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        d2 = (yy[None] - ys[:, None, None]) ** 2 + (xx[None] - xs[:, None, None]) ** 2
        dl = light[None] - light[ys, xs][:, None, None]
        exponent = -d2 / (2 * sigma * sigma) - dl * dl / (2 * self.lightness**2)
        if self.colour > 0 and own is not None:
            dab = ((own[:, None] - own[:, ys, xs][:, :, None, None]) ** 2).sum(0)
            exponent -= dab / (2 * self.colour**2)
        w = np.exp(exponent) * (d2 <= (3 * sigma) ** 2)
        total = w.sum(0)
        mean = np.einsum("kyx,ck->cyx", w, planes[:2, ys, xs]) / np.maximum(total, 1e-6)
        confidence = total / (total + self.half)
        return (confidence * mean + (1 - confidence) * ab).astype(np.float32)
