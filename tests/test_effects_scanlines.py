"""Scan lines: every period-th row darkened by `darkness`, odd lines jittered sideways."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage import data

from api_fixtures import upload
from glitchzap.effects.scanlines import line_coverage
from glitchzap.errors import InvalidParameters
from glitchzap.io import encode_image
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.coffee())  # 400 x 600


def shifted_right(row: np.ndarray, shift: int) -> np.ndarray:
    """`row` moved `shift` px right, edges repeated."""
    xs = np.clip(np.arange(row.shape[0]) - shift, 0, row.shape[0] - 1)
    return row[xs]


def test_changes_the_photo_and_zero_is_identity(photo: np.ndarray) -> None:
    assert not np.array_equal(apply_effects(photo, {"scanlines": 0.5}), photo)
    assert np.array_equal(apply_effects(photo, {"scanlines": 0}), photo)
    zero = {"darkness": 0, "jitter": 50, "period": 10, "thickness": 3}
    assert np.array_equal(apply_effects(photo, {"scanlines": zero}, seed=1), photo)


@pytest.mark.parametrize(("period", "thickness"), [(4, 1), (5, 2), (9, 4)])
def test_every_period_th_row_is_darkened_by_darkness(
    photo: np.ndarray, period: int, thickness: int
) -> None:
    params = {"darkness": 0.4, "period": period, "thickness": thickness}
    out = apply_effects(photo, {"scanlines": params}).astype(float)
    on_a_line = (np.arange(photo.shape[0]) % period) < thickness
    expected = photo[on_a_line].astype(float) * 0.6
    assert np.abs(out[on_a_line] - expected).max() <= 0.5 + 1e-3  # one rounding
    assert np.array_equal(out[~on_a_line], photo[~on_a_line])


def test_full_darkness_is_black_lines_and_alpha_is_untouched(photo: np.ndarray) -> None:
    alpha = np.tile(np.linspace(0, 255, photo.shape[1]).astype(np.uint8), (photo.shape[0], 1))
    rgba = np.dstack([photo, alpha])
    out = apply_effects(rgba, {"scanlines": {"darkness": 1, "period": 3}})
    assert np.array_equal(out[..., 3], alpha)
    visible = alpha > 0
    assert out[::3, :, :3][visible[::3]].max() == 0
    assert np.array_equal(out[1::3, :, :3][visible[1::3]], photo[1::3][visible[1::3]])


def test_thickness_must_be_less_than_the_period(photo: np.ndarray) -> None:
    with pytest.raises(InvalidParameters, match="thickness"):
        apply_effects(photo, {"scanlines": {"darkness": 0.5, "period": 4, "thickness": 4}})
    with pytest.raises(InvalidParameters, match="period"):
        apply_effects(photo, {"scanlines": {"darkness": 0.5, "period": 2, "thickness": 3}})


@pytest.mark.parametrize("scale", [300 / 512, 0.37, 0.21])
def test_a_preview_darkens_on_average_like_the_export(scale: float) -> None:
    flat = np.full((300, 300, 3), 200, np.uint8)
    params = {"darkness": 0.8, "period": 4, "thickness": 1}
    export_mean = 200 * (1 - 0.8 * 1 / 4)
    preview = apply_effects(flat, {"scanlines": params}, scale=scale).astype(float)
    assert abs(preview.mean() - export_mean) < 0.5  # no lines dropped, none doubled
    rows = preview[:, 0, 0]
    assert rows.min() < 200 - 10, "fractional lines still show"


def test_line_coverage_is_exact_at_full_size_and_fractional_below() -> None:
    assert np.array_equal(line_coverage(8, 4.0, 1.0), [1, 0, 0, 0, 1, 0, 0, 0])
    small = line_coverage(100, 2.5, 0.5)
    assert small.min() >= 0 and small.max() <= 1
    assert abs(small.sum() - 100 * 0.5 / 2.5) < 1e-9


def test_jitter_moves_odd_lines_only_by_whole_pixels(photo: np.ndarray) -> None:
    period, jitter = 6, 5
    params = {"darkness": 0.5, "period": period, "thickness": 2, "jitter": jitter}
    out = apply_effects(photo, {"scanlines": params}, seed=4)
    moved = 0
    for top in range(0, photo.shape[0] - period, period):
        line = top // period
        row = top + 3  # a bright row of the line: jitter only, no darkening
        if line % 2 == 0:
            assert np.array_equal(out[row], photo[row])
            continue
        matches = [s for s in range(-jitter, jitter + 1) if np.array_equal(
            out[row], shifted_right(photo[row], s))]  # fmt: skip
        assert matches, f"line {line} is not a whole-pixel shift"
        moved += matches[0] != 0
    assert moved > 10


def test_jitter_is_seeded(photo: np.ndarray) -> None:
    params = {"scanlines": {"darkness": 0.3, "jitter": 8}}
    first = apply_effects(photo, params, seed=1)
    assert np.array_equal(first, apply_effects(photo, params, seed=1))
    assert not np.array_equal(first, apply_effects(photo, params, seed=2))


def test_hostile_maximum_finishes(astronaut: np.ndarray) -> None:
    for params in (
        {"darkness": 1, "period": 2, "thickness": 1.99, "jitter": 100},
        {"darkness": 1, "period": 200, "thickness": 100, "jitter": 100},
    ):
        assert apply_effects(astronaut, {"scanlines": params}, seed=1).shape == astronaut.shape
    tiny = np.zeros((1, 1, 3), np.uint8)
    assert apply_effects(tiny, {"scanlines": {"darkness": 1, "jitter": 100}}, scale=0.01).shape


def test_api_refuses_nan_and_a_too_thick_line(api_client: Any) -> None:
    image_id = upload(api_client, encode_image(data.astronaut()[::4, ::4], "png"))["image_id"]
    for params in ('{"darkness": NaN}', '{"darkness": 0.5, "jitter": Infinity}',
                   '{"darkness": 0.5, "period": 3, "thickness": 3}'):  # fmt: skip
        body = f'{{"image_id": "{image_id}", "recipe": {{"effects": {{"scanlines": {params}}}}}}}'
        response = api_client.post(
            "/api/render", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, params
        assert response.json()["error"] == "invalid_parameters"
