"""VHS: tracking bands torn sideways, chroma bled along rows (luma kept), a soft picture."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage import data

from api_fixtures import assert_api_refuses
from glitchzap.effects.vhs import MAX_TRACKING_BANDS
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]

LUMA = np.array([0.299, 0.587, 0.114])
TRACKING_ONLY = {"strength": 1, "tracking": 1, "bleed": 0, "blur": 0}
BLEED_ONLY = {"strength": 1, "tracking": 0, "bleed": 10, "blur": 0}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.chelsea())  # 300 x 451


def changed_runs(out: np.ndarray, image: np.ndarray) -> list[tuple[int, int]]:
    rows = np.any(out != image, axis=(1, 2)).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], rows, [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def test_changes_the_photo_and_zero_is_identity(photo: np.ndarray) -> None:
    assert not np.array_equal(apply_effects(photo, {"vhs": 0.5}, seed=1), photo)
    assert np.array_equal(apply_effects(photo, {"vhs": 0}, seed=1), photo)
    nothing = {"strength": 1, "tracking": 0, "bleed": 0, "blur": 0}
    assert np.array_equal(apply_effects(photo, {"vhs": nothing}, seed=1), photo)


def test_same_seed_same_bytes_another_seed_differs(photo: np.ndarray) -> None:
    first = apply_effects(photo, {"vhs": 1}, seed=3)
    assert np.array_equal(first, apply_effects(photo, {"vhs": 1}, seed=3))
    assert not np.array_equal(first, apply_effects(photo, {"vhs": 1}, seed=4))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tracking_tears_a_few_bands_and_leaves_other_rows(photo: np.ndarray, seed: int) -> None:
    out = apply_effects(photo, {"vhs": TRACKING_ONLY}, seed=seed)
    runs = changed_runs(out, photo)
    assert 1 <= len(runs) <= MAX_TRACKING_BANDS
    torn = sum(stop - start for start, stop in runs)
    assert torn < 0.5 * photo.shape[0]
    half = apply_effects(photo, {"vhs": {**TRACKING_ONLY, "tracking": 0.5}}, seed=seed)
    assert len(changed_runs(half, photo)) <= MAX_TRACKING_BANDS // 2
    # Torn sideways only: every torn row keeps its own colours (its mean barely moves).
    for start, stop in runs:
        before = photo[start:stop].astype(float).mean(axis=1)
        after = out[start:stop].astype(float).mean(axis=1)
        assert np.abs(after - before).max() < 40


def test_tracking_bands_sit_at_the_same_place_in_a_preview(photo: np.ndarray) -> None:
    big = np.ascontiguousarray(np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1))
    full = changed_runs(apply_effects(big, {"vhs": TRACKING_ONLY}, seed=7), big)
    preview = changed_runs(apply_effects(photo, {"vhs": TRACKING_ONLY}, seed=7, scale=0.5), photo)
    assert len(full) == len(preview)
    for (a, b), (c, d) in zip(full, preview, strict=True):
        assert abs(a / 2 - c) <= 2 and abs(b / 2 - d) <= 2


def test_bleed_keeps_the_luma_and_smears_colour_to_the_right() -> None:
    image = np.zeros((40, 200, 3), np.uint8)
    image[:, :100] = (200, 40, 40)  # red | blue, a vertical edge at x = 100
    image[:, 100:] = (40, 40, 200)
    out = apply_effects(image, {"vhs": BLEED_ONLY}).astype(float)
    luma_in, luma_out = image.astype(float) @ LUMA, out @ LUMA
    assert np.abs(luma_out - luma_in).max() < 1.0  # Y untouched, only Cr/Cb move
    redness = out[20, :, 0] - out[20, :, 2]
    assert redness[50] > 150 and redness[160] < -150  # far from the edge: unchanged
    # Colour trails right (chroma delay): red reaches further right than blue reaches left.
    assert redness[100 + 5] > -redness[100 - 6]
    assert np.all(out == out[:1])  # every row alike: no vertical spread


def test_bleed_leaves_a_horizontal_colour_edge_alone() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[:20] = (200, 40, 40)
    image[20:] = (40, 200, 40)
    out = apply_effects(image, {"vhs": BLEED_ONLY})
    assert np.abs(out.astype(int) - image.astype(int)).max() <= 1


def test_blur_is_the_gaussian_blur_scaled_by_strength(photo: np.ndarray) -> None:
    soft = {"strength": 0.5, "tracking": 0, "bleed": 0, "blur": 4}
    assert np.array_equal(apply_effects(photo, {"vhs": soft}), apply_effects(photo, {"blur": 2}))


def test_transparent_pixels_lend_no_colour_to_the_bleed() -> None:
    image = np.zeros((20, 80, 4), np.uint8)
    image[:, :40] = (255, 0, 255, 0)  # hidden magenta
    image[:, 40:] = (128, 128, 128, 255)  # opaque grey
    out = apply_effects(image, {"vhs": {**BLEED_ONLY, "bleed": 30}})
    assert np.array_equal(out[..., 3], image[..., 3])
    grey = out[:, 40:, :3].astype(int)
    assert np.abs(grey - 128).max() <= 1


def test_hostile_maximum_finishes(astronaut: np.ndarray) -> None:
    hostile = {"strength": 1, "tracking": 1, "bleed": 100, "blur": 20}
    assert apply_effects(astronaut, {"vhs": hostile}, seed=1).shape == astronaut.shape
    tiny = np.zeros((1, 2, 4), np.uint8)
    assert apply_effects(tiny, {"vhs": hostile}, seed=1, scale=0.01).shape == tiny.shape


def test_api_refuses_nan(api_client: Any) -> None:
    assert_api_refuses(api_client, '{"vhs": {"bleed": NaN}}', {"vhs": 1})


@pytest.mark.parametrize("soft", [0.0, 0.7, 2.5])
@pytest.mark.parametrize("sigma", [0.7, 2.5, 4.2, 20.0])
def test_opaque_wear_is_the_general_bleed_then_the_softening(
    photo: np.ndarray, astronaut: np.ndarray, sigma: float, soft: float
) -> None:
    """The RGB path (luma and narrow chroma apart, in banded passes) is the alpha-aware bleed
    followed by the blur effect's softening: up to rounding without softening, and within a
    fraction of a level with it (the chroma's softening runs on its narrow copy). Chelsea's
    odd width narrows in one INTER_AREA step, the astronaut's 512 px by halvings."""
    from glitchzap.deadline import NO_DEADLINE
    from glitchzap.effects.vhs import _bleed_band, _soften, _wear_opaque

    for image in (photo, astronaut):
        general = image.astype(np.float32)
        fast = general.copy()
        _bleed_band(general, sigma)
        if soft:
            general = _soften(general, soft, np.random.default_rng(0), 1.0, NO_DEADLINE)
        _wear_opaque(fast, [], sigma, soft, NO_DEADLINE)
        difference = np.abs(fast - general)
        if not soft:
            assert difference.max() < 1e-2
        else:  # measured: mean <= 0.05, 99.9th percentile <= 0.8, max <= 3.7
            assert difference.mean() < 0.1
            assert np.quantile(difference, 0.999) < 1.0
            assert difference.max() < 5.0


def test_opaque_wear_tears_like_the_general_path(photo: np.ndarray) -> None:
    """Tears land on the same rows, band by band in the workers or all at once."""
    from glitchzap.effects.vhs import VhsParams, vhs

    params = VhsParams(strength=1, tracking=1, bleed=8, blur=1)
    big = np.ascontiguousarray(np.tile(photo, (4, 1, 1))).astype(np.float32)  # 1200 rows
    banded = vhs(big.copy(), params, np.random.default_rng(5), 1.0)
    strided = np.zeros((big.shape[0], big.shape[1] * 2, 3), np.float32)[:, ::2]
    strided[...] = big  # not contiguous: the general path (tears, bleed, softening)
    general = vhs(strided, params, np.random.default_rng(5), 1.0)
    difference = np.abs(banded - general)
    assert difference.mean() < 0.05 and np.quantile(difference, 0.999) < 0.5  # measured 0.01, 0.15


def test_tear_moves_each_row_by_its_own_fractional_shift() -> None:
    from glitchzap.effects.vhs import _tear

    rng = np.random.default_rng(0)
    buf = (rng.random((12, 50, 3)) * 255).astype(np.float32)
    shifts = np.linspace(-7.3, 9.6, 8)
    expected = buf.copy()
    x = np.arange(50)
    for i, shift in enumerate(shifts):
        for c in range(3):
            expected[2 + i, :, c] = np.interp(x - shift, x, buf[2 + i, :, c])
    _tear(buf, 2, shifts)
    assert np.abs(buf - expected).max() < 255 / 32 + 1e-3  # OpenCV's 1/32 px weights
    assert np.array_equal(buf[:2], expected[:2]) and np.array_equal(buf[10:], expected[10:])
