"""glitchzap.cache.keys: content-addressed keys that ignore spelling, not meaning."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel

from glitchzap.cache.keys import canonical_params, image_digest, make_key

EFFECTS = {"noise": {"amount": 0.2, "seed": 3}, "blur": {"radius": 2}, "pixelate": {"size": 8}}


def key(params: object, digest: str = "d" * 40, quality: str | None = "balanced") -> str:
    return make_key("render", digest, params, quality)


def test_same_effects_in_another_order_give_the_same_key() -> None:
    reordered = {
        "pixelate": {"size": 8},
        "blur": {"radius": 2},
        "noise": {"seed": 3, "amount": 0.2},
    }
    assert list(reordered) != list(EFFECTS)
    assert key(reordered) == key(EFFECTS)


def test_int_and_equal_float_give_the_same_key() -> None:
    assert key({"radius": 1}) == key({"radius": 1.0})
    assert key({"radius": np.int64(1)}) == key({"radius": np.float32(1.0)})
    assert key({"amount": 0.1 + 0.2}) == key({"amount": 0.3})  # float noise below 1e-9


@pytest.mark.parametrize(
    "other",
    [
        {**EFFECTS, "blur": {"radius": 3}},
        {**EFFECTS, "noise": {"amount": 0.2, "seed": 4}},
        {k: v for k, v in EFFECTS.items() if k != "pixelate"},
        {**EFFECTS, "blur": {"radius": 2, "extra": True}},
        {**EFFECTS, "blur": {"radius": "2"}},  # a string is not a number
    ],
)
def test_different_params_give_different_keys(other: dict) -> None:
    assert key(other) != key(EFFECTS)


def test_large_integers_are_not_merged_by_float_rounding() -> None:
    # 2**53 and 2**53 + 1 are the same float; as seeds they are different results.
    assert key({"seed": 2**53}) != key({"seed": 2**53 + 1})


def test_true_and_one_are_different() -> None:
    assert key({"invert": True}) != key({"invert": 1})
    assert key({"invert": np.True_}) == key({"invert": True})


def test_quality_step_and_digest_are_part_of_the_key() -> None:
    base = key(EFFECTS)
    assert key(EFFECTS, quality="fast") != base
    assert key(EFFECTS, quality=None) != base
    assert key(EFFECTS, digest="e" * 40) != base
    assert make_key("mask", "d" * 40, EFFECTS, "balanced") != base
    assert base.startswith("render:")


def test_pydantic_params_match_their_dict() -> None:
    class BlurParams(BaseModel):
        radius: float = 2

    assert canonical_params(BlurParams()) == canonical_params({"radius": 2})


def test_sets_are_ordered_and_nan_is_stable() -> None:
    assert canonical_params({"channels": {"g", "r", "b"}}) == canonical_params(
        {"channels": {"b", "r", "g"}}
    )
    assert canonical_params({"x": float("nan")}) == canonical_params({"x": float("nan")})


def test_image_digest_follows_pixels(small_rgb: np.ndarray) -> None:
    changed = small_rgb.copy()
    changed[10, 10, 1] ^= 1
    assert image_digest(small_rgb) == image_digest(small_rgb.copy())
    assert image_digest(changed) != image_digest(small_rgb)


def test_image_digest_is_sensitive_to_shape_and_dtype(small_rgb: np.ndarray) -> None:
    flat = small_rgb.reshape(96, 64, 3)  # same bytes, another shape
    assert flat.tobytes() == small_rgb.tobytes()
    assert image_digest(flat) != image_digest(small_rgb)
    as_int8 = small_rgb.view(np.int8)  # same bytes, another dtype
    assert image_digest(as_int8) != image_digest(small_rgb)


def test_image_digest_of_a_view_equals_its_copy(small_rgb: np.ndarray) -> None:
    view = small_rgb[::2, 5:50]  # not contiguous
    assert not view.flags.c_contiguous
    assert image_digest(view) == image_digest(np.ascontiguousarray(view))
