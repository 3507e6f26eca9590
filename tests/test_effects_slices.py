"""Slice displacement: bands of rows rolled sideways, everything else untouched."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage import data

from api_fixtures import assert_api_refuses
from glitchzap.effects.slices import SlicesParams, displace_slices
from glitchzap.errors import InvalidParameters
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]


class FixedDraws:
    """Stands in for the Generator: the draws the effect asks for, chosen by the test."""

    def __init__(self, draws: list[list[float]]) -> None:
        self.draws = np.asarray(draws, np.float64)

    def random(self, size: tuple[int, int]) -> np.ndarray:
        assert size == self.draws.shape
        return self.draws.copy()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


def changed_lines(out: np.ndarray, image: np.ndarray, axis: int) -> np.ndarray:
    other = tuple(a for a in (0, 1, 2) if a != axis)
    return np.flatnonzero(np.any(out != image, axis=other))


def find_roll(band: np.ndarray, original: np.ndarray, axis: int, limit: int) -> int | None:
    for shift in range(-limit, limit + 1):
        if shift and np.array_equal(band, np.roll(original, shift, axis=axis)):
            return shift
    return None


def test_changes_the_photo_and_zero_is_identity(photo: np.ndarray) -> None:
    assert not np.array_equal(apply_effects(photo, {"slices": 10}, seed=1), photo)
    assert np.array_equal(apply_effects(photo, {"slices": 0}, seed=1), photo)
    still = {"count": 50, "max_offset": 0, "channel_offset": 0}
    assert np.array_equal(apply_effects(photo, {"slices": still}, seed=1), photo)


def test_same_seed_same_bytes_another_seed_differs(photo: np.ndarray) -> None:
    params = {"slices": {"count": 12, "channel_offset": 4}}
    first = apply_effects(photo, params, seed=5)
    assert np.array_equal(first, apply_effects(photo, params, seed=5))
    assert not np.array_equal(first, apply_effects(photo, params, seed=6))


@pytest.mark.parametrize("seed", [3, 8, 21])
def test_one_band_is_an_exact_roll_and_other_rows_are_untouched(
    photo: np.ndarray, seed: int
) -> None:
    params = {"count": 1, "max_offset": 60, "band_height": 40, "wrap": True}
    out = apply_effects(photo, {"slices": params}, seed=seed)
    rows = changed_lines(out, photo, axis=0)
    assert rows.size, "the band moved nothing"
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    assert np.array_equal(rows, np.arange(top, bottom)), "one contiguous band"
    assert 20 - 1 <= bottom - top <= 60 + 1  # 0.5..1.5 x band_height (at the bottom: cut)
    shift = find_roll(out[top:bottom], photo[top:bottom], axis=1, limit=60)
    assert shift is not None, "the band is not a roll of its own rows"
    assert np.array_equal(out[:top], photo[:top])
    assert np.array_equal(out[bottom:], photo[bottom:])


def test_vertical_bands_roll_columns(photo: np.ndarray) -> None:
    params = {"count": 1, "max_offset": 60, "band_height": 40, "direction": "vertical"}
    out = apply_effects(photo, {"slices": params}, seed=3)
    columns = changed_lines(out, photo, axis=1)
    left, right = int(columns[0]), int(columns[-1]) + 1
    assert np.array_equal(columns, np.arange(left, right))
    assert find_roll(out[:, left:right], photo[:, left:right], axis=0, limit=60) is not None
    assert np.array_equal(out[:, :left], photo[:, :left])
    assert np.array_equal(out[:, right:], photo[:, right:])


def test_without_wrap_the_edge_repeats(photo: np.ndarray) -> None:
    buf = photo.astype(np.float32)
    # One band over rows 128..192 (top 0.25, height 1 x 64) moved right by 0.5 x 40 = 20 px.
    draws = FixedDraws([[0.25, 0.5, 0.75, 0.5]])
    params = SlicesParams(count=1, max_offset=40, band_height=64, wrap=False)
    out = displace_slices(buf.copy(), params, draws, 1.0)  # type: ignore[arg-type]
    band = out[128:192]
    assert np.array_equal(band[:, 20:], buf[128:192, :-20])
    assert np.array_equal(band[:, :20], np.repeat(buf[128:192, :1], 20, axis=1))
    assert np.array_equal(out[:128], buf[:128]) and np.array_equal(out[192:], buf[192:])


def test_overlapping_bands_later_wins_and_reads_the_original(photo: np.ndarray) -> None:
    buf = photo.astype(np.float32)
    # Band A: rows 128..192 moved +20 px; band B (later): rows 160..224 moved -20 px.
    draws = FixedDraws([[0.25, 0.5, 0.75, 0.5], [0.3125, 0.5, 0.25, 0.5]])
    params = SlicesParams(count=2, max_offset=40, band_height=64)
    out = displace_slices(buf.copy(), params, draws, 1.0)  # type: ignore[arg-type]
    assert np.array_equal(out[128:160], np.roll(buf[128:160], 20, axis=1))
    assert np.array_equal(out[160:224], np.roll(buf[160:224], -20, axis=1))


def test_channel_offset_moves_red_and_blue_apart(photo: np.ndarray) -> None:
    buf = photo.astype(np.float32)
    # Band at rows 128..192 moved +20 px; its channel draw 1.0 -> red +8 px more, blue 8 less.
    draws = FixedDraws([[0.25, 0.5, 0.75, 1.0]])
    params = SlicesParams(count=1, max_offset=40, band_height=64, channel_offset=8)
    out = displace_slices(buf.copy(), params, draws, 1.0)  # type: ignore[arg-type]
    rows = slice(128, 192)
    assert np.array_equal(out[rows, :, 0], np.roll(buf[rows, :, 0], 28, axis=1))
    assert np.array_equal(out[rows, :, 1], np.roll(buf[rows, :, 1], 20, axis=1))
    assert np.array_equal(out[rows, :, 2], np.roll(buf[rows, :, 2], 12, axis=1))


def test_alpha_moves_with_the_band(photo: np.ndarray) -> None:
    rgba = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])
    rgba[:, 100:300, 3] = 255  # an opaque stripe: it must be torn exactly like the picture
    out = apply_effects(rgba, {"slices": {"count": 1, "band_height": 40}}, seed=3)
    rows = changed_lines(out[..., 3:], rgba[..., 3:], axis=0)
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    shift = find_roll(out[top:bottom, :, 3], rgba[top:bottom, :, 3], axis=1, limit=60)
    assert shift is not None
    visible = out[top:bottom, :, 3] == 255
    assert np.array_equal(
        out[top:bottom, :, :3][visible], np.roll(photo[top:bottom], shift, axis=1)[visible]
    )


def test_a_preview_shows_the_same_bands(photo: np.ndarray) -> None:
    half = np.ascontiguousarray(photo[::2, ::2])
    params = {"slices": {"count": 1, "band_height": 40, "max_offset": 60}}
    full_rows = changed_lines(apply_effects(photo, params, seed=8), photo, axis=0)
    half_rows = changed_lines(apply_effects(half, params, seed=8, scale=0.5), half, axis=0)
    assert abs(half_rows[0] - full_rows[0] / 2) <= 1
    assert abs(half_rows[-1] - full_rows[-1] / 2) <= 1


def test_hostile_maximum_finishes(photo: np.ndarray) -> None:
    hostile = {
        "count": 500, "max_offset": 5000, "band_height": 5000, "channel_offset": 1000,
        "direction": "vertical", "wrap": False,
    }  # fmt: skip
    out = apply_effects(photo, {"slices": hostile}, seed=1)
    assert out.shape == photo.shape
    tiny = apply_effects(photo[:3, :2].copy(), {"slices": {"count": 500, "band_height": 1}}, seed=1)
    assert tiny.shape == (3, 2, 3)


@pytest.mark.parametrize(
    "params",
    [{"count": 501}, {"count": 1.5}, {"max_offset": -1}, {"band_height": 0},
     {"direction": "diagonal"}, {"channel_offset": 1001}, {"wrap": "sometimes"}],
)  # fmt: skip
def test_out_of_range_is_refused(photo: np.ndarray, params: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameters):
        apply_effects(photo, {"slices": {"count": 3, **params}})


def test_api_refuses_nan(api_client: Any) -> None:
    assert_api_refuses(api_client, '{"slices": {"count": 3, "max_offset": NaN}}', {"slices": 5})
