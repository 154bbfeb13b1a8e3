"""Colour-space helpers and the 313-bin decoding, on known inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stream_colorize.bins import NUM_BINS, annealed_mean, compute_gamut_bins, load_bins
from stream_colorize.lab import frame_ab, lightness, merge_ab, network_input


def test_network_input_is_l_minus_50_at_model_size() -> None:
    gray = np.full((37, 91), 255, np.uint8)
    blob = network_input([gray, np.zeros((5, 5), np.uint8)], 224)
    assert blob.shape == (2, 1, 224, 224) and blob.dtype == np.float32
    assert np.allclose(blob[0], 50.0, atol=0.1)  # white: L = 100
    assert np.allclose(blob[1], -50.0, atol=0.1)  # black: L = 0


def test_gray_and_bgr_inputs_give_the_same_lightness() -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (40, 60), dtype=np.uint8)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    assert np.abs(lightness(gray) - lightness(bgr)).max() < 0.01


@pytest.mark.parametrize("method", ["u8", "float"])
def test_merge_keeps_lightness_and_applies_ab(method: str) -> None:
    gray = np.tile(np.linspace(40, 220, 64).astype(np.uint8), (48, 1))
    neutral = merge_ab(gray, np.zeros((2, 7, 7), np.float32), method)
    assert neutral.shape == (48, 64, 3)
    assert np.abs(neutral.astype(int) - gray[:, :, None]).max() <= 2  # ab = 0 stays gray
    reddish = merge_ab(gray, np.stack([np.full((7, 7), 40.0), np.full((7, 7), 20.0)]).astype(np.float32), method)
    assert (reddish[:, :, 2].astype(int) - reddish[:, :, 1]).mean() > 30  # red above green
    l_out = lightness(reddish)
    assert np.abs(l_out - lightness(gray))[:, 8:-8].mean() < 3.0  # lightness is the input's


def test_u8_and_float_merges_agree_within_a_few_delta_e() -> None:
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (90, 120), dtype=np.uint8)
    ab = rng.uniform(-60, 60, (2, 14, 14)).astype(np.float32)
    a = cv2.cvtColor(merge_ab(gray, ab, "u8").astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    b = cv2.cvtColor(merge_ab(gray, ab, "float").astype(np.float32) / 255, cv2.COLOR_BGR2Lab)
    delta_e = np.sqrt(((a - b) ** 2).sum(-1))
    assert delta_e.mean() < 1.5


def test_frame_ab_recovers_a_known_color() -> None:
    lab = np.zeros((8, 8, 3), np.float32)
    lab[:] = (60.0, 30.0, -20.0)
    bgr = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR) * 255 + 0.5, 0, 255).astype(np.uint8)
    ab = frame_ab(bgr, 4)
    assert ab.shape == (2, 4, 4)
    assert abs(ab[0].mean() - 30) < 2 and abs(ab[1].mean() + 20) < 2


@pytest.mark.parametrize(
    "frame", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4), np.uint8)]
)
def test_bad_frames_are_refused(frame: np.ndarray) -> None:
    with pytest.raises(ValueError):
        network_input([frame], 32)


def test_shipped_bins_match_their_derivation() -> None:
    shipped = load_bins()
    assert shipped.shape == (NUM_BINS, 2)
    assert np.array_equal(shipped, compute_gamut_bins())
    assert np.all(shipped % 10 == 0)


def test_annealed_mean_decodes_peaks_and_flattens_with_temperature() -> None:
    centres = load_bins()
    logits = np.zeros((1, NUM_BINS, 2, 2), np.float32)
    logits[0, 17] = 50.0  # a sharp peak on bin 17
    ab = annealed_mean(logits, centres, 0.38)
    assert np.allclose(ab[0, :, 0, 0], centres[17], atol=1e-3)
    flat = annealed_mean(np.zeros((1, NUM_BINS, 1, 1), np.float32), centres, 0.38)
    assert np.allclose(flat[0, :, 0, 0], centres.mean(0), atol=1e-3)
    two = np.zeros((1, NUM_BINS, 1, 1), np.float32)
    two[0, 0], two[0, 1] = 1.0, 0.0
    cold = annealed_mean(two, centres, 0.1)[0, :, 0, 0]
    warm = annealed_mean(two, centres, 10.0)[0, :, 0, 0]
    assert np.linalg.norm(cold - centres[0]) < np.linalg.norm(warm - centres[0])


def test_gamut_limit_keeps_lightness_of_dark_and_bright_areas() -> None:
    from stream_colorize.lab import limit_to_gamut

    light = np.array([[5.0, 50.0, 97.0]], np.float32)
    ab = np.full((2, 1, 3), 60.0, np.float32)
    limited = limit_to_gamut(ab, light)
    assert np.allclose(limited[:, 0, 1], 60.0)  # (50, 60, 60) is inside sRGB: untouched
    assert np.hypot(*limited[:, 0, 0]) < 30 and np.hypot(*limited[:, 0, 2]) < 30
    for column, level in ((0, 5.0), (2, 97.0)):
        lab = np.array([[[level, *limited[:, 0, column]]]], np.float32)
        bgr = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2BGR), 0, 1)
        assert abs(cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[0, 0, 0] - level) < 1.5


def _merge_16_whole(frame: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """merge_ab_16 as it was before the bands: the whole frame in float32 at once."""
    height, width = frame.shape[:2]
    scaled = frame.astype(np.float32) * np.float32(1 / 65535)
    bgr = cv2.cvtColor(scaled, cv2.COLOR_GRAY2BGR) if scaled.ndim == 2 else scaled
    light = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab)[:, :, 0]
    big_ab = cv2.resize(np.ascontiguousarray(ab.transpose(1, 2, 0)), (width, height), interpolation=cv2.INTER_LINEAR)
    out = cv2.cvtColor(np.dstack([light, big_ab]), cv2.COLOR_Lab2BGR)
    return np.clip(out * 65535.0 + 0.5, 0, 65535).astype(np.uint16)


@pytest.mark.parametrize("shape", [(301, 437), (301, 437, 3), (57, 113, 3), (999, 40), (30, 30, 3)])
def test_merge_ab_16_in_bands_matches_the_whole_frame_merge(shape: tuple[int, ...], monkeypatch) -> None:
    from stream_colorize import lab

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 65536, shape).astype(np.uint16)
    ab = rng.uniform(-60, 60, (2, 56, 56)).astype(np.float32)
    monkeypatch.setattr(lab, "MERGE_BAND_PIXELS", 4000)  # many bands, uneven last one
    banded = lab.merge_ab_16(frame, ab)
    assert banded.dtype == np.uint16 and banded.shape == (*shape[:2], 3)
    assert np.abs(banded.astype(np.int32) - _merge_16_whole(frame, ab)).max() <= 1
    alpha = rng.integers(0, 65536, shape[:2]).astype(np.uint16)
    with_alpha = lab.merge_ab_16(frame, ab, alpha)
    assert with_alpha.shape == (*shape[:2], 4)
    assert np.array_equal(with_alpha[:, :, 3], alpha) and np.array_equal(with_alpha[:, :, :3], banded)


def test_photo_preview_rounds_every_16_bit_value_as_before() -> None:
    from stream_colorize.photo import to_depth

    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    expected = ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)
    assert np.array_equal(to_depth(values, np.uint8), expected)
    assert np.array_equal(to_depth(np.dstack([values] * 3), np.uint8)[:, :, 2], expected)
