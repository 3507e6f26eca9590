"""Posterize (bit crush): 2^(8 - crush) levels per colour channel, optionally Bayer-dithered."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data

from api_fixtures import assert_api_refuses
from glitchzap.errors import InvalidParameters
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


def levels(crush: int) -> np.ndarray:
    """The documented output levels: the top 8 - crush bits spread over 0..255."""
    count = 2 ** (8 - crush)
    return np.rint(np.arange(count) * 255 / (count - 1)).astype(np.uint8)


@pytest.mark.parametrize("crush", [1, 3, 5, 7])
def test_only_the_documented_levels_remain(photo: np.ndarray, crush: int) -> None:
    out = apply_effects(photo, {"posterize": crush})
    for channel in range(3):
        assert set(np.unique(out[..., channel])) <= set(levels(crush))
    # Each value keeps its top bits: v -> level number v >> crush.
    assert np.array_equal(out, levels(crush)[photo >> crush])


def test_two_levels_keep_black_and_white(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"posterize": 7})
    assert set(np.unique(out)) == {0, 255}
    assert abs(out.mean() - photo.mean()) < 20  # no darkening by half a step


def test_zero_crush_is_identity_and_seed_does_not_matter(photo: np.ndarray) -> None:
    assert np.array_equal(apply_effects(photo, {"posterize": {"crush": 0, "dither": True}}), photo)
    one = apply_effects(photo, {"posterize": {"crush": 5, "dither": True}}, seed=1)
    assert np.array_equal(one, apply_effects(photo, {"posterize": {"crush": 5, "dither": True}}))


def test_alpha_is_untouched(photo: np.ndarray) -> None:
    alpha = np.tile(np.linspace(0, 255, 512).astype(np.uint8), (512, 1))
    image = np.dstack([photo, alpha])
    out = apply_effects(image, {"posterize": {"crush": 6, "dither": True}})
    assert np.array_equal(out[..., 3], alpha)
    assert set(np.unique(out[..., :3])) <= set(levels(6))


def test_dither_is_a_4px_bayer_pattern() -> None:
    flat = np.full((16, 16, 3), 100, np.uint8)
    out = apply_effects(flat, {"posterize": {"crush": 6, "dither": True}})[..., 0]
    assert set(np.unique(out)) == {85, 170}  # 100 lies between two levels: dots of both
    assert np.array_equal(out, np.tile(out[:4, :4], (4, 4)))  # one 4 x 4 cell, repeated


def test_dither_keeps_the_local_tone() -> None:
    ramp = np.tile(np.linspace(0, 255, 512), (64, 1)).astype(np.uint8)
    image = np.dstack([ramp] * 3)
    plain = apply_effects(image, {"posterize": 6})
    dithered = apply_effects(image, {"posterize": {"crush": 6, "dither": True}})
    assert set(np.unique(dithered)) <= set(levels(6))

    def local(image: np.ndarray) -> np.ndarray:
        return cv2.blur(image[..., 0].astype(np.float32), (8, 8))[8:-8, 8:-8]

    # Bins of 64 mapped to 0, 85, 170, 255: the tone the steps follow is (v - 32) * 85 / 64.
    tone = local(np.clip((image.astype(np.float32) - 32) * 85 / 64, 0, 255))
    assert np.abs(local(dithered) - tone).mean() < np.abs(local(plain) - tone).mean() / 3


def test_preview_draws_the_dots_as_their_mean() -> None:
    """Below 3/4 size the 4 px cell cannot be drawn: the preview shows what the export's dots
    average to, the tone of its 4 x 4 cell."""
    for value in (40, 100, 150, 230):
        flat = np.full((64, 64, 3), value, np.uint8)
        export = apply_effects(flat, {"posterize": {"crush": 6, "dither": True}})
        cell_mean = export[:4, :4].astype(np.float32).mean()
        preview = apply_effects(flat, {"posterize": {"crush": 6, "dither": True}}, scale=0.5)
        assert np.abs(preview.astype(np.float32) - cell_mean).max() <= 3, value
    full_pattern = apply_effects(flat, {"posterize": {"crush": 6, "dither": True}}, scale=0.8)
    assert np.array_equal(full_pattern, export)  # from 3/4 size on: the pattern itself


@pytest.mark.parametrize(
    "params", [{"crush": 8}, {"crush": -1}, {"crush": 2.5}, {"dither": "sometimes"}, {"bits": 3}]
)
def test_out_of_range_is_refused(photo: np.ndarray, params: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameters):
        apply_effects(photo, {"posterize": {"crush": 3, **params}})


def test_hostile_extremes_finish(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"posterize": {"crush": 7, "dither": True}})
    assert set(np.unique(out)) == {0, 255}
    tiny = apply_effects(photo[:1, :3].copy(), {"posterize": {"crush": 7, "dither": True}})
    assert tiny.shape == (1, 3, 3)


def test_api_refuses_nan(api_client: Any) -> None:
    assert_api_refuses(api_client, '{"posterize": NaN}', {"posterize": 5})
