"""The 313 quantized ab bins and the annealed-mean decoding of a distribution over them.

    >>> centres = load_bins()                      # (313, 2) float32, a and b
    >>> ab = annealed_mean(logits, centres, 0.38)  # logits: (N, 313, H, W) -> (N, 2, H, W)

Zhang et al. quantize ab with a grid of step 10 and keep the 313 in-gamut cells; their file
``pts_in_hull.npy`` cannot be fetched here, so ``compute_gamut_bins`` derives a set of our own
with the same rule: the 313 grid points nearest to the ab projection of the sRGB gamut.  A model
trained with one set must be decoded with the same set, so every model records which one it uses.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from .errors import ModelError

NUM_BINS = 313
GRID_STEP = 10.0
_DATA = Path(__file__).parent / "data"
OUR_BINS_FILE = _DATA / "ab_bins_313.npy"

# D65 white and the linear-sRGB matrix, as in IEC 61966-2-1.
_WHITE = np.array([0.950456, 1.0, 1.088754])
_XYZ_TO_RGB = np.array(
    [[3.240479, -1.53715, -0.498535], [-0.969256, 1.875991, 0.041556], [0.055648, -0.204043, 1.057311]]
)


def _lab_to_linear_rgb(lab: np.ndarray) -> np.ndarray:
    """Unclipped CIE Lab -> linear sRGB, so out-of-gamut colours stay visible as <0 or >1."""
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    delta = 6.0 / 29.0

    def finv(t: np.ndarray) -> np.ndarray:
        return np.where(t > delta, t**3, 3 * delta * delta * (t - 4.0 / 29.0))

    xyz = np.stack([finv(fx), finv(fy), finv(fz)], -1) * _WHITE
    return xyz @ _XYZ_TO_RGB.T


def compute_gamut_bins(step: float = GRID_STEP, count: int = NUM_BINS) -> np.ndarray:
    """Derive ``count`` ab bin centres: grid points nearest to the sRGB gamut's ab footprint."""
    ab_axis = np.arange(-128.0, 128.0, 1.0)
    a, b = np.meshgrid(ab_axis, ab_axis, indexing="ij")
    in_gamut = np.zeros(a.shape, bool)
    for lightness in np.linspace(0.0, 100.0, 201):
        lab = np.stack([np.full_like(a, lightness), a, b], -1)
        rgb = _lab_to_linear_rgb(lab)
        in_gamut |= np.all((rgb >= 0.0) & (rgb <= 1.0), -1)
    footprint = np.stack([a[in_gamut], b[in_gamut]], -1)
    axis = np.arange(-11, 12) * step
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    dist = np.sqrt(((grid[:, None, :] - footprint[None, :, :]) ** 2).sum(-1)).min(1)
    order = np.lexsort((grid[:, 1], grid[:, 0], dist))  # nearest first, ties in (a, b) order
    chosen = grid[np.sort(order[:count])]
    return chosen.astype(np.float32)


@cache
def load_bins(path: str | None = None) -> np.ndarray:
    """Load bin centres as a (313, 2) float32 array: ours by default, or a ``pts_in_hull.npy``."""
    source = Path(path) if path else OUR_BINS_FILE
    try:
        centres = np.load(source).astype(np.float32).reshape(-1, 2)
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise ModelError(f"{source}: not a .npy file of {NUM_BINS} (a, b) bin centres ({exc})") from exc
    if centres.shape[0] != NUM_BINS or not np.isfinite(centres).all():
        raise ModelError(f"{source}: expected {NUM_BINS} finite (a, b) bin centres, found {centres.shape[0]}")
    return centres


def annealed_mean(logits: np.ndarray, centres: np.ndarray, temperature: float) -> np.ndarray:
    """Decode (N, Q, H, W) logits to (N, 2, H, W) ab: the mean of softmax(logits / T) over bins."""
    z = logits.astype(np.float32) / np.float32(temperature)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return np.einsum("nqhw,qc->nchw", z, centres, optimize=True).astype(np.float32)


if __name__ == "__main__":  # regenerate the shipped file: python -m stream_colorize.bins
    np.save(OUR_BINS_FILE, compute_gamut_bins())
    print(f"wrote {OUR_BINS_FILE}")
