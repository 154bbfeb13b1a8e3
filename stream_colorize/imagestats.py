"""Numbers that tell a colour photo from a render, a drawing or a gray image; and a perceptual hash.

    >>> stats = image_stats(bgr)          # {'colourfulness': 41.2, 'flat': 0.08, 'colours': 812, ...}
    >>> is_photo(stats)                   # True for a textured, colourful, many-coloured image
    >>> dhash(bgr)                        # 64-bit difference hash for near-duplicate detection

Thresholds were set by looking at the candidates from the Debian packages (contact sheets of
what passes and what fails).
"""

from __future__ import annotations

import cv2
import numpy as np

# A photo has sensor noise and texture almost everywhere, many distinct colours, and colour.
MAX_FLAT_WHOLE = 0.8  # whole photos: smooth skies and bokeh allowed
MAX_FLAT = 0.35  # cut-outs: share of pixels whose fine-detail residual is below half a gray level
MIN_COLORS = 400  # distinct 5-bit colours in a 96x96 thumbnail
MIN_COLORFULNESS = 12.0  # Hasler & Süsstrunk, on 0..255 RGB
MIN_OPAQUE = 0.15  # cut-outs: at least this share of opaque pixels


GRAY_COLORFULNESS = 4.0  # below this an image is treated as black-and-white


def has_colour(image: np.ndarray) -> bool:
    """True when a BGR uint8 image carries colour (a colour original to learn from or measure against)."""
    if image.ndim != 3:
        return False
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    return colorfulness(small) >= GRAY_COLORFULNESS


def colorfulness(bgr: np.ndarray) -> float:
    """Hasler & Süsstrunk's colourfulness metric M of a BGR uint8 image (0 for gray)."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def fit_within(image: np.ndarray, side: int) -> np.ndarray:
    """Shrink an image so its longer side is at most ``side`` (never enlarges)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def image_stats(image: np.ndarray) -> dict[str, float]:
    """Photo-likeness statistics of a BGR or BGRA uint8 image (alpha: only opaque pixels count)."""
    alpha = image[..., 3] if image.shape[2] == 4 else None
    bgr = np.ascontiguousarray(image[..., :3])
    mid = fit_within(bgr, 512)
    mask = None
    if alpha is not None:
        mask = fit_within(np.ascontiguousarray(alpha), 512) > 200
    gray = cv2.cvtColor(mid, cv2.COLOR_BGR2GRAY).astype(np.float32)
    residual = np.abs(gray - cv2.GaussianBlur(gray, (3, 3), 0.8))
    pixels = mid.reshape(-1, 3) if mask is None else mid[mask]
    flat = residual < 0.5 if mask is None else (residual < 0.5)[mask]
    opaque = 1.0 if mask is None else float(mask.mean())
    thumb = cv2.resize(bgr, (96, 96), interpolation=cv2.INTER_AREA)
    if alpha is not None:
        keep = cv2.resize(alpha, (96, 96), interpolation=cv2.INTER_AREA) > 200
        thumb_px = thumb[keep]
    else:
        thumb_px = thumb.reshape(-1, 3)
    codes = thumb_px.astype(np.int32) >> 3
    colors = len(np.unique(codes[:, 0] * 1024 + codes[:, 1] * 32 + codes[:, 2])) if len(codes) else 0
    return {
        "colourfulness": colorfulness(pixels.reshape(-1, 1, 3)) if len(pixels) else 0.0,
        "flat": float(flat.mean()) if flat.size else 1.0,
        "colours": float(colors),
        "opaque": opaque,
        "width": float(image.shape[1]),
        "height": float(image.shape[0]),
    }


def is_photo(stats: dict[str, float], cutout: bool = False) -> bool:
    """True when the statistics look like a real colour photo, or with ``cutout`` a photo cut-out.

    A whole photo may have smooth sky or a blurred background, so it may be fairly flat but must
    hold many colours; a cut-out (transparent background) must be textured throughout.
    """
    if stats["colourfulness"] < MIN_COLORFULNESS:
        return False
    if cutout:
        return (
            stats["flat"] <= MAX_FLAT
            and stats["colours"] >= MIN_COLORS * stats["opaque"]
            and stats["opaque"] >= MIN_OPAQUE
        )
    return stats["opaque"] >= 0.95 and stats["flat"] <= MAX_FLAT_WHOLE and stats["colours"] >= MIN_COLORS


def dhash(image: np.ndarray) -> int:
    """64-bit difference hash of the image's luminance (robust to scale and recompression)."""
    gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()
