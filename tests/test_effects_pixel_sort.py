"""Pixel sorting: runs of in-interval pixels sorted by their key, everything else untouched."""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np
import pytest
from skimage import data

from api_fixtures import assert_api_refuses
from glitchzap.effects.pixel_sort import pixel_keys
from glitchzap.errors import InvalidParameters
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]

ALL_LINES = {"amount": 1.0, "low": 0.25, "high": 0.8}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return np.ascontiguousarray(data.coffee())


def keys_of(image: np.ndarray, key: str = "brightness") -> np.ndarray:
    """The effect's own key of every pixel of a uint8 image (what runs are made of)."""
    return pixel_keys(image.astype(np.float32), key)


def runs_sorted(keys: np.ndarray, inside: np.ndarray, descending: bool = False) -> bool:
    """Whether, along every row, the keys never fall (rise) between neighbours of a run."""
    step = np.diff(keys.astype(np.float64), axis=1)
    same_run = inside[:, 1:] & inside[:, :-1]
    return bool(np.all((step <= 1e-7) if descending else (step >= -1e-7), where=same_run))


def rows_as_sorted_tuples(image: np.ndarray) -> np.ndarray:
    """Every row's pixels in lexicographic order: equal when each row's multiset is kept."""
    flat = image.reshape(image.shape[0], image.shape[1], -1).astype(np.int64)
    packed = np.zeros(flat.shape[:2], np.int64)
    for channel in range(flat.shape[2]):
        packed = packed * 256 + flat[..., channel]
    return np.sort(packed, axis=1)


def assert_sorted_along_rows(
    image: np.ndarray, out: np.ndarray, key: str = "brightness", descending: bool = False
) -> None:
    before, after = keys_of(image, key), keys_of(out, key)
    inside = (before >= 0.25) & (before <= 0.8)
    assert np.array_equal(out[~inside], image[~inside])  # outside pixels never move
    assert np.array_equal((after >= 0.25) & (after <= 0.8), inside)  # runs stay in place
    assert runs_sorted(after, inside, descending)
    assert np.array_equal(rows_as_sorted_tuples(out), rows_as_sorted_tuples(image))


def test_runs_are_sorted_by_brightness_and_the_rest_stays(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"pixel_sort": ALL_LINES}, seed=1)
    assert np.abs(out.astype(int) - photo).mean() > 5  # a visible sort
    assert not runs_sorted(keys_of(photo), np.ones(photo.shape[:2], bool))
    assert_sorted_along_rows(photo, out)


def test_reverse_sorts_from_the_highest_key(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"pixel_sort": {**ALL_LINES, "reverse": True}}, seed=1)
    assert_sorted_along_rows(photo, out, descending=True)


def test_hue_key_sorts_by_hsv_hue(coffee: np.ndarray) -> None:
    out = apply_effects(coffee, {"pixel_sort": {**ALL_LINES, "key": "hue"}}, seed=1)
    assert not np.array_equal(out, coffee)
    assert_sorted_along_rows(coffee, out, key="hue")
    # The key is HSV hue (0..1 for 0..360 degrees), checked against the standard library.
    sample = coffee[::37, ::41].reshape(-1, 3) / 255
    expected = [colorsys.rgb_to_hsv(*rgb)[0] for rgb in sample]
    assert np.allclose(keys_of(coffee, "hue")[::37, ::41].ravel(), expected, atol=1e-3)


def test_saturation_and_brightness_keys_match_their_definitions(coffee: np.ndarray) -> None:
    sample = coffee[::37, ::41].reshape(-1, 3) / 255
    saturation = [colorsys.rgb_to_hsv(*rgb)[1] for rgb in sample]
    assert np.allclose(keys_of(coffee, "saturation")[::37, ::41].ravel(), saturation, atol=1e-4)
    luma = sample @ np.array([0.299, 0.587, 0.114])
    assert np.allclose(keys_of(coffee)[::37, ::41].ravel(), luma, atol=1e-4)
    out = apply_effects(coffee, {"pixel_sort": {**ALL_LINES, "key": "saturation"}}, seed=1)
    assert_sorted_along_rows(coffee, out, key="saturation")


def test_vertical_sorts_columns(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"pixel_sort": {**ALL_LINES, "direction": "vertical"}}, seed=1)
    assert_sorted_along_rows(photo.transpose(1, 0, 2), out.transpose(1, 0, 2))
    horizontal = apply_effects(photo, {"pixel_sort": ALL_LINES}, seed=1)
    assert not np.array_equal(out, horizontal)


def test_angle_90_sorts_columns_upwards(photo: np.ndarray) -> None:
    """Angle turns the sorting direction counter-clockwise: 90 degrees points up the image,
    the same lines as `vertical` in the opposite order."""
    up = apply_effects(photo, {"pixel_sort": {**ALL_LINES, "angle": 90}}, seed=1)
    down_reversed = apply_effects(
        photo, {"pixel_sort": {**ALL_LINES, "direction": "vertical", "reverse": True}}, seed=1
    )
    # Ties may land in another order: their keys are what must agree.
    assert np.array_equal(keys_of(up), keys_of(down_reversed))
    assert_sorted_along_rows(photo[::-1].transpose(1, 0, 2), up[::-1].transpose(1, 0, 2))
    assert np.array_equal(
        apply_effects(photo, {"pixel_sort": {**ALL_LINES, "angle": -90}}, seed=1),
        apply_effects(photo, {"pixel_sort": {**ALL_LINES, "direction": "vertical"}}, seed=1),
    )


def test_angle_45_sorts_exact_diagonals(photo: np.ndarray) -> None:
    """At 45 degrees the lines are the anti-diagonals x + y = c, sorted up and to the right;
    pixels only trade places (no resampling), and those outside the interval never move."""
    out = apply_effects(photo, {"pixel_sort": {**ALL_LINES, "angle": 45}}, seed=1)
    before, after = keys_of(photo), keys_of(out)
    inside = (before >= 0.25) & (before <= 0.8)
    assert np.array_equal(out[~inside], photo[~inside])
    flipped = (
        np.fliplr(before),
        np.fliplr(after),
        np.fliplr(np.arange(before.size).reshape(before.shape)),
    )
    height, width = inside.shape
    for offset in range(-height + 1, width):
        old, new = (np.diagonal(a, offset)[::-1] for a in flipped[:2])  # x rising, y falling
        run = (old >= 0.25) & (old <= 0.8)
        step = np.diff(new.astype(np.float64))
        assert np.all(step >= -1e-7, where=run[1:] & run[:-1]), offset
        cells = np.diagonal(flipped[2], offset)
        line = photo.reshape(-1, 3)[cells]
        moved = out.reshape(-1, 3)[cells]
        assert np.array_equal(np.sort(line.view("V3").ravel()), np.sort(moved.view("V3").ravel()))


def test_amount_picks_a_share_of_lines_the_same_way_at_every_size() -> None:
    """Lines are picked by their position as a fraction of the image: a half-size preview
    sorts the same bands (row r of the export <-> row r // 2 of the preview)."""
    noise = np.random.default_rng(0).integers(0, 256, (512, 400, 3), dtype=np.uint8)
    full_range = {"amount": 0.5, "low": 0, "high": 1}
    export = apply_effects(noise, {"pixel_sort": full_range}, seed=3)
    sorted_rows = np.any(export != noise, axis=(1, 2))
    assert 0.3 < sorted_rows.mean() < 0.7
    half = np.ascontiguousarray(noise[::2, ::2])
    preview = apply_effects(half, {"pixel_sort": full_range}, seed=3, scale=0.5)
    preview_rows = np.any(preview != half, axis=(1, 2))
    assert np.array_equal(sorted_rows, np.repeat(preview_rows, 2))
    every = apply_effects(noise, {"pixel_sort": {**full_range, "amount": 1}}, seed=3)
    assert np.any(every != noise, axis=(1, 2)).all()


def test_seed_picks_the_lines(photo: np.ndarray) -> None:
    params = {"pixel_sort": {**ALL_LINES, "amount": 0.5}}
    first = apply_effects(photo, params, seed=1)
    assert np.array_equal(first, apply_effects(photo, params, seed=1))
    assert not np.array_equal(first, apply_effects(photo, params, seed=2))


def test_zero_amount_is_identity(photo: np.ndarray) -> None:
    assert np.array_equal(apply_effects(photo, {"pixel_sort": 0}, seed=1), photo)


def test_alpha_moves_with_its_pixel_and_transparent_pixels_stay(photo: np.ndarray) -> None:
    alpha = np.full(photo.shape[:2], 255, np.uint8)
    alpha[:, 100:180] = 0  # a transparent stripe splits every row's runs
    alpha[200:260] = 40 + (photo[200:260, :, 1] // 2)  # translucent: alpha tied to green
    alpha[200:260, 100:180] = 0
    image = np.dstack([photo, alpha])
    out = apply_effects(image, {"pixel_sort": {**ALL_LINES, "low": 0, "high": 1}}, seed=1)
    hidden = alpha == 0
    assert np.all(out[..., 3][hidden] == 0)  # alpha 0 pixels are in no run: none moves in
    shown = np.where(hidden[..., None], 0, image)  # premultiplied: hidden colour is gone
    opaque_rows = np.r_[0:200, 260:512]
    assert not np.array_equal(out[opaque_rows], shown[opaque_rows])
    assert np.array_equal(
        rows_as_sorted_tuples(out[opaque_rows]), rows_as_sorted_tuples(shown[opaque_rows])
    )
    # Translucent rows: each pixel's alpha still matches its own green (rounding aside).
    band = out[200:260]
    visible = band[..., 3] > 0
    assert not np.array_equal(band, image[200:260])
    expected_alpha = 40 + band[..., 1].astype(int) // 2
    assert np.abs(band[..., 3].astype(int) - expected_alpha)[visible].max() <= 2


def test_low_above_high_is_refused(photo: np.ndarray) -> None:
    with pytest.raises(InvalidParameters, match="low"):
        apply_effects(photo, {"pixel_sort": {"amount": 1, "low": 0.9, "high": 0.1}})


@pytest.mark.parametrize(
    "params",
    [{"amount": 1.5}, {"low": -0.1}, {"high": 2}, {"angle": 91}, {"key": "redness"},
     {"direction": "diagonal"}, {"reverse": "sometimes"}, {"colour": 1}],
)  # fmt: skip
def test_out_of_range_is_refused(photo: np.ndarray, params: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameters):
        apply_effects(photo, {"pixel_sort": {"amount": 0.5, **params}})


def test_hostile_extremes_finish(photo: np.ndarray) -> None:
    hostile = {"amount": 1, "low": 0, "high": 1, "key": "hue", "angle": -45.5, "reverse": True}
    out = apply_effects(photo, {"pixel_sort": hostile}, seed=1)
    assert out.shape == photo.shape
    for shape in [(1, 1, 3), (3, 2, 3), (1, 40, 4), (40, 1, 3)]:
        tiny = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        for angle in (-90, -30, 0, 45, 89):
            assert apply_effects(tiny, {"pixel_sort": {**hostile, "angle": angle}}).shape == shape


def test_api_refuses_nan(api_client: Any) -> None:
    assert_api_refuses(
        api_client, '{"pixel_sort": {"amount": 1, "angle": NaN}}', {"pixel_sort": 0.5}
    )


UINT8_CASES = [
    ALL_LINES,
    {**ALL_LINES, "reverse": True, "amount": 0.6},
    {**ALL_LINES, "key": "hue", "low": 0, "high": 1},
    {**ALL_LINES, "key": "saturation", "direction": "vertical"},
    {**ALL_LINES, "angle": 20, "amount": 0.7},
    {**ALL_LINES, "angle": -70, "reverse": True, "low": 0},
]


@pytest.mark.parametrize("params", UINT8_CASES)
def test_uint8_buffer_gets_the_float_paths_bytes(photo: np.ndarray, params: dict) -> None:
    """Sorting only moves pixels and a uint8 buffer gets its float copy's keys: the uint8
    fast path gives the same permutation, so the same bytes, at every size."""
    from glitchzap.effects import EFFECTS, parse_effects

    effect, parsed = parse_effects({"pixel_sort": params})[0]
    assert effect is EFFECTS["pixel_sort"] and effect.uint8_exact is not None
    assert effect.uint8_exact(parsed, 1.0) and effect.uint8_exact(parsed, 0.3)
    fast = apply_effects(photo, {"pixel_sort": params}, seed=4)
    slow = apply_effects(photo, {"pixel_sort": params}, seed=4, uint8_fast_path=False)
    assert np.array_equal(fast, slow)
    assert not np.array_equal(fast, photo)
    assert np.array_equal(keys_of(photo), pixel_keys(photo, "brightness"))
    assert np.array_equal(keys_of(photo, "hue"), pixel_keys(photo, "hue"))


@pytest.mark.parametrize("params", [ALL_LINES, {**ALL_LINES, "angle": 35, "key": "hue"}])
def test_worker_threads_never_change_the_result(
    photo: np.ndarray, params: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of lines hold disjoint pixels: however they are split between worker threads
    (and whatever the block size), the result is the one-thread result."""
    from glitchzap.effects import pixel_sort as module

    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])
    images = [photo, rgba]
    one_thread = [apply_effects(image, {"pixel_sort": params}, seed=2) for image in images]
    monkeypatch.setattr(module, "_BLOCK_CELLS", 1 << 12)  # many small blocks
    monkeypatch.setattr(module, "_MIN_WORKER_BLOCKS", 1)
    monkeypatch.setattr(module.os, "cpu_count", lambda: 4)
    for image, expected in zip(images, one_thread, strict=True):
        for fast in (True, False):
            out = apply_effects(image, {"pixel_sort": params}, seed=2, uint8_fast_path=fast)
            assert np.array_equal(out, expected)


def test_a_passed_deadline_stops_the_workers(
    photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glitchzap.deadline import Deadline
    from glitchzap.effects import pixel_sort as module
    from glitchzap.errors import OperationTimeout

    monkeypatch.setattr(module, "_BLOCK_CELLS", 1 << 12)
    monkeypatch.setattr(module, "_MIN_WORKER_BLOCKS", 1)
    monkeypatch.setattr(module.os, "cpu_count", lambda: 4)
    params = module.PixelSortParams(amount=1)
    with pytest.raises(OperationTimeout):
        module.pixel_sort(photo.copy(), params, np.random.default_rng(0), 1.0, Deadline(0))


@pytest.mark.parametrize(("lines", "length"), [(7, 300), (1, 150_000)])
@pytest.mark.parametrize("reverse", [False, True])
def test_sorted_moves_is_a_stable_sort_of_every_run(lines: int, length: int, reverse: bool) -> None:
    """The packed value sort (and the stable argsort kept for very long lines, whose run ids
    and cells overflow 63 bits) order each run by key, ties in line order."""
    from glitchzap.effects.pixel_sort import PixelSortParams, sorted_moves

    rng = np.random.default_rng(7)
    keys = (rng.integers(0, 64, (lines, length)) / 63).astype(np.float32)  # many ties
    keys[rng.random(keys.shape) < 0.5] = -1  # short runs: many run ids
    keys[:, ::13] = -0.0  # a negative zero sorts as +0.0
    keys[0, 5:9] = -1  # outside: never in a run
    selected = np.ones(lines, bool)
    selected[lines // 2] = lines == 1
    params = PixelSortParams(amount=1, low=0, high=0.9, reverse=reverse)
    dst, src = sorted_moves(keys, selected, params)
    in_run = (keys >= 0) & (keys <= np.float32(0.9)) & selected[:, None]
    assert np.array_equal(dst, np.flatnonzero(in_run))
    starts = in_run.copy()
    starts[:, 1:] &= ~in_run[:, :-1]
    run_ids = np.cumsum(starts.ravel()[dst])
    key = keys.ravel()[dst] + np.float32(0)
    expected = dst[np.lexsort((-key if reverse else key, run_ids))]  # stable: ties in order
    assert np.array_equal(src, expected)


def test_a_strided_buffer_is_sorted_in_place(photo: np.ndarray) -> None:
    from glitchzap.effects.pixel_sort import PixelSortParams, pixel_sort

    params = PixelSortParams(amount=1, low=0.25, high=0.8)
    for dtype in (np.uint8, np.float32):
        expected = pixel_sort(photo.astype(dtype), params, np.random.default_rng(0), 1.0)
        strided = np.asfortranarray(photo.astype(dtype))
        out = pixel_sort(strided, params, np.random.default_rng(0), 1.0)
        assert out is strided
        assert np.array_equal(out, expected)
