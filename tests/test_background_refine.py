"""Mask upsampling: resize_mask and the guided-filter refinement."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from glitchzap.background import refine
from glitchzap.background.refine import refine_alpha, refine_mask, resize_mask, working_size


def test_resize_mask_keeps_range_and_shape():
    rng = np.random.default_rng(0)
    mask = rng.random((300, 200), dtype=np.float32)
    for size in [(150, 100), (600, 400), (301, 199)]:
        out = resize_mask(mask, size)
        assert out.shape == size and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
    assert resize_mask(mask, (300, 200)) is mask


def test_working_size_caps_pixels_and_keeps_aspect():
    height, width = working_size(3000, 4000, 1_000_000)
    assert height * width <= 1_000_000 * 1.01
    assert abs(width / height - 4000 / 3000) < 0.01
    assert working_size(100, 200) == (100, 200)


def _edge_band(mask: np.ndarray) -> float:
    """Fraction of pixels neither clearly subject nor clearly background."""
    return float(((mask > 0.1) & (mask < 0.9)).mean())


def _scene(scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cat photo disc pasted on a coffee photo, its true mask, and a soft 320 px model mask."""
    back = data.coffee()
    height, width = back.shape[0] * scale, back.shape[1] * scale
    back = cv2.resize(back, (width, height), interpolation=cv2.INTER_CUBIC)
    fore = cv2.resize(data.chelsea(), (width, height), interpolation=cv2.INTER_CUBIC)
    truth = np.zeros((height, width), np.float32)
    cv2.circle(truth, (width // 2, height // 2), min(height, width) // 3, 1.0, -1)
    photo = np.where(truth[..., None] > 0, fore, back)
    low = cv2.resize(truth, (320, 320), interpolation=cv2.INTER_AREA)
    return photo, truth, cv2.GaussianBlur(low, (9, 9), 0)


@pytest.mark.parametrize("scale", [1, 4])
def test_refined_mask_follows_the_photos_edges(scale):
    """The soft 320 px mask comes back with its edge on the photo's edge, not smeared."""
    photo, truth, low = _scene(scale)
    height, width = truth.shape
    refined = refine_mask(photo, low)
    assert refined.shape == (height, width) and refined.dtype == np.float32
    assert refined.min() >= 0 and refined.max() <= 1
    # The same contrast gain on a plain upscale: what the guided filter adds is the placement.
    plain = np.clip((resize_mask(low, (height, width)) - 0.5) * refine.EDGE_GAIN + 0.5, 0, 1)
    assert np.abs(refined - truth).mean() < 0.5 * np.abs(plain - truth).mean()
    assert _edge_band(refined) < 0.5 * _edge_band(plain)


def test_refine_alpha_is_the_rounded_mask():
    photo, _, low = _scene(1)
    alpha = refine_alpha(photo, low)
    mask = refine_mask(photo, low)
    assert alpha.dtype == np.uint8 and alpha.shape == mask.shape
    assert np.abs(alpha.astype(np.float32) - mask * 255).max() <= 0.5 + 1e-3


@pytest.mark.parametrize("shape", [(3000, 4000), (480, 854), (101, 61), (1, 1)])
def test_the_fused_kernel_matches_the_opencv_path(shape):
    """refine_alpha's one-pass numba kernel against refine_mask's OpenCV resizes and products,
    on a real photo at sizes that do and do not need the working-size step."""
    photo = cv2.resize(data.astronaut(), shape[::-1], interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(3)
    low = cv2.GaussianBlur(rng.random((320, 320), dtype=np.float32), (0, 0), 5)
    alpha = refine_alpha(photo, low)
    reference = np.clip(refine_mask(photo, low) * 255 + 0.5, 0, 255).astype(np.uint8)
    difference = np.abs(alpha.astype(int) - reference)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3


def test_the_kernel_reads_only_the_colour_channels_of_rgba():
    photo = np.ascontiguousarray(data.astronaut()[::2, ::2])
    rgba = np.dstack([photo, np.full(photo.shape[:2], 7, np.uint8)])
    low = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    np.testing.assert_array_equal(refine_alpha(rgba, low), refine_alpha(photo, low))
