"""Colour-space work: the network's L input, and the merge of predicted ab with full-size L.

    >>> blob = network_input([frame], 224)        # (1, 1, 224, 224) float32, L - 50
    >>> out = merge_ab(frame, ab[0])               # BGR uint8 at the frame's own size
    >>> planes = merge_ab_i420(frame, ab[0])       # or the encoder's yuv420p planes, (H * 3 / 2, W)

Frames are uint8, either gray (H, W) or BGR (H, W, 3).  Two merge paths exist: ``"u8"`` works in
OpenCV's 8-bit Lab (L scaled to 0..255, a and b offset by 128) and is several times cheaper at
high resolution; ``"float"`` works in float32 Lab.  ``bench/engine.py`` measures both and the
colour difference between them.  ``merge_ab_i420`` gives what the u8 merge followed by OpenCV's
BGR -> yuv420p conversion gives, without the full-size BGR frame (see its docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

MergeMethod = Literal["u8", "float"]
L_MEAN = 50.0


def _gray_to_l8_table() -> np.ndarray:
    """8-bit Lab L of the neutral sRGB colour (g, g, g), for every gray level g."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(1, 256, 3)
    return cv2.cvtColor(ramp, cv2.COLOR_BGR2Lab)[0, :, 0].copy()


def _gray_to_l_table() -> np.ndarray:
    """Float Lab L (0..100) of the neutral sRGB colour (g, g, g), for every gray level g."""
    ramp = np.repeat(np.arange(256, dtype=np.float32) / 255.0, 3).reshape(1, 256, 3)
    return cv2.cvtColor(ramp, cv2.COLOR_BGR2Lab)[0, :, 0].copy()


_GRAY_TO_L8 = _gray_to_l8_table()
_GRAY_TO_L = _gray_to_l_table()


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Return ``frame`` as uint8 gray (H, W) or BGR (H, W, 3); raise ValueError otherwise."""
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise ValueError(f"frames must be gray (H, W) or BGR (H, W, 3), got shape {frame.shape}")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError("empty frame")
    return frame


def lightness(frame: np.ndarray) -> np.ndarray:
    """Float32 L (0..100) of a gray or BGR uint8 frame, at the frame's size."""
    frame = check_frame(frame)
    if frame.ndim == 2:
        return cv2.LUT(frame, _GRAY_TO_L)
    lab = cv2.cvtColor(frame.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)
    return lab[:, :, 0]


def network_input(frames: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Stack frames into the network's (N, 1, size, size) blob of L - 50.

    Resizing comes before the Lab conversion: the network needs L only at its own size.
    """
    blob = np.empty((len(frames), 1, size, size), np.float32)
    for i, frame in enumerate(frames):
        frame = check_frame(frame)
        small = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
        blob[i, 0] = lightness(small) - L_MEAN
    return blob


def _max_chroma_table(hue_steps: int = 120, max_chroma: int = 150) -> np.ndarray:
    """Largest in-gamut sRGB chroma for each integer L (0..100) and hue step: (101, hue_steps)."""
    from .bins import _lab_to_linear_rgb

    hue = np.arange(hue_steps) * (2 * np.pi / hue_steps)
    chroma = np.arange(max_chroma + 1, dtype=np.float64)
    light = np.arange(101, dtype=np.float64)
    lab = np.stack(
        np.broadcast_arrays(
            light[:, None, None],
            chroma[None, None, :] * np.cos(hue)[None, :, None],
            chroma[None, None, :] * np.sin(hue)[None, :, None],
        ),
        -1,
    )
    rgb = _lab_to_linear_rgb(lab)
    inside = np.all((rgb >= -1e-6) & (rgb <= 1 + 1e-6), -1)
    # Walk out from the neutral axis: the first chroma that leaves the gamut ends the ray.
    return (np.cumprod(inside, axis=-1).sum(-1) - 1).clip(0).astype(np.float32)


def _load_max_chroma() -> np.ndarray:
    """The table of ``_max_chroma_table`` as shipped in ``data/max_chroma.npy`` (computing it
    costs a third of a second of start-up; a test keeps the file equal to the computation), or
    computed where the file is missing or damaged."""
    try:
        table = np.load(Path(__file__).resolve().parent / "data" / "max_chroma.npy")
    except (OSError, ValueError):
        table = None
    if table is None or table.shape != (101, 120):
        return _max_chroma_table()
    return table.astype(np.float32)


_MAX_CHROMA = _load_max_chroma()


def limit_to_gamut(ab: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Shrink ab (2, h, w) where it is out of the sRGB gamut for the local L (h, w, 0..100).

    An out-of-gamut colour is clipped per channel on the way to RGB, which shifts its lightness:
    dark greys would turn into lighter reds.  Limiting chroma at model resolution keeps the
    film's tonality and costs next to nothing (56 x 56 pixels).
    """
    a, b = ab[0], ab[1]
    chroma = np.hypot(a, b)
    steps = _MAX_CHROMA.shape[1]
    hue = np.rint(np.arctan2(b, a) * (steps / (2 * np.pi))).astype(np.int64) % steps
    row = np.clip(np.rint(light), 0, 100).astype(np.int64)
    limit = _MAX_CHROMA[row, hue]
    scale = np.minimum(1.0, limit / np.maximum(chroma, 1e-6)).astype(np.float32)
    return ab * scale[None]


def _upsample_ab(ab: np.ndarray, width: int, height: int) -> np.ndarray:
    """(2, h, w) ab -> (H, W, 2) ab, bilinear."""
    ab_hwc = np.ascontiguousarray(ab.transpose(1, 2, 0))
    return cv2.resize(ab_hwc, (width, height), interpolation=cv2.INTER_LINEAR)


def merge_ab(frame: np.ndarray, ab: np.ndarray, method: MergeMethod = "u8") -> np.ndarray:
    """Combine the frame's own L with ``ab`` (2, h, w, Lab units) into a BGR uint8 frame."""
    frame = check_frame(frame)
    height, width = frame.shape[:2]
    if method == "float":
        big_ab = _upsample_ab(ab.astype(np.float32), width, height)
        lab = np.dstack([lightness(frame), big_ab])
        bgr = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
        return np.clip(bgr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if method != "u8":
        raise ValueError(f"unknown merge method {method!r}")
    if frame.ndim == 2:
        l8 = cv2.LUT(frame, _GRAY_TO_L8)  # ~4x faster than numpy indexing at 1080p, and GIL-free
    else:
        l8 = cv2.cvtColor(frame, cv2.COLOR_BGR2Lab)[:, :, 0]
    # Offset and saturate at model resolution (cheap), then upsample the 8-bit planes.
    small = np.clip(ab + 128.0 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    ab8 = cv2.resize(np.ascontiguousarray(small), (width, height), interpolation=cv2.INTER_LINEAR)
    lab8 = cv2.merge([l8, ab8[:, :, 0], ab8[:, :, 1]])
    return cv2.cvtColor(lab8, cv2.COLOR_Lab2BGR)


MERGE_BAND_PIXELS = 1 << 20  # merge_ab_16 works on bands of about this many pixels


def merge_ab_16(frame: np.ndarray, ab: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Like :func:`merge_ab` for a 16-bit gray or BGR frame: float Lab, BGR uint16 out (BGRA with
    ``alpha``, a uint16 plane of the frame's size, as the fourth channel).

    Scans of old prints often come at 16 bits per channel; merging in float keeps their tonal
    steps instead of collapsing them to 256 levels.  The frame is merged in bands of rows into
    the one uint16 output, so the float temporaries stay a few MB whatever the photo's size (done
    whole, they cost ~80 bytes a pixel: 8.5 GB for 108 megapixels); ab is upsampled as
    ``cv2.resize`` (INTER_LINEAR) upsamples it whole.
    """
    if frame.dtype != np.uint16:
        raise ValueError(f"merge_ab_16 needs a uint16 frame, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    height, width = frame.shape[:2]
    out = np.empty((height, width, 3 if alpha is None else 4), np.uint16)
    if alpha is not None:
        out[:, :, 3] = alpha
    if height < ab.shape[1]:  # smaller than the model's output: cheap whole, and resize's own rules
        _merge_16_band(frame, _upsample_ab(ab.astype(np.float32), width, height), out[:, :, :3])
        return out
    small = np.ascontiguousarray(ab.astype(np.float32).transpose(1, 2, 0))  # (h, w, 2)
    # INTER_LINEAR is separable: each output row blends two rows of the horizontally resized ab.
    wide = cv2.resize(small, (width, small.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(-1, width, 2)
    top, bottom, weight = _linear_rows(small.shape[0], height)
    band = max(1, MERGE_BAND_PIXELS // width)
    for start in range(0, height, band):
        rows = slice(start, min(start + band, height))
        w = weight[rows, None, None]
        band_ab = wide[top[rows]] * (np.float32(1) - w) + wide[bottom[rows]] * w
        _merge_16_band(frame[rows], band_ab, out[rows, :, :3])
    return out


def _merge_16_band(frame: np.ndarray, ab: np.ndarray, out: np.ndarray) -> None:
    """The float Lab merge of uint16 ``frame`` rows with their ab (rows, W, 2), into ``out`` (rows, W, 3)."""
    scaled = frame.astype(np.float32) * np.float32(1 / 65535)
    bgr = cv2.cvtColor(scaled, cv2.COLOR_GRAY2BGR) if scaled.ndim == 2 else scaled
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)
    lab[:, :, 1:] = ab
    color = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
    out[...] = np.clip(color * np.float32(65535) + np.float32(0.5), 0, 65535)


def _linear_rows(small: int, big: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``big`` output rows, the two of ``small`` input rows INTER_LINEAR blends and the
    second one's weight: half-pixel centres, clamped at the edges (OpenCV's rule)."""
    scale = 1.0 / (big / small)  # OpenCV's arithmetic: the inverse of the inverse scale, in double
    pos = ((np.arange(big, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    top = np.floor(pos).astype(np.int64)
    weight = pos - top.astype(np.float32)
    weight[top < 0] = 0
    top = np.clip(top, 0, small - 1)
    bottom = np.minimum(top + 1, small - 1)
    return top, bottom, weight


def frame_ab(frame: np.ndarray, size: int) -> np.ndarray:
    """The true (2, size, size) ab of a colour frame at a given size (for training and metrics)."""
    frame = check_frame(frame)
    if frame.ndim == 2:
        return np.zeros((2, size, size), np.float32)
    small = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)
    return np.ascontiguousarray(lab[:, :, 1:].transpose(2, 0, 1))


# -- the u8 merge straight into yuv420p ----------------------------------------------------------
#
# The encoder takes Y at full size and U, V at half size.  OpenCV's BGR -> I420 conversion (which
# the encoder used on the u8 merge's BGR frame) takes U and V from the top-left pixel of each 2 x 2
# block, in BT.601 studio range with 20-bit fixed-point coefficients.  Each of Y, U and V is a
# function of the pixel's 8-bit Lab (L, a, b): tabulated once for every L and for a and b on a grid
# of ``_AB_STEP``, it is read back per pixel by cv2.remap, exact in L and bilinear in (a, b), which
# vary slowly (the model's 56 x 56 upsampled).  Table layout: row = b node, column = L * nodes + a
# node, so bilinear interpolation along a column never mixes two L values.  Against the old path
# on film frames with the bundled model's colours: |dY| <= 3, |dU|, |dV| <= 2 levels (mean 0.2-0.3);
# where ab lies outside the gamut for the local L, the old path clips R, G and B one by one and the
# interpolation across that kink errs more (bench/engine.py's saturated sweep, not gamut-limited:
# up to 6 / 10 levels at a few pixels, 99.9 % within 4).  0.6-0.9x the time for gray input (no
# full-size Lab -> BGR, the merge's largest part; bench/engine.py --skip-forward).

_AB_STEP = 4
_AB_NODES = 256 // _AB_STEP + 1  # 0, 4, ..., 256: the last stands for 255
# BT.601 studio range, as OpenCV's RGB -> YUV 4:2:0 computes it (shift 20, round half up).
_YUV_SHIFT = 20
_YUV_ROWS = np.array(
    [[269484, 528482, 102760, 16], [-155188, -305135, 460324, 128], [460324, -385875, -74448, 128]], np.int64
)


def bgr_to_yuv_studio(bgr: np.ndarray) -> np.ndarray:
    """BT.601 studio-range (Y, U, V) of BGR uint8 pixels (..., 3), per pixel (no subsampling),
    exactly as OpenCV's BGR -> I420 conversion computes each sample."""
    b, g, r = (bgr[..., i].astype(np.int64) for i in range(3))
    half = 1 << (_YUV_SHIFT - 1)
    out = [
        (kr * r + kg * g + kb * b + (offset << _YUV_SHIFT) + half) >> _YUV_SHIFT
        for kr, kg, kb, offset in _YUV_ROWS.tolist()
    ]
    return np.clip(np.stack(out, -1), 0, 255).astype(np.uint8)


_TABLES: dict[str, np.ndarray] = {}


def _yuv_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U and V tables, (nodes, 256 * nodes) uint8 each: the colour of every 8-bit L with a
    and b on the grid, through OpenCV's 8-bit Lab -> BGR (built once, ~20 ms).  One table per
    plane: cv2.remap of a one-channel uint8 image is twice as fast as of a two-channel one."""
    if not _TABLES:
        nodes = _AB_NODES
        ab = np.minimum(np.arange(nodes) * _AB_STEP, 255).astype(np.uint8)
        lab = np.empty((nodes, 256, nodes, 3), np.uint8)  # [b node, L, a node]
        lab[..., 0] = np.arange(256, dtype=np.uint8)[None, :, None]
        lab[..., 1] = ab[None, None, :]
        lab[..., 2] = ab[:, None, None]
        bgr = cv2.cvtColor(lab.reshape(nodes, 256 * nodes, 3), cv2.COLOR_Lab2BGR)
        yuv = bgr_to_yuv_studio(bgr)
        for i, plane in enumerate("yuv"):
            _TABLES[plane] = np.ascontiguousarray(yuv[..., i])
    return _TABLES["y"], _TABLES["u"], _TABLES["v"]


_GRAY_TO_COLUMN = _GRAY_TO_L8.astype(np.float32) * np.float32(_AB_NODES)
_L8_TO_COLUMN = np.arange(256, dtype=np.float32) * np.float32(_AB_NODES)


def merge_ab_i420(frame: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """The u8 merge of ``frame`` (gray or BGR uint8, even width and height) with ``ab`` (2, h, w)
    as yuv420p planes in one array (H * 3 / 2, W): Y, then U and V at half size (the layout of
    OpenCV's COLOR_BGR2YUV_I420 and of ``av.VideoFrame.from_ndarray(..., "yuv420p")``).

    Matches ``cv2.cvtColor(merge_ab(frame, ab), cv2.COLOR_BGR2YUV_I420)`` within rounding (see
    the table notes above) without making the full-size BGR frame.
    """
    frame = check_frame(frame)
    height, width = frame.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs an even width and height, got {width}x{height}")
    tables = _yuv_tables()
    if frame.ndim == 2:
        column = cv2.LUT(frame, _GRAY_TO_COLUMN)
    else:
        column = cv2.LUT(cv2.cvtColor(frame, cv2.COLOR_BGR2Lab)[:, :, 0], _L8_TO_COLUMN)
    # ab as the u8 merge rounds it at model size, in grid nodes; upsampled as that merge does.
    nodes = np.clip(ab + 128.0 + 0.5, 0, 255).astype(np.uint8).astype(np.float32) * np.float32(1 / _AB_STEP)
    a_node = cv2.resize(np.ascontiguousarray(nodes[0]), (width, height), interpolation=cv2.INTER_LINEAR)
    b_node = cv2.resize(np.ascontiguousarray(nodes[1]), (width, height), interpolation=cv2.INTER_LINEAR)
    x = cv2.add(column, a_node)
    planes = np.empty((height * 3 // 2, width), np.uint8)
    half = (width // 2, height // 2)
    targets = [planes[:height], *(planes[height:].reshape(2, half[1], half[0]))]
    # U and V: the top-left pixel of each 2 x 2 block, as OpenCV's conversion samples them
    # (OpenCV's nearest-neighbour halving takes the even rows and columns).
    maps = [(x, b_node)] + [tuple(cv2.resize(m, half, interpolation=cv2.INTER_NEAREST) for m in (x, b_node))] * 2
    for table, (map_x, map_y), target in zip(tables, maps, targets):
        cv2.remap(table, map_x, map_y, cv2.INTER_LINEAR, dst=target, borderMode=cv2.BORDER_REPLICATE)
    return planes
