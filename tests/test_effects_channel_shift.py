"""channel_shift (RGB split): each colour channel moved by exactly its offset, alpha kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage import data

from api_fixtures import upload
from glitchzap.effects import parse_effects
from glitchzap.effects.channel_shift import ChannelShiftParams
from glitchzap.io import encode_image
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}
MAGENTA = (255, 0, 255)


@pytest.fixture(scope="module", params=list(PHOTOS))
def photo(request: pytest.FixtureRequest) -> np.ndarray:
    return np.ascontiguousarray(PHOTOS[request.param]())


def clamped(channel: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The reference shift: out[y, x] = channel[clamp(y - dy), clamp(x - dx)]."""
    height, width = channel.shape
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return channel[np.ix_(rows, cols)]


def test_shifting_changes_the_photo(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"channel_shift": {"red_x": 8, "blue_y": -6}})
    assert np.abs(out.astype(int) - photo).mean() > 2


def test_zero_offsets_are_identity(photo: np.ndarray) -> None:
    assert np.array_equal(apply_effects(photo, {"channel_shift": 0}), photo)
    zeros = dict.fromkeys(("red_x", "red_y", "green_x", "green_y", "blue_x", "blue_y"), 0)
    assert parse_effects({"channel_shift": {**zeros, "wrap": True}}) == []


@pytest.mark.parametrize("field", ["red_y", "green_x", "green_y", "blue_x", "blue_y"])
def test_any_nonzero_offset_is_not_identity(field: str) -> None:
    assert not ChannelShiftParams.model_validate({field: 3}).is_identity()


def test_whole_pixel_offsets_move_each_channel_exactly(photo: np.ndarray) -> None:
    offsets = {"red_x": 8, "red_y": -3, "green_x": -5, "green_y": 0, "blue_x": 0, "blue_y": 12}
    out = apply_effects(photo, {"channel_shift": offsets})
    for channel, colour in enumerate(("red", "green", "blue")):
        dx, dy = offsets[f"{colour}_x"], offsets[f"{colour}_y"]
        assert np.array_equal(out[..., channel], clamped(photo[..., channel], dx, dy)), colour


def test_bare_number_shifts_red_right_and_leaves_the_others(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"channel_shift": 8})
    assert np.array_equal(out[:, 8:, 0], photo[:, :-8, 0])
    assert np.array_equal(out[:, :8, 0], np.repeat(photo[:, :1, 0], 8, axis=1))  # edge repeats
    assert np.array_equal(out[..., 1:], photo[..., 1:])


def test_wrap_rolls_the_channel_around(photo: np.ndarray) -> None:
    shift = {"red_x": -20, "blue_x": 7, "blue_y": 450, "wrap": True}
    out = apply_effects(photo, {"channel_shift": shift})
    assert np.array_equal(out[..., 0], np.roll(photo[..., 0], -20, axis=1))
    assert np.array_equal(out[..., 1], photo[..., 1])
    assert np.array_equal(out[..., 2], np.roll(photo[..., 2], (450, 7), axis=(0, 1)))


def test_preview_offsets_scale_with_the_preview() -> None:
    photo = np.ascontiguousarray(data.astronaut())
    half = np.ascontiguousarray(photo[::2, ::2])
    out = apply_effects(half, {"channel_shift": {"red_x": 16, "green_y": -8}}, scale=0.5)
    assert np.array_equal(out[..., 0], clamped(half[..., 0], 8, 0))
    assert np.array_equal(out[..., 1], clamped(half[..., 1], 0, -4))


def test_fractional_offsets_interpolate_between_pixels() -> None:
    photo = np.ascontiguousarray(data.chelsea())
    out = apply_effects(photo, {"channel_shift": {"red_x": 2.5}}).astype(float)
    red = photo[..., 0].astype(float)
    between = (red[:, :-3] + red[:, 1:-2]) / 2  # halfway between x - 3 and x - 2
    assert np.abs(out[:, 3:, 0] - between).max() <= 1.0


def test_alpha_stays_and_hidden_colour_never_shows() -> None:
    photo = np.ascontiguousarray(data.astronaut())
    shift = {"channel_shift": {"red_x": 30, "green_y": -12, "blue_x": -25.5, "blue_y": 9}}
    images = []
    for hidden in (MAGENTA, (0, 0, 0)):
        image = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
        image[:, :200, :3] = hidden
        image[:, :200, 3] = 0
        images.append(apply_effects(image, shift))
    magenta, black = images
    assert np.array_equal(magenta[..., 3], black[..., 3])
    assert (magenta[..., 3] == np.where(np.arange(512) < 200, 0, 255)[None, :]).all()
    visible = magenta[..., 3] > 0
    # What lies under alpha 0 has no say in any visible pixel.
    assert np.array_equal(magenta[visible], black[visible])


@pytest.mark.parametrize("wrap", [False, True])
def test_hostile_maximum_offsets_finish(wrap: bool) -> None:
    photo = np.ascontiguousarray(data.astronaut())
    extreme = {"red_x": 1000, "red_y": -1000, "green_x": -1000, "green_y": 999.5}
    extreme |= {"blue_x": 1000, "blue_y": 1000, "wrap": wrap}
    out = apply_effects(photo, {"channel_shift": extreme})
    assert out.shape == photo.shape
    if not wrap:  # far past the edge: the red channel is the image's bottom-left pixel
        assert (out[..., 0] == photo[-1, 0, 0]).all()
    else:
        expected = np.roll(photo[..., 0], (-1000, 1000), axis=(0, 1))
        assert np.array_equal(out[..., 0], expected)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e12", "-1001"])
def test_api_refuses_hostile_offsets(api_client: Any, value: str) -> None:
    image = np.ascontiguousarray(data.astronaut()[::4, ::4])
    image_id = upload(api_client, encode_image(image, "png"))["image_id"]
    body = f'{{"image_id": "{image_id}", "recipe": {{"effects": {{"channel_shift": '
    body += f'{{"red_x": 3, "blue_y": {value}}}}}}}}}'
    response = api_client.post(
        "/api/render", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameters"
