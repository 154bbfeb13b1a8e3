"""Colorization quality: PSNR and SSIM against the truth, colourfulness, hue agreement, video flicker and warp error.

    >>> report = evaluate_images(colorizer, photos)      # photos: BGR uint8 colour images
    >>> report["psnr"], report["psnr_gray"], report["colourfulness_ratio"]

Each photo is turned gray, colorized, and compared with the original.  The gray baseline is the
same gray photo with ab = 0.  Numpy and OpenCV only: no torch needed.  Photos are measured one at a
time (``images`` may be any iterable, a generator reading them from disk included; only each
photo's figures are kept), and a photo above ``MEASURE_PIXELS`` (3840x2160) is measured on a copy
scaled down to that size with INTER_AREA (``measured``), which bounds the memory a photo costs.

False colour: ``false_colour_rate`` is the share of the truly near-neutral pixels (truth Lab
chroma below ``NEUTRAL_CHROMA``) that the result paints with a chroma above
``FALSE_COLOUR_CHROMA``, pooled over all pixels of all images: a model that prefers gray to a
wrong colour keeps it low.  ``evaluate_guided`` measures a model with a hint input given
``points`` random truth hints a photo (``hints.truth_hints``) against its own automatic result.
Flicker and warp error of video live in ``video_metrics.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from .errors import MediaError, UsageError
from .hints import HINT_ROLE, hint_tensor, truth_hints
from .imagestats import colorfulness
from .lab import MergeMethod, merge_ab

HUE_SIDE = 256  # hue agreement is counted on images scaled to this longest side
HUE_MIN_CHROMA = 10.0  # a truth pixel "has colour" from this Lab chroma on
HUE_PAINTED_CHROMA = 3.0  # a result pixel is "painted" from this chroma on (below it has no hue)
HUE_TOLERANCE = 45.0  # degrees
WARM_HUES = (15.0, 75.0)  # Lab hue angles of skin, wood, sand and brick
NEUTRAL_CHROMA = 6.0  # a truth pixel is near-neutral (gray, white, black) below this Lab chroma
FALSE_COLOUR_CHROMA = 12.0  # a result pixel over a near-neutral truth pixel is false colour above this
HINT_PATCH = 5  # a truth hint's colour: the mean ab of this many pixels square around its point
MEASURE_PIXELS = 3840 * 2160  # larger photos are measured on a copy scaled down to this many pixels


def measured(image: np.ndarray) -> np.ndarray:
    """``image``, or above MEASURE_PIXELS a copy scaled down (INTER_AREA, aspect kept) to at most that."""
    height, width = image.shape[:2]
    if height * width <= MEASURE_PIXELS:
        return image
    scale = (MEASURE_PIXELS / (height * width)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _chroma(image: np.ndarray) -> np.ndarray:
    """Float CIE Lab chroma of each pixel of a BGR (or gray) uint8 image."""
    if image.ndim == 2:
        return np.zeros(image.shape, np.float32)
    lab = cv2.cvtColor(image[:, :, :3].astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)
    return np.hypot(lab[..., 1], lab[..., 2])


def false_colour_counts(result: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """(falsely coloured, near-neutral, all) pixel counts of one BGR pair at the truth's size.

    A truth pixel with chroma below NEUTRAL_CHROMA is near-neutral; it is falsely coloured when
    the result there has a chroma above FALSE_COLOUR_CHROMA.
    """
    if result.shape[:2] != truth.shape[:2]:
        raise ValueError(f"result {result.shape[:2]} and truth {truth.shape[:2]} differ in size")
    neutral = _chroma(truth) < NEUTRAL_CHROMA
    painted = _chroma(result) > FALSE_COLOUR_CHROMA
    return int((neutral & painted).sum()), int(neutral.sum()), int(neutral.size)


def hue_counts(result: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(agreeing, coloured, agreeing warm, coloured warm) pixel counts of one BGR pair.

    A truth pixel with Lab chroma >= HUE_MIN_CHROMA counts as coloured; it agrees when the result
    there is painted (chroma >= HUE_PAINTED_CHROMA) with a hue within HUE_TOLERANCE degrees of the
    truth's.  Warm pixels are those whose true hue lies in WARM_HUES (faces fall there).
    """
    scale = HUE_SIDE / max(truth.shape[:2])
    if scale < 1:
        size = (max(1, round(truth.shape[1] * scale)), max(1, round(truth.shape[0] * scale)))
        result = cv2.resize(result, size, interpolation=cv2.INTER_AREA)
        truth = cv2.resize(truth, size, interpolation=cv2.INTER_AREA)

    def hue_chroma(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lab = cv2.cvtColor(img.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)
        return np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360, np.hypot(lab[..., 1], lab[..., 2])

    hue_t, chroma_t = hue_chroma(truth)
    hue_r, chroma_r = hue_chroma(result)
    colored = chroma_t >= HUE_MIN_CHROMA
    diff = np.abs((hue_r - hue_t + 180) % 360 - 180)
    agree = colored & (chroma_r >= HUE_PAINTED_CHROMA) & (diff <= HUE_TOLERANCE)
    warm = colored & (hue_t >= WARM_HUES[0]) & (hue_t <= WARM_HUES[1])
    return int(agree.sum()), int(colored.sum()), int((agree & warm).sum()), int(warm.sum())


def psnr(result: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (inf when identical)."""
    # cv2.norm sums in double without float64 copies of the images.
    mse = cv2.norm(result, truth, cv2.NORM_L2SQR) / result.size
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def ssim(result: np.ndarray, truth: np.ndarray) -> float:
    """Mean structural similarity (Gaussian window 11, sigma 1.5), averaged over the channels.

    One channel at a time in float32, centred on 128 so that the variances (E[x^2] - E[x]^2) keep
    their precision: within 1e-5 of the float64 computation on photos, at a sixth of its memory.
    """
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x = result.reshape(result.shape[0], result.shape[1], -1)
    y = truth.reshape(truth.shape[0], truth.shape[1], -1)
    scores = []

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), 1.5)

    for ch in range(x.shape[2]):
        a = x[:, :, ch].astype(np.float32) - np.float32(128)
        b = y[:, :, ch].astype(np.float32) - np.float32(128)
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a * mu_a
        var_b = blur(b * b) - mu_b * mu_b
        cov = blur(a * b) - mu_a * mu_b
        del a, b
        mu_a += np.float32(128)
        mu_b += np.float32(128)
        num = (2 * mu_a * mu_b + np.float32(c1)) * (2 * cov + np.float32(c2))
        den = (mu_a * mu_a + mu_b * mu_b + np.float32(c1)) * (var_a + var_b + np.float32(c2))
        scores.append(float(np.mean(num / den, dtype=np.float64)))
    return float(np.mean(scores))


def to_gray(image: np.ndarray) -> np.ndarray:
    """The black-and-white version a user would feed: BGR -> gray uint8."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


class PairAccumulator:
    """Metrics of result/truth pairs added one at a time: only each pair's figures and pixel counts
    are kept, so any number of photos costs the memory of one.

        >>> acc = PairAccumulator()
        >>> for result, truth in pairs:
        ...     acc.add(result, truth)
        >>> acc.report(names)          # what ``evaluate_pairs`` returns
    """

    def __init__(self) -> None:
        self.rows: list[tuple[float, ...]] = []
        self.falses: list[tuple[int, int, int]] = []
        self.hues = np.zeros(4, np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, result: np.ndarray, truth: np.ndarray) -> None:
        """Measure one colorized ``result`` against its colour ``truth`` (BGR uint8, same size)."""
        self.hues += hue_counts(result, truth)
        self.falses.append(false_colour_counts(result, truth))
        baseline = merge_ab(to_gray(truth), np.zeros((2, 8, 8), np.float32))
        self.rows.append(
            (
                psnr(result, truth),
                psnr(baseline, truth),
                ssim(result, truth),
                ssim(baseline, truth),
                colorfulness(result),
                colorfulness(truth),
            )
        )

    def report(self, names: Iterable[str] | None = None) -> dict:
        """The report of every pair added (see ``evaluate_pairs``); MediaError when none was.
        ``names`` is read here, at the end, so a list filled while the photos were read works."""
        if not self.rows:
            raise MediaError("no images to evaluate")
        arr = np.array(self.rows, np.float64)
        finite = np.where(np.isinf(arr), 100.0, arr)  # identical images: count PSNR as 100 dB
        mean = finite.mean(0)
        hues = self.hues
        report: dict = {
            "images": len(self.rows),
            "psnr": float(mean[0]),
            "psnr_gray": float(mean[1]),
            "psnr_gain": float(mean[0] - mean[1]),
            "ssim": float(mean[2]),
            "ssim_gray": float(mean[3]),
            "colourfulness": float(mean[4]),
            "colourfulness_truth": float(mean[5]),
            "colourfulness_ratio": float(mean[4] / mean[5]) if mean[5] > 0 else float("nan"),
            # Pooled over all pixels of all images: share of coloured truth pixels painted with their hue.
            "hue_agreement": float(hues[0] / hues[1]) if hues[1] else float("nan"),
            "hue_agreement_warm": float(hues[2] / hues[3]) if hues[3] else float("nan"),
            **_false_colour(np.array(self.falses, np.int64).sum(0)),
        }
        if names is not None:
            keys = ("psnr", "psnr_gray", "ssim", "ssim_gray", "colourfulness", "colourfulness_truth")
            table = [{"name": n, **dict(zip(keys, map(float, row))), "psnr_gain": float(row[0] - row[1]),
                      **_false_colour(counts)}
                     for n, row, counts in zip(list(names), finite, self.falses)]  # fmt: skip
            report["per_image"] = sorted(table, key=lambda r: r["psnr_gain"])
        return report


def evaluate_pairs(
    results: Iterable[np.ndarray], truths: Iterable[np.ndarray], names: Iterable[str] | None = None
) -> dict:
    """Metrics of already colorized results against their colour originals, pair by pair (both
    may be generators: nothing is held but each pair's figures).

    With ``names``, the report also holds ``per_image``: one row per photo, worst PSNR gain first
    (a few near-gray photos given bold colours can sink the mean PSNR; this shows which).
    """
    acc = PairAccumulator()
    for result, truth in zip(results, truths):
        acc.add(result, truth)
    return acc.report(names)


def _false_colour(counts) -> dict[str, float]:
    """``false_colour_rate`` and ``neutral_share`` of (false, neutral, all) counts; NaN for none."""
    false, neutral, total = (int(c) for c in counts)
    return {
        "false_colour_rate": false / neutral if neutral else float("nan"),
        "neutral_share": neutral / total if total else float("nan"),
    }


def evaluate_images(colorizer, images: Iterable[np.ndarray], names: Iterable[str] | None = None) -> dict:
    """Colorize the gray version of each colour photo and measure it against the photo, one photo
    at a time (``images``: any iterable; one above MEASURE_PIXELS is measured scaled down, see
    ``measured``; ``names``: also report each photo, see ``evaluate_pairs``, read at the end)."""
    acc = PairAccumulator()
    for image in images:
        truth = measured(image)
        del image
        acc.add(colorizer.colorize([to_gray(truth)])[0], truth)
    return acc.report(names)


def hint_side(colorizer) -> int | None:
    """The side of the model's hint grid (input size / the hint input's stride), None for a model
    without a hint input (role ``hints.HINT_ROLE``)."""
    for item in colorizer.spec.inputs:
        if item.role == HINT_ROLE:
            return int(colorizer.input_size // item.stride)
    return None


def evaluate_guided(
    colorizer, images: Iterable[np.ndarray], points: int, seed: int = 0, names: Iterable[str] | None = None
) -> dict[str, Any]:
    """Guided against automatic colourization of the gray version of each colour photo, one photo
    at a time (``images``: any iterable; large photos measured scaled down, as ``evaluate_images``).

    Each photo gets ``points`` truth hints (``hints.truth_hints``: random pixels, each with the
    mean true ab of the HINT_PATCH x HINT_PATCH pixels around it, one grid cell), drawn from one
    generator seeded with ``seed``, so a run repeats.  Returns ``automatic`` and ``guided`` (each
    an ``evaluate_pairs`` report), ``points``, ``seed``, and the guided result's gain over the
    automatic one: ``psnr_gain_over_automatic`` (dB), ``ssim_gain_over_automatic`` and
    ``false_colour_change`` (rate guided - automatic).  UsageError for a model without a hint input.
    """
    side = hint_side(colorizer)
    if side is None:
        raise UsageError(
            f"model '{colorizer.spec.name}' takes no colour hints (no input with the role {HINT_ROLE!r}); "
            "guided evaluation needs a model with a hint input"
        )
    rng = np.random.default_rng(seed)
    merge: MergeMethod = getattr(colorizer, "merge", "u8")
    automatic, guided = PairAccumulator(), PairAccumulator()
    for image in images:
        truth = measured(image)
        del image
        gray = to_gray(truth)
        planes = hint_tensor(truth_hints(truth, points, rng, HINT_PATCH), gray.shape[:2], side)
        automatic.add(merge_ab(gray, colorizer.predict_ab([gray])[0], merge), truth)
        guided.add(merge_ab(gray, colorizer.predict_ab([gray], {HINT_ROLE: planes[None]})[0], merge), truth)
    kept = None if names is None else list(names)
    auto_report = automatic.report(kept)
    guided_report = guided.report(kept)
    return {
        "points": int(points),
        "seed": int(seed),
        "automatic": auto_report,
        "guided": guided_report,
        "psnr_gain_over_automatic": guided_report["psnr"] - auto_report["psnr"],
        "ssim_gain_over_automatic": guided_report["ssim"] - auto_report["ssim"],
        "false_colour_change": guided_report["false_colour_rate"] - auto_report["false_colour_rate"],
    }


def format_report(report: dict[str, Any]) -> str:
    """Human-readable lines of an evaluation report."""
    lines = [
        f"images            {int(report['images'])}",
        f"PSNR              {report['psnr']:.2f} dB  (gray baseline {report['psnr_gray']:.2f} dB, "
        f"{report['psnr_gain']:+.2f} dB against it)",
        f"SSIM              {report['ssim']:.4f}  (gray baseline {report['ssim_gray']:.4f})",
        f"colourfulness     {report['colourfulness']:.1f}  (truth {report['colourfulness_truth']:.1f}, "
        f"ratio {report['colourfulness_ratio']:.2f})",
    ]
    if "hue_agreement" in report:
        lines.append(
            f"hue within 45°    {_percent(report['hue_agreement']).strip()} of coloured pixels  "
            f"(warm ones, faces: {_percent(report['hue_agreement_warm']).strip()})"
        )
    if "false_colour_rate" in report:
        lines.append(_false_colour_line(report))
    if report.get("per_image"):
        lines.append("per photo, worst PSNR gain first:  gain dB   gray dB   colourfulness ours/truth   false colour")
        for row in report["per_image"]:
            lines.append(f"  {row['name'][:30]:30s}   {row['psnr_gain']:+6.2f}    {row['psnr_gray']:6.2f}    "
                         f"{row['colourfulness']:5.1f} / {row['colourfulness_truth']:5.1f}        "
                         f"{_percent(row.get('false_colour_rate', float('nan')))}")  # fmt: skip
    if "flicker" in report:
        lines.append(
            f"flicker           {report['flicker']:.3f} ab/frame  (footage {report['flicker_truth']:.3f}, "
            f"{int(report['frames'])} frames)"
        )
    if "warp_error" in report:
        truth = report["warp_error_truth"]
        ratio = f", {report['warp_error'] / truth:.2f} x" if truth > 0 else ""
        lines.append(f"warp error        {report['warp_error']:.3f} ab  (footage {truth:.3f}{ratio})")
    return "\n".join(lines)


def _percent(value: float) -> str:
    return "   -" if not np.isfinite(value) else f"{value * 100:3.0f} %"


def _false_colour_line(report: dict[str, Any]) -> str:
    rate, share = report["false_colour_rate"], report["neutral_share"]
    if not np.isfinite(rate):
        return "false colour      - (no near-neutral pixels in the truth)"
    return (
        f"false colour      {rate * 100:.1f} % of near-neutral pixels painted (chroma > {FALSE_COLOUR_CHROMA:g}; "
        f"{share * 100:.0f} % of the truth is near-neutral, chroma < {NEUTRAL_CHROMA:g})"
    )


def format_guided(report: dict[str, Any]) -> str:
    """Human-readable lines of an ``evaluate_guided`` report: the guided metrics and the gain."""
    lines = [
        f"hints             {int(report['points'])} truth points a photo (seed {int(report['seed'])})",
        format_report(report["guided"]),
        f"gain over automatic  {report['psnr_gain_over_automatic']:+.2f} dB PSNR "
        f"({report['automatic']['psnr']:.2f} -> {report['guided']['psnr']:.2f}), "
        f"SSIM {report['ssim_gain_over_automatic']:+.4f}",
    ]
    change = report["false_colour_change"]
    if np.isfinite(change):
        lines[-1] += f", false colour {change * 100:+.1f} points"
    return "\n".join(lines)
